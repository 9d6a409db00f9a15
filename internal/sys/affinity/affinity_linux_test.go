package affinity

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestPinThread: the thread ends up on the one CPU with the nice value
// asked for, and PinThread returns its id.
func TestPinThread(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for c := range len(allowed) * 64 {
		if allowed.IsSet(c) {
			cpu = c
		}
	}
	type result struct {
		tid, gettid, count, nice int
		onCPU                    bool
		err                      error
	}
	done := make(chan result)
	go func() { // ends locked to its thread, as PinThread requires
		var r result
		r.tid, r.err = PinThread(cpu, 5)
		r.gettid = unix.Gettid()
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil && r.err == nil {
			r.err = err
		}
		r.count, r.onCPU = set.Count(), set.IsSet(cpu)
		prio, err := unix.Getpriority(unix.PRIO_PROCESS, r.tid)
		if err != nil && r.err == nil {
			r.err = err
		}
		r.nice = 20 - prio // the raw syscall returns 20 - nice
		done <- r
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.tid != r.gettid || r.count != 1 || !r.onCPU || r.nice != 5 {
		t.Fatalf("tid %d (gettid %d), %d CPUs (on %d: %v), nice %d; want one CPU, nice 5", r.tid, r.gettid, r.count, cpu, r.onCPU, r.nice)
	}
	errc := make(chan error)
	go func() { _, err := PinThread(-1, 0); errc <- err }()
	if err := <-errc; err == nil {
		t.Fatal("PinThread(-1) succeeded")
	}
}
