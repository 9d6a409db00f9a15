package procs

import (
	"runtime"
	"sync"
	"testing"
)

func TestReserveRelease(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)
	var wg sync.WaitGroup
	releases := make([]func(), 8)
	for i := range releases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			releases[i] = Reserve()
		}()
	}
	wg.Wait()
	if got := runtime.GOMAXPROCS(0); got != base+8 {
		t.Fatalf("GOMAXPROCS after 8 reservations = %d, want %d", got, base+8)
	}
	for _, r := range releases {
		r()
		r() // a second call takes nothing back
	}
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Fatalf("GOMAXPROCS after the releases = %d, want %d", got, base)
	}
	// Never below 1, even if the program lowered it meanwhile.
	r := Reserve()
	runtime.GOMAXPROCS(1)
	r()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("GOMAXPROCS = %d, want 1", got)
	}
}
