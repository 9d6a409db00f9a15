package loopstat

import (
	"sync"
	"testing"
)

func TestCounterPublishes(t *testing.T) {
	var c Counter
	c.Add(3)
	c.Add(4)
	if got := c.Load(); got != 0 {
		t.Fatalf("Load before Publish = %d, want 0", got)
	}
	c.Publish()
	if got := c.Load(); got != 7 {
		t.Fatalf("Load after Publish = %d, want 7", got)
	}
	c.Publish() // unchanged: no store, same value
	if got := c.Load(); got != 7 {
		t.Fatalf("Load after a second Publish = %d, want 7", got)
	}
}

// TestCounterConcurrentReader has one writer adding and publishing while
// readers load: under -race it checks that only the published word is
// shared, and that a reader never sees the count go backwards.
func TestCounterConcurrentReader(t *testing.T) {
	var c Counter
	const batches, perBatch = 2000, 64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := c.Load()
				if v < last || v%perBatch != 0 {
					t.Errorf("Load = %d after %d: want a whole number of batches, never less", v, last)
					return
				}
				last = v
			}
		}()
	}
	for range batches {
		for range perBatch {
			c.Add(1)
		}
		c.Publish()
	}
	close(stop)
	wg.Wait()
	if got := c.Load(); got != batches*perBatch {
		t.Fatalf("Load = %d, want %d", got, batches*perBatch)
	}
}

func BenchmarkCounter(b *testing.B) {
	var c Counter
	for i := 0; b.Loop(); i++ {
		c.Add(1)
		if i&63 == 63 {
			c.Publish()
		}
	}
}
