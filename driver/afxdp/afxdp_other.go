//go:build !linux

package afxdp

import (
	"fmt"
	"runtime"

	"github.com/rxpath/rxpath/driver"
)

// Device is not available off Linux.
type Device struct{}

// Open reports driver.ErrNotSupported: AF_XDP exists only on Linux.
func Open(ifname string, opts Options) (*Device, error) {
	return nil, fmt.Errorf("afxdp on %s: %w", runtime.GOOS, driver.ErrNotSupported)
}

// Close does nothing.
func (d *Device) Close() error { return nil }

// DriverQueues returns nothing.
func (d *Device) DriverQueues() []driver.Queue { return nil }
