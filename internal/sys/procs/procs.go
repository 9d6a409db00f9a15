// Package procs gives back the Go scheduler slot (a P) that a spinning
// thread holds.
//
// A goroutine locked to its thread that spins in Go code (a busy-polling
// receive loop, a traffic generator) never gives up its P: with
// GOMAXPROCS at the CPU count, every spinner leaves one P fewer for the
// rest of the program, so its other goroutines (a ReadBatch reader, the
// tap's writer, the application's handlers) wait for a P until the
// runtime preempts a spinner, about every 10 ms, and the spinner loses
// that time. Measured in rxbench on 2 CPUs (one poller, one generator):
// tap-file at 0.82× the handler row and ReadBatch at 0.87× with
// GOMAXPROCS 2, 1.03–1.14× and 1.02–1.09× with 4. A spinner that reserves
// its slot adds one to GOMAXPROCS while it spins, so the operating system,
// not the Go scheduler, shares the CPUs between it and the other threads.
package procs

import (
	"runtime"
	"sync"
)

var mu sync.Mutex

// Reserve adds one to GOMAXPROCS for a thread that is about to spin, and
// returns the func that takes it back (call it once, when the spinning
// ends). Safe for concurrent use; each call costs the runtime a brief
// stop-the-world, so reserve once per spinning loop, not per pass. A
// GOMAXPROCS the program changed in between is respected: release only
// takes back the one it added, and never goes below 1.
func Reserve() (release func()) {
	mu.Lock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			if n := runtime.GOMAXPROCS(0); n > 1 {
				runtime.GOMAXPROCS(n - 1)
			}
			mu.Unlock()
		})
	}
}
