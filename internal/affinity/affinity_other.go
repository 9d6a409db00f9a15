//go:build !linux

package affinity

import (
	"fmt"
	"runtime"

	"github.com/rxpath/rxpath/driver"
)

// Pin is not supported off Linux.
func Pin(cpu int) error {
	return fmt.Errorf("pin to CPU %d on %s: %w", cpu, runtime.GOOS, driver.ErrNotSupported)
}

// QueueCPUs is not supported off Linux.
func QueueCPUs(iface string, queues []int) ([]int, string, error) {
	return nil, "", fmt.Errorf("queue CPUs on %s: %w", runtime.GOOS, driver.ErrNotSupported)
}

// PinUndo is not supported off Linux.
func PinUndo(cpu int) (func(), error) { return nil, Pin(cpu) }
