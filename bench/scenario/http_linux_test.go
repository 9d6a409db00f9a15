package scenario

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func threadMasks(t *testing.T) map[int]unix.CPUSet {
	t.Helper()
	tids, err := threadIDs()
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]unix.CPUSet{}
	for _, tid := range tids {
		var s unix.CPUSet
		if unix.SchedGetaffinity(tid, &s) == nil {
			m[tid] = s
		}
	}
	return m
}

// TestPinProcess: every thread but those kept goes to the one CPU, threads
// started meanwhile too, and restore gives each its old mask back (the
// process's to those started since). It needs no privilege: a process
// may set its own threads' masks.
func TestPinProcess(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs to tell a pinned thread from one that is not")
	}
	var procMask unix.CPUSet
	if err := unix.SchedGetaffinity(0, &procMask); err != nil {
		t.Fatal(err)
	}
	if procMask.Count() < 2 {
		t.Skipf("this process may run on %d CPU only", procMask.Count())
	}
	// A thread kept out of the pinning.
	kept := make(chan int)
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		kept <- unix.Gettid()
		<-release
	})
	keepTID := <-kept
	defer func() { close(release); wg.Wait() }()

	before := threadMasks(t)
	const cpu = 1
	restore, err := pinProcess(cpu, []int{keepTID})
	if err != nil {
		t.Fatal(err)
	}
	// New threads: goroutines locked to threads and parked, so that the
	// runtime starts others.
	park := make(chan struct{})
	var started sync.WaitGroup
	for range 4 {
		started.Add(1)
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			started.Done()
			<-park
		})
	}
	started.Wait()
	time.Sleep(5 * repin) // the threads started meanwhile are pinned on the next pass
	during := threadMasks(t)
	for tid, m := range during {
		if tid == keepTID {
			if m != procMask {
				t.Errorf("kept thread %d: mask %v, want %v untouched", tid, m, procMask)
			}
			continue
		}
		if m.Count() != 1 || !m.IsSet(cpu) {
			t.Errorf("thread %d: mask %v while pinned, want CPU %d alone", tid, m, cpu)
		}
	}
	restore()
	for tid, m := range threadMasks(t) {
		if _, ok := during[tid]; !ok {
			continue // started after restore: its creator's mask
		}
		want, ok := before[tid]
		if !ok {
			want = procMask
		}
		if m != want {
			t.Errorf("thread %d: mask %v after restore, want %v", tid, m, want)
		}
	}
	close(park)
}
