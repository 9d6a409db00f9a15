package sysstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ReadStat reads /proc/stat.
func ReadStat() (Stat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(bytes.NewReader(b))
}

// ReadSNMP reads the SNMP MIBs of the calling thread's network namespace
// (/proc/thread-self/net/snmp; call it inside lab.InNS for a lab's).
func ReadSNMP() (SNMP, error) {
	b, err := os.ReadFile("/proc/thread-self/net/snmp")
	if err != nil {
		return nil, err
	}
	return ParseSNMP(bytes.NewReader(b))
}

// ReadNetstat reads the extended MIBs (TcpExt, IpExt, ...) of the calling
// thread's network namespace (/proc/thread-self/net/netstat), in the
// format of /proc/net/snmp.
func ReadNetstat() (SNMP, error) {
	b, err := os.ReadFile("/proc/thread-self/net/netstat")
	if err != nil {
		return nil, err
	}
	return ParseSNMP(bytes.NewReader(b))
}

// Gettid returns the calling thread's id (lock the goroutine to its thread
// first for it to mean anything).
func Gettid() int { return unix.Gettid() }

// ThreadCPU returns the CPU time used so far by thread tid of this process,
// read from its thread CPU clock (CLOCK_THREAD_CPUTIME_ID of another
// thread: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)). The thread must be
// alive.
func ThreadCPU(tid int) (time.Duration, error) {
	clk := int32(^uint32(tid)<<3 | 6) // CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED
	var ts unix.Timespec
	if err := unix.ClockGettime(clk, &ts); err != nil {
		return 0, fmt.Errorf("thread %d cpu clock: %w", tid, os.NewSyscallError("clock_gettime", err))
	}
	return time.Duration(ts.Nano()), nil
}

// ProcessCPU returns the user plus system time of the whole process
// (getrusage RUSAGE_SELF).
func ProcessCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, os.NewSyscallError("getrusage", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// ThreadSched reads the scheduler statistics of thread tid of this
// process.
func ThreadSched(tid int) (Sched, error) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/schedstat")
	if err != nil {
		return Sched{}, err
	}
	return ParseSchedstat(string(b))
}
