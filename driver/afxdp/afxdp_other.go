//go:build !linux

package afxdp

import (
	"fmt"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/netdev"
	"github.com/rxpath/rxpath/umem"
)

// Device is not available off Linux; Open always fails.
type Device struct{}

// Queue is not available off Linux.
type Queue struct{}

// Open reports driver.ErrNotSupported: AF_XDP exists only on Linux.
func Open(ifname string, opts Options) (*Device, error) {
	return nil, fmt.Errorf("afxdp on %s: %w", runtime.GOOS, driver.ErrNotSupported)
}

// Close does nothing.
func (d *Device) Close() error { return nil }

// Queues returns nothing.
func (d *Device) Queues() []*Queue { return nil }

// DriverQueues returns nothing.
func (d *Device) DriverQueues() []driver.Queue { return nil }

// Info returns nothing.
func (d *Device) Info() netdev.Info { return netdev.Info{} }

// Attach returns AttachAuto.
func (d *Device) Attach() AttachMode { return AttachAuto }

// ZeroCopy returns false.
func (d *Device) ZeroCopy() bool { return false }

// Fallback returns "".
func (d *Device) Fallback() string { return "" }

// ID returns 0.
func (q *Queue) ID() int { return 0 }

// UMEM returns nil.
func (q *Queue) UMEM() *umem.UMEM { return nil }

// Refill does nothing.
func (q *Queue) Refill() int { return 0 }

// Receive receives nothing.
func (q *Queue) Receive([]driver.Frame) int { return 0 }

// Release does nothing.
func (q *Queue) Release([]driver.Frame) {}

// Wait reports driver.ErrNotSupported.
func (q *Queue) Wait(time.Duration) error { return driver.ErrNotSupported }

// Wake does nothing.
func (q *Queue) Wake() {}

// Transmit sends nothing.
func (q *Queue) Transmit([][]byte) int { return 0 }

// Stats returns zeros.
func (q *Queue) Stats() driver.QueueStats { return driver.QueueStats{} }

// Close does nothing.
func (q *Queue) Close() error { return nil }

// Check does nothing.
func (q *Queue) Check() error { return nil }

// Link returns zeros.
func (d *Device) Link() driver.LinkStats { return driver.LinkStats{} }
