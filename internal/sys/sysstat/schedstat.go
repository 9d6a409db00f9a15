package sysstat

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sched is a thread's scheduler statistics (/proc/PID/task/TID/schedstat):
// how long it ran, how long it waited on a run queue while runnable, and
// how many times it was put on a CPU. A busy-polling thread is always
// runnable, so its Wait is exactly the time other work held its CPU.
type Sched struct {
	Run, Wait time.Duration
	Slices    uint64
}

// ParseSchedstat parses the one line of a schedstat file: "run_ns
// wait_ns timeslices".
func ParseSchedstat(s string) (Sched, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Sched{}, fmt.Errorf("sysstat: schedstat %q: want 3 fields", s)
	}
	var v [3]uint64
	for i := range f {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return Sched{}, fmt.Errorf("sysstat: schedstat %q: %w", s, err)
		}
		v[i] = n
	}
	return Sched{Run: time.Duration(v[0]), Wait: time.Duration(v[1]), Slices: v[2]}, nil
}

// ThreadsCPU returns the CPU time used so far by the threads tids of this
// process, summed (ThreadCPU of each).
func ThreadsCPU(tids []int) (time.Duration, error) {
	var sum time.Duration
	for _, tid := range tids {
		d, err := ThreadCPU(tid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}
