//go:build !linux

package afpacket

import (
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// Device is not available off Linux; Open always fails.
type Device struct{}

// Queue is not available off Linux.
type Queue struct{}

var _ driver.Queue = (*Queue)(nil)

// Open reports driver.ErrNotSupported: AF_PACKET exists only on Linux.
func Open(ifname string, opts Options) (*Device, error) {
	return nil, fmt.Errorf("afpacket on %s: %w", runtime.GOOS, driver.ErrNotSupported)
}

// Close does nothing.
func (d *Device) Close() error { return nil }

// Queues returns nothing.
func (d *Device) Queues() []*Queue { return nil }

// DriverQueues returns nothing.
func (d *Device) DriverQueues() []driver.Queue { return nil }

// Info returns nothing.
func (d *Device) Info() netdev.Info { return netdev.Info{} }

// MAC returns nil.
func (d *Device) MAC() net.HardwareAddr { return nil }

// FanoutGroup returns 0, false.
func (d *Device) FanoutGroup() (id uint16, ok bool) { return 0, false }

// ID returns 0.
func (q *Queue) ID() int { return 0 }

// FD returns -1.
func (q *Queue) FD() int { return -1 }

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

// Check does nothing.
func (q *Queue) Check() error { return nil }

// Close does nothing.
func (q *Queue) Close() error { return nil }

// Link returns zeros.
func (d *Device) Link() driver.LinkStats { return driver.LinkStats{} }
