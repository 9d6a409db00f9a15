package affinity

import (
	"fmt"
	"os"
	"runtime"

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

// PinThread locks the calling goroutine to its OS thread for good, pins
// the thread to cpu, sets its nice value unless nice is 0, and returns the
// thread's id. The goroutine must never unlock: when it ends, the runtime
// ends the thread with it, so the one-CPU mask and the priority never leak
// into the threads that run other goroutines. For threads that live as
// long as their goroutine (a receiver, a sender); a thread that goes back
// to the runtime uses PinUndo.
func PinThread(cpu, nice int) (tid int, err error) {
	runtime.LockOSThread()
	if err := Pin(cpu); err != nil {
		return 0, err
	}
	tid = unix.Gettid()
	if nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
			return 0, fmt.Errorf("nice %d: %w", nice, os.NewSyscallError("setpriority", err))
		}
	}
	return tid, nil
}
