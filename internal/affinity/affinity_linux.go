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

// PinUndo pins the calling OS thread to cpu like Pin and returns a function
// that restores the thread's previous CPU set, to call before the thread
// goes back to the Go runtime (runtime.UnlockOSThread): otherwise whatever
// goroutine runs on it next stays on that one CPU.
func PinUndo(cpu int) (undo func(), err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("pin to CPU %d: %w", cpu, os.NewSyscallError("sched_getaffinity", err))
	}
	if err := Pin(cpu); err != nil {
		return nil, err
	}
	return func() { unix.SchedSetaffinity(0, &old) }, nil
}
