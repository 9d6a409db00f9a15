package poller

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// threadID is the calling OS thread's id.
func threadID() int { return unix.Gettid() }

// setNice sets the calling OS thread's nice value (on Linux, setpriority on
// a thread id changes that thread alone) and returns what restores it.
func setNice(nice int) (undo func(), err error) {
	tid := unix.Gettid()
	old, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return nil, fmt.Errorf("nice %d: %w", nice, os.NewSyscallError("getpriority", err))
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil {
		return nil, fmt.Errorf("nice %d: %w", nice, os.NewSyscallError("setpriority", err))
	}
	// The raw getpriority syscall returns 20 - nice.
	return func() { unix.Setpriority(unix.PRIO_PROCESS, tid, 20-old) }, nil
}

// schedYield gives the CPU to another runnable thread on it, if any: a
// few hundred ns when there is none.
func schedYield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
