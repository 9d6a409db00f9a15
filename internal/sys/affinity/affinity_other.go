//go:build !linux

package affinity

import (
	"errors"
	"fmt"
	"runtime"
)

// Pin is not supported off Linux.
func Pin(cpu int) error {
	return fmt.Errorf("pin to CPU %d on %s: %w", cpu, runtime.GOOS, errors.ErrUnsupported)
}

// QueueCPUs is not supported off Linux.
func QueueCPUs(iface string, queues []int) ([]int, string, error) {
	return nil, "", fmt.Errorf("queue CPUs on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// PinUndo is not supported off Linux.
func PinUndo(cpu int) (func(), error) { return nil, Pin(cpu) }

// PinThread is not supported off Linux.
func PinThread(cpu, nice int) (int, error) { return 0, Pin(cpu) }
