package afxdp

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxpath/rxpath/poller"
)

var _ poller.Claimer = (*Queue)(nil)

// feed runs k on its own goroutine, posting frames as fast as the fill ring
// allows, until the returned stop is called.
func feed(k *memKernel) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if k.deliver(16) == 0 {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}()
	return func() { close(quit); <-done }
}

// Close while a poller runs over the queue, claimed, busy or spinning:
// Close waits for the claim to end, the poller leaves without an error,
// and the ledger balances. Under -race this is the claim's handshake with
// a real loop.
func TestCloseWhilePolling(t *testing.T) {
	for _, tc := range []struct {
		name string
		spin time.Duration
		busy bool
	}{
		{"busy", 0, true},
		{"busy-spinning", -1, true},
		{"idle", 0, false},
		{"idle-spinning", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, k := newMemQueueSocket(t, Options{})
			var frames atomic.Uint64
			// Nothing wakes a sleep when the fake kernel posts
			// frames: with traffic, sleep briefly.
			timeout := time.Hour
			if tc.busy {
				timeout = time.Millisecond
			}
			p := poller.New(q, func(b *poller.Batch) { frames.Add(uint64(len(b.Frames))) },
				poller.Options{IdleSpin: tc.spin, PollTimeout: timeout})
			stop := func() {}
			if tc.busy {
				stop = feed(k)
			}
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for tc.busy && frames.Load() < 10000 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
			start := time.Now()
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the poller did not leave after Close")
			}
			t.Logf("Close took %v; %d frames", time.Since(start), frames.Load())
			stop()
			if err := p.Err(); err != nil {
				t.Fatalf("poller: %v, want nil after Close", err)
			}
			checkMemLedger(t, q, frames.Load())
		})
	}
}

// A handler may close the queue: the poller does not hold its claim while
// the handler runs, so Close does not wait for itself.
func TestCloseFromHandler(t *testing.T) {
	q, k := newMemQueueSocket(t, Options{})
	var frames uint64
	closed := make(chan error, 1)
	p := poller.New(q, func(b *poller.Batch) {
		frames += uint64(len(b.Frames))
		if frames >= 1000 && len(closed) == 0 {
			closed <- q.Close()
		}
	}, poller.Options{})
	for range 20 {
		k.deliver(64)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the poller did not leave after its handler closed the queue")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	checkMemLedger(t, q, frames)
}

// What claimed calls count is published once per round: after Poll the
// queue's counters and ledger are exact.
func TestPollPublishes(t *testing.T) {
	q, k := newMemQueue(t, Options{})
	var kept []poller.Held
	p := poller.New(q, func(b *poller.Batch) {
		if len(kept) < 10 {
			kept = append(kept, b.Hold(0))
		}
	}, poller.Options{})
	total := 0
	for _, n := range []int{1, 4, 64, 300, 0, 1000} {
		k.deliver(n)
		for p.Poll() > 0 {
		}
		total += n
		s := q.Stats()
		if s.RxFrames != uint64(total) || s.RxBytes != 60*uint64(total) {
			t.Fatalf("after %d frames: rx_frames %d, rx_bytes %d", total, s.RxFrames, s.RxBytes)
		}
		b := s.Buffers
		if b.Held != uint64(len(kept)) || b.Free+b.Kernel+b.Held+b.Tx != b.Total {
			t.Fatalf("after %d frames: buffers %+v, want %d held and a sum of %d", total, b, len(kept), b.Total)
		}
		if s.Refilled != b.Kernel+uint64(total) {
			t.Fatalf("refilled %d, want %d in the kernel plus %d received", s.Refilled, b.Kernel, total)
		}
		if err := q.Check(); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range kept {
		h.Release()
	}
	p.Poll()
	if b := q.Stats().Buffers; b.Held != 0 {
		t.Fatalf("held %d after the held frames came back", b.Held)
	}
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
}

// checkMemLedger closes q (again: Close is idempotent) and checks that every
// frame is free, nothing was refused, and the counters saw frames.
func checkMemLedger(t *testing.T, q *Queue, frames uint64) {
	t.Helper()
	q.Close()
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
	s := q.Stats()
	b := s.Buffers
	if b.Free != b.Total || b.BadRelease != 0 || b.Foreign != 0 {
		t.Fatalf("ledger after Close: %+v, want every frame free", b)
	}
	if s.RxFrames != frames {
		t.Fatalf("rx_frames %d, want the %d the handler saw", s.RxFrames, frames)
	}
}
