package rxring

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrent passes a million entries through a 64-slot ring with one
// goroutine on each side: the user side uses the Reserve/Set/Submit or
// Peek/Get/Release API with varying batch sizes and split publishes, the
// kernel side the batch API. Every value must arrive once, in order. Run
// it with -race: it checks that the atomics order the descriptor accesses.
func TestConcurrent(t *testing.T) {
	const (
		size  = 64
		total = 1_000_000
		start = 0xFFFFFF00 // wrap early in the run
	)
	t.Run("fill", func(t *testing.T) {
		t.Parallel()
		concurrentProducer(t, newFillPair(t, size, start), mkAddr, total)
	})
	t.Run("tx", func(t *testing.T) {
		t.Parallel()
		concurrentProducer(t, newTxPair(t, size, start), mkDesc, total)
	})
	t.Run("rx", func(t *testing.T) {
		t.Parallel()
		concurrentConsumer(t, newRxPair(t, size, start), mkDesc, total)
	})
	t.Run("comp", func(t *testing.T) {
		t.Parallel()
		concurrentConsumer(t, newCompPair(t, size, start), mkAddr, total)
	})
}

// timeLimit bounds a spinning side so that a lost entry fails the test
// instead of hanging it.
const timeLimit = 2 * time.Minute

// spin runs step until it returns true, yielding whenever step reports no
// progress. It reports false if it gave up because of stop or the deadline.
func spin(stop *atomic.Bool, deadline time.Time, step func() (progress, done bool)) bool {
	for idle := 0; ; idle++ {
		progress, done := step()
		if done {
			return true
		}
		if progress {
			idle = 0
			continue
		}
		if stop.Load() || idle%1024 == 0 && time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
}

func concurrentProducer[T comparable](t *testing.T, p prodPair[T], mk func(uint64) T, total uint64) {
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		deadline = time.Now().Add(timeLimit)
	)
	wg.Go(func() { // user side
		var sent uint64
		batch := uint32(0)
		ok := spin(&stop, deadline, func() (bool, bool) {
			batch = batch%67 + 1 // sometimes more than the ring holds
			idx, got := p.user.Reserve(uint32(min(uint64(batch), total-sent)))
			for i := range got {
				p.user.Set(idx+i, mk(sent+uint64(i)))
			}
			half := got / 2
			p.user.Submit(half)
			p.user.Submit(got - half)
			sent += uint64(got)
			return got > 0, sent == total
		})
		if !ok {
			stop.Store(true)
			t.Errorf("user side stuck after sending %d of %d", sent, total)
		}
	})
	wg.Go(func() { // kernel side
		var recv uint64
		buf := make([]T, 48)
		ok := spin(&stop, deadline, func() (bool, bool) {
			n := p.kern.Consume(buf)
			for i, v := range buf[:n] {
				if want := mk(recv + uint64(i)); v != want {
					stop.Store(true)
					t.Errorf("entry %d = %v, want %v", recv+uint64(i), v, want)
					return false, true
				}
			}
			recv += uint64(n)
			return n > 0, recv == total
		})
		if !ok {
			stop.Store(true)
			t.Errorf("kernel side stuck after receiving %d of %d", recv, total)
		}
	})
	wg.Wait()
	if n := p.user.Pending(); n != 0 && !t.Failed() {
		t.Errorf("Pending() = %d after the run, want 0", n)
	}
}

func concurrentConsumer[T comparable](t *testing.T, p consPair[T], mk func(uint64) T, total uint64) {
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		deadline = time.Now().Add(timeLimit)
	)
	wg.Go(func() { // kernel side
		var sent uint64
		buf := make([]T, 48)
		ok := spin(&stop, deadline, func() (bool, bool) {
			b := buf[:min(uint64(len(buf)), total-sent)]
			for i := range b {
				b[i] = mk(sent + uint64(i))
			}
			n := p.kern.Produce(b)
			sent += uint64(n)
			return n > 0, sent == total
		})
		if !ok {
			stop.Store(true)
			t.Errorf("kernel side stuck after sending %d of %d", sent, total)
		}
	})
	wg.Go(func() { // user side
		var recv uint64
		batch := uint32(0)
		ok := spin(&stop, deadline, func() (bool, bool) {
			batch = batch%67 + 1
			idx, got := p.user.Peek(batch)
			for i := range got {
				if v, want := p.user.Get(idx+i), mk(recv+uint64(i)); v != want {
					stop.Store(true)
					t.Errorf("entry %d = %v, want %v", recv+uint64(i), v, want)
					return false, true
				}
			}
			half := got / 2
			p.user.Release(half)
			p.user.Release(got - half)
			recv += uint64(got)
			return got > 0, recv == total
		})
		if !ok {
			stop.Store(true)
			t.Errorf("user side stuck after receiving %d of %d", recv, total)
		}
	})
	wg.Wait()
	if n := p.user.Pending(); n != 0 && !t.Failed() {
		t.Errorf("Pending() = %d after the run, want 0", n)
	}
}
