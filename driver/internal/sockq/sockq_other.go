//go:build !linux

package sockq

import (
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// Unsupported is the error a socket driver's Open returns off Linux: it
// wraps driver.ErrNotSupported.
func Unsupported(name string) error {
	return fmt.Errorf("%s on %s: %w", name, runtime.GOOS, driver.ErrNotSupported)
}

// UnsupportedQueue is the Queue of a socket driver off Linux, where Open
// always fails: every driver.Queue method does nothing, and Wait reports
// driver.ErrNotSupported.
type UnsupportedQueue struct{}

var _ driver.Queue = UnsupportedQueue{}

// ID returns 0.
func (UnsupportedQueue) ID() int { return 0 }

// FD returns -1.
func (UnsupportedQueue) FD() int { return -1 }

// Refill does nothing.
func (UnsupportedQueue) Refill() int { return 0 }

// Receive receives nothing.
func (UnsupportedQueue) Receive([]driver.Frame) int { return 0 }

// Release does nothing.
func (UnsupportedQueue) Release([]driver.Frame) {}

// Wait reports driver.ErrNotSupported.
func (UnsupportedQueue) Wait(time.Duration) error { return driver.ErrNotSupported }

// Wake does nothing.
func (UnsupportedQueue) Wake() {}

// Transmit sends nothing.
func (UnsupportedQueue) Transmit([][]byte) int { return 0 }

// Stats returns zeros.
func (UnsupportedQueue) Stats() driver.QueueStats { return driver.QueueStats{} }

// Check does nothing.
func (UnsupportedQueue) Check() error { return nil }

// Close does nothing.
func (UnsupportedQueue) Close() error { return nil }

// UnsupportedDevice is the Device of a socket driver off Linux, whose
// queues are Q: it has no queues and no interface.
type UnsupportedDevice[Q any] struct{}

// Close does nothing.
func (UnsupportedDevice[Q]) Close() error { return nil }

// Queues returns nothing.
func (UnsupportedDevice[Q]) Queues() []Q { return nil }

// DriverQueues returns nothing.
func (UnsupportedDevice[Q]) DriverQueues() []driver.Queue { return nil }

// Info returns nothing.
func (UnsupportedDevice[Q]) Info() netdev.Info { return netdev.Info{} }

// MAC returns nil.
func (UnsupportedDevice[Q]) MAC() net.HardwareAddr { return nil }

// Link returns zeros.
func (UnsupportedDevice[Q]) Link() driver.LinkStats { return driver.LinkStats{} }
