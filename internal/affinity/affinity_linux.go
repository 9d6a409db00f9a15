package affinity

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pin binds the calling OS thread to cpu. Lock the goroutine to its thread
// first (runtime.LockOSThread).
func Pin(cpu int) error {
	var set unix.CPUSet
	if cpu < 0 || cpu >= len(set)*64 {
		return fmt.Errorf("pin to CPU %d: out of range", cpu)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, os.NewSyscallError("sched_setaffinity", err))
	}
	return nil
}
