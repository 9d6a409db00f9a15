package channel

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/driver"
)

var _ driver.Queue = (*Queue)(nil)

// Queue is an in-memory receive queue. Inject and Transmit are safe for
// concurrent use; the receive side follows the driver.Queue contract.
type Queue struct {
	id int

	mu      sync.Mutex
	pending [][]byte // injected, not yet received
	out     [][]byte // handed out by Receive, indexed by handle
	held    []bool
	free    []uint64 // free handles
	closed  bool

	notify    chan struct{}
	tx        chan []byte
	discardTx atomic.Bool

	injected, dropped, rx, released, badRelease, txFrames, txDropped atomic.Uint64
}

// New returns a queue that holds at most capacity injected frames and
// txCapacity transmitted frames not yet read.
func New(id, capacity, txCapacity int) *Queue {
	q := &Queue{
		id:     id,
		out:    make([][]byte, capacity),
		held:   make([]bool, capacity),
		notify: make(chan struct{}, 1),
		tx:     make(chan []byte, txCapacity),
	}
	for i := capacity - 1; i >= 0; i-- {
		q.free = append(q.free, uint64(i))
	}
	return q
}

// Inject queues a copy of frame for the stack, as if it had arrived on the
// wire. It returns false (and counts a drop) when the queue is full.
func (q *Queue) Inject(frame []byte) bool {
	q.mu.Lock()
	if q.closed || len(q.pending)+q.heldLocked() >= len(q.out) {
		q.mu.Unlock()
		q.dropped.Add(1)
		return false
	}
	q.pending = append(q.pending, append([]byte(nil), frame...))
	q.mu.Unlock()
	q.injected.Add(1)
	q.Wake()
	return true
}

func (q *Queue) heldLocked() int { return len(q.out) - len(q.free) }

// DiscardTx makes Transmit count frames and drop them without copying,
// for allocation measurements of the layers above.
func (q *Queue) DiscardTx(on bool) { q.discardTx.Store(on) }

// Outbound delivers the frames the stack transmitted.
func (q *Queue) Outbound() <-chan []byte { return q.tx }

// ReadOutbound waits up to timeout for a transmitted frame.
func (q *Queue) ReadOutbound(timeout time.Duration) ([]byte, bool) {
	select {
	case f := <-q.tx:
		return f, true
	case <-time.After(timeout):
		return nil, false
	}
}

// ID returns the queue index.
func (q *Queue) ID() int { return q.id }

// Refill does nothing: buffers come back on Release.
func (q *Queue) Refill() int { return 0 }

// Receive hands out injected frames.
func (q *Queue) Receive(frames []driver.Frame) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(frames) && len(q.pending) > 0 && len(q.free) > 0 {
		h := q.free[len(q.free)-1]
		q.free = q.free[:len(q.free)-1]
		q.out[h] = q.pending[0]
		q.held[h] = true
		q.pending[0] = nil
		q.pending = q.pending[1:]
		frames[n] = driver.Frame{Data: q.out[h], Handle: h}
		n++
	}
	q.rx.Add(uint64(n))
	return n
}

// Release returns frames.
func (q *Queue) Release(frames []driver.Frame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range frames {
		if f.Handle >= uint64(len(q.held)) || !q.held[f.Handle] {
			q.badRelease.Add(1)
			continue
		}
		q.held[f.Handle] = false
		q.out[f.Handle] = nil
		q.free = append(q.free, f.Handle)
		q.released.Add(1)
	}
}

// Wait sleeps until a frame is injected, Wake, Close or timeout.
func (q *Queue) Wait(timeout time.Duration) error {
	q.mu.Lock()
	closed, ready := q.closed, len(q.pending) > 0
	q.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	if ready {
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-q.notify:
	case <-t.C:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return net.ErrClosed
	}
	return nil
}

// Wake makes Wait return.
func (q *Queue) Wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Transmit copies frames to the outbound channel; frames that do not fit
// are counted as dropped but still taken, as a wire would lose them.
func (q *Queue) Transmit(frames [][]byte) int {
	if q.discardTx.Load() {
		q.txFrames.Add(uint64(len(frames)))
		return len(frames)
	}
	for _, f := range frames {
		select {
		case q.tx <- append([]byte(nil), f...):
			q.txFrames.Add(1)
		default:
			q.txDropped.Add(1)
		}
	}
	return len(frames)
}

// Stats returns the counters.
func (q *Queue) Stats() driver.QueueStats {
	q.mu.Lock()
	held := uint64(q.heldLocked())
	total := uint64(len(q.out))
	q.mu.Unlock()
	return driver.QueueStats{
		Queue:      q.id,
		RxFrames:   q.rx.Load(),
		TxFrames:   q.txFrames.Load(),
		TxRingFull: q.txDropped.Load(),
		Kernel:     driver.KernelStats{RxDropped: q.dropped.Load()},
		Buffers:    driver.Buffers{Unit: "slot", Total: total, Free: total - held, Held: held, BadRelease: q.badRelease.Load()},
	}
}

// Check verifies that every received frame was released.
func (q *Queue) Check() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if h := q.heldLocked(); h != 0 {
		return fmt.Errorf("channel queue: %d frames still held", h)
	}
	return nil
}

// Close makes Wait return net.ErrClosed. It is idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.Wake()
	return nil
}
