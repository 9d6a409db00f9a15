//go:build !linux

package afpacket

import "github.com/rxpath/rxpath/driver/internal/sockq"

// Device is not available off Linux; Open always fails.
type Device struct {
	sockq.UnsupportedDevice[*Queue]
}

// Queue is not available off Linux.
type Queue struct{ sockq.UnsupportedQueue }

// Open reports driver.ErrNotSupported: AF_PACKET exists only on Linux.
func Open(ifname string, opts Options) (*Device, error) { return nil, sockq.Unsupported("afpacket") }

// FanoutGroup returns 0, false.
func (d *Device) FanoutGroup() (id uint16, ok bool) { return 0, false }
