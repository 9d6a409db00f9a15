//go:build !linux

package traffic

import (
	"errors"
	"net"
	"runtime"
)

// ForceRcvBuf reports that SO_RCVBUFFORCE needs Linux.
func ForceRcvBuf(c *net.UDPConn, n int) error {
	return errors.New("kernel socket: SO_RCVBUFFORCE is not supported on " + runtime.GOOS)
}

// KernelReceiver is not available off Linux.
type KernelReceiver struct{}

// NewKernelReceiver reports that the pinned recvmmsg readers need Linux.
// It closes c, as the Linux one does when it fails.
func NewKernelReceiver(c *net.UDPConn, o KernelOptions) (*KernelReceiver, error) {
	c.Close()
	return nil, errors.New("kernel receiver: not supported on " + runtime.GOOS)
}

// Received returns 0.
func (r *KernelReceiver) Received() uint64 { return 0 }

// IdlePasses returns 0.
func (r *KernelReceiver) IdlePasses() uint64 { return 0 }

// Threads returns nil.
func (r *KernelReceiver) Threads() []int { return nil }

// Close does nothing.
func (r *KernelReceiver) Close() error { return nil }
