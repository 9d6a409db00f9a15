package poller

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxpath/rxpath/driver"
)

// fakeQueue is an in-memory driver.Queue: frames are slots of a fixed
// array, and the test plays the device by calling push.
type fakeQueue struct {
	mu       sync.Mutex
	bufs     [][]byte
	owned    []bool // true while handed out by Receive
	pending  []uint64
	released atomic.Uint64
	bad      atomic.Uint64
	wake     chan struct{}
	closed   atomic.Bool
}

func newFakeQueue(n int) *fakeQueue {
	q := &fakeQueue{bufs: make([][]byte, n), owned: make([]bool, n), wake: make(chan struct{}, 1)}
	for i := range q.bufs {
		q.bufs[i] = make([]byte, 64)
	}
	return q
}

func (q *fakeQueue) push(seq byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.owned {
		if !q.owned[i] && !q.inPending(uint64(i)) {
			q.bufs[i][0] = seq
			q.pending = append(q.pending, uint64(i))
			select {
			case q.wake <- struct{}{}:
			default:
			}
			return true
		}
	}
	return false
}

func (q *fakeQueue) inPending(h uint64) bool {
	for _, p := range q.pending {
		if p == h {
			return true
		}
	}
	return false
}

func (q *fakeQueue) ID() int     { return 7 }
func (q *fakeQueue) Refill() int { return 0 }
func (q *fakeQueue) Receive(frames []driver.Frame) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(frames), len(q.pending))
	for i := 0; i < n; i++ {
		h := q.pending[i]
		q.owned[h] = true
		frames[i] = driver.Frame{Data: q.bufs[h], Handle: h}
	}
	q.pending = append(q.pending[:0], q.pending[n:]...)
	return n
}
func (q *fakeQueue) Release(frames []driver.Frame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range frames {
		if !q.owned[f.Handle] {
			q.bad.Add(1)
			continue
		}
		q.owned[f.Handle] = false
		q.released.Add(1)
	}
}
func (q *fakeQueue) Wait(timeout time.Duration) error {
	if q.closed.Load() {
		return net.ErrClosed
	}
	select {
	case <-q.wake:
	case <-time.After(timeout):
	}
	if q.closed.Load() {
		return net.ErrClosed
	}
	return nil
}
func (q *fakeQueue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
func (q *fakeQueue) Transmit([][]byte) int    { return 0 }
func (q *fakeQueue) Stats() driver.QueueStats { return driver.QueueStats{Queue: 7} }
func (q *fakeQueue) Close() error             { q.closed.Store(true); q.Wake(); return nil }
func (q *fakeQueue) Check() error             { return nil }

func TestPollBudgetAndWeight(t *testing.T) {
	q := newFakeQueue(1000)
	var batches []int
	p := New(q, func(b *Batch) { batches = append(batches, len(b.Frames)) }, Options{Weight: 64, Budget: 300})
	for i := 0; i < 700; i++ {
		q.push(byte(i))
	}
	if n := p.Poll(); n != 300 {
		t.Fatalf("first round processed %d, want the budget 300", n)
	}
	for _, b := range batches {
		if b > 64 {
			t.Fatalf("batch of %d exceeds weight 64", b)
		}
	}
	p.Poll()
	p.Poll()
	if n := p.Poll(); n != 0 {
		t.Fatalf("fourth round processed %d, want 0", n)
	}
	s := p.Stats()
	if s.Processed != 700 || s.TimeSqueeze != 2 || s.BusyPasses != 3 || s.IdlePasses != 1 {
		t.Fatalf("stats %+v", s)
	}
	if q.released.Load() != 700 || q.bad.Load() != 0 {
		t.Fatalf("released %d (bad %d), want 700", q.released.Load(), q.bad.Load())
	}
}

func TestTimeLimitSqueeze(t *testing.T) {
	q := newFakeQueue(1000)
	p := New(q, func(b *Batch) { time.Sleep(2 * time.Millisecond) }, Options{Weight: 8, Budget: 300, TimeLimit: time.Millisecond})
	for i := 0; i < 100; i++ {
		q.push(1)
	}
	if n := p.Poll(); n != 8 {
		t.Fatalf("round processed %d, want one batch of 8 before the time limit", n)
	}
	if s := p.Stats(); s.TimeSqueeze != 1 {
		t.Fatalf("time_squeeze = %d, want 1", s.TimeSqueeze)
	}
}

func TestHoldRelease(t *testing.T) {
	q := newFakeQueue(16)
	var held []Held
	p := New(q, func(b *Batch) {
		for i := range b.Frames {
			if b.Frames[i].Data[0]%2 == 0 {
				held = append(held, b.Hold(i))
			}
		}
	}, Options{})
	for i := 0; i < 10; i++ {
		q.push(byte(i))
	}
	p.Poll()
	if got := q.released.Load(); got != 5 {
		t.Fatalf("released %d after the batch, want the 5 not held", got)
	}
	for _, h := range held {
		if h.Data()[0]%2 != 0 {
			t.Fatal("held frame changed")
		}
	}
	var wg sync.WaitGroup
	for _, h := range held {
		wg.Add(1)
		go func() { defer wg.Done(); h.Release() }()
	}
	wg.Wait()
	if got := q.released.Load(); got != 10 || q.bad.Load() != 0 {
		t.Fatalf("released %d (bad %d), want 10", got, q.bad.Load())
	}
}

func TestRunStopAndWake(t *testing.T) {
	q := newFakeQueue(64)
	var got atomic.Uint64
	p := New(q, func(b *Batch) { got.Add(uint64(len(b.Frames))) }, Options{IdleSpin: time.Microsecond, PollTimeout: time.Hour})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != ErrRunning {
		t.Fatalf("second Start: %v, want ErrRunning", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < 50; i++ {
		for !q.push(byte(i)) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(200 * time.Microsecond) // let it fall asleep sometimes
	}
	for got.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got.Load() != 50 {
		t.Fatalf("handler saw %d frames, want 50", got.Load())
	}
	// Stop must interrupt a one-hour poll at once.
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Stop did not wake the sleeping poller")
	}
	s := p.Stats()
	if s.Polls == 0 || s.Wakeups == 0 {
		t.Fatalf("expected the idle path to sleep and wake: %+v", s)
	}
	if s.BusyNS == 0 {
		t.Fatalf("50 frames handled in no busy time: %+v", s)
	}
}

func TestCloseEndsRun(t *testing.T) {
	q := newFakeQueue(4)
	p := New(q, func(*Batch) {}, Options{IdleSpin: time.Microsecond, PollTimeout: time.Hour})
	done := make(chan error)
	go func() { done <- p.Run() }()
	time.Sleep(10 * time.Millisecond)
	q.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after Close: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the queue closed")
	}
}

func TestPollZeroAllocs(t *testing.T) {
	q := newFakeQueue(256)
	var sum int
	p := New(q, func(b *Batch) {
		for _, f := range b.Frames {
			sum += int(f.Data[0])
		}
	}, Options{})
	allocs := testing.AllocsPerRun(200, func() {
		q.mu.Lock()
		for i := 0; i < 64; i++ {
			q.pending = append(q.pending, uint64(i))
		}
		q.mu.Unlock()
		p.Poll()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round, want 0", allocs)
	}
}

func BenchmarkPoll(b *testing.B) {
	q := newFakeQueue(256)
	p := New(q, func(*Batch) {}, Options{})
	b.ReportAllocs()
	for b.Loop() {
		q.mu.Lock()
		for i := 0; i < 64; i++ {
			q.pending = append(q.pending, uint64(i))
		}
		q.mu.Unlock()
		p.Poll()
	}
}

// TestIdleSpinYields: a loop that spins without work (and never sleeps)
// offers its CPU to other threads (sched_yield) and counts it, and still
// receives a frame that comes after.
func TestIdleSpinYields(t *testing.T) {
	q := newFakeQueue(8)
	var got atomic.Uint64
	p := New(q, func(b *Batch) { got.Add(uint64(len(b.Frames))) }, Options{IdleSpin: -1, PollTimeout: time.Hour})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Yields == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s := p.Stats()
	if s.Yields == 0 || s.Polls != 0 {
		t.Fatalf("a never-sleeping loop without work: %d yields, %d polls; want some yields and no sleep", s.Yields, s.Polls)
	}
	// It still receives at once.
	q.push(1)
	for got.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got.Load() != 1 {
		t.Fatalf("handler saw %d frames after the yields, want 1", got.Load())
	}
}
