//go:build !linux

package afxdp

import (
	"time"

	"github.com/rxpath/rxpath/driver/internal/sockq"
	"github.com/rxpath/rxpath/umem"
)

// Device is not available off Linux; Open always fails.
type Device struct {
	sockq.UnsupportedDevice[*Queue]
}

// Queue is not available off Linux.
type Queue struct{ sockq.UnsupportedQueue }

// Open reports driver.ErrNotSupported: AF_XDP exists only on Linux.
func Open(ifname string, opts Options) (*Device, error) { return nil, sockq.Unsupported("afxdp") }

// Attach returns AttachAuto.
func (d *Device) Attach() AttachMode { return AttachAuto }

// ZeroCopy returns false.
func (d *Device) ZeroCopy() bool { return false }

// Fallback returns "".
func (d *Device) Fallback() string { return "" }

// ZeroCopy returns false.
func (q *Queue) ZeroCopy() bool { return false }

// UMEM returns nil.
func (q *Queue) UMEM() *umem.UMEM { return nil }

// Triage returns false: there is no XDP off Linux.
func (d *Device) Triage() (on bool, refused string) { return false, "" }

// TriageStats returns ok false.
func (d *Device) TriageStats() (TriageStats, bool, error) { return TriageStats{}, false, nil }

// SetUDPPort does nothing.
func (d *Device) SetUDPPort(port uint16, open bool) error { return nil }

// ReadDropSample returns ErrNoSamples.
func (d *Device) ReadDropSample(timeout time.Duration) (DropSample, error) {
	return DropSample{}, ErrNoSamples
}
