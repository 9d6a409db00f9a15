package tap

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// A queue's state word says who owns its buffer in hand (cur) and the
// fields next to it: the poller while a batch is open, the writer while
// it takes the buffer of an idle queue, nobody once the tap is closed.
const (
	stIdle   uint32 = iota // between batches: the writer may take cur
	stBatch                // a batch is open: the poller owns cur
	stWriter               // the writer is taking cur
	stClosed               // Close took cur; Capture drops
)

// buffer is one capture buffer: whole records of one receive queue, in
// capture order. It belongs to the queue's free list, the queue's poller
// (as cur), the full channel or the writer, one at a time.
type buffer struct {
	b     []byte // encoded records; cap is Options.BufferSize
	recs  int    // records in b
	seq   uint64 // the queue's buffer number, from 1, in fill order
	first int64  // Clock of the batch that wrote the first record, Unix ns
	q     *queueState
}

// counters are one queue's capture counters.
type counters struct {
	seen, filtered, queued, dropped, truncated uint64
}

// queueState is one receive queue's side of the tap: its buffers, its
// counters and the state word that hands its buffer in hand over.
type queueState struct {
	queue int32

	// Shared by the poller and the writer.
	state  atomic.Uint32
	want   atomic.Bool   // the writer asks for cur at the next EndBatch
	inHand atomic.Uint64 // seq of cur while it holds records; 0: none
	handed atomic.Uint64 // seq of the last buffer that left the poller
	free   freeList      // buffers ready to fill
	pub    struct {      // counters as of the last EndBatch or hand-off
		seen, filtered, queued, dropped, truncated atomic.Uint64
	}

	// Owned by the writer goroutine.
	written uint64 // seq of the last buffer written
	tickSeq uint64 // inHand at the writer's previous tick

	_ [64]byte // the poller's fields get their own cache lines

	// Owned by whoever holds state: the poller in stBatch, the writer
	// in stWriter or stClosed.
	cur *buffer
	seq uint64 // the last seq given to a buffer

	// Owned by the queue's poller: touched by Capture and EndBatch only.
	open    bool   // a batch is open: the poller holds stBatch
	stamped bool   // ts is this batch's
	ts      int64  // the batch's timestamp, Unix ns
	tsSec   uint32 // pcap's split of ts
	tsNsec  uint32
	c       counters
}

// newQueue makes queue's state and buffers, once: nil if the tap is
// closed.
func (t *Tap) newQueue(queue int) *queueState {
	t.mu.Lock()
	defer t.mu.Unlock()
	if q := t.queues[queue].Load(); q != nil {
		return q
	}
	if t.closed.Load() {
		return nil
	}
	q := &queueState{queue: int32(queue)}
	q.free.bufs = make([]*buffer, 0, t.opts.Buffers)
	for range t.opts.Buffers {
		q.free.push(&buffer{b: make([]byte, 0, t.opts.BufferSize), q: q})
	}
	t.list = append(t.list[:len(t.list):len(t.list)], q)
	t.queues[queue].Store(q)
	return q
}

// Capture offers one received frame, from receive queue queue, to the tap.
// It runs Options.Expr's program, then encodes the record (the batch's
// timestamp and up to the snap length of the frame) into the queue's
// current buffer and returns true. It returns false, counting why, when
// the program rejects the frame or the queue has no free buffer: it never
// waits for the writer, never allocates once the queue's buffers exist
// (the queue's first Capture makes them) and does not retain frame.
//
// The first frame the expression passes after an EndBatch opens the
// queue's batch, and the first one encoded reads Options.Clock: every
// frame captured until the next EndBatch(queue) shares that timestamp.
// The caller, the queue's poller, must call EndBatch after each batch,
// and must not call Capture or EndBatch for the same queue from two
// goroutines at once.
func (t *Tap) Capture(frame []byte, queue int) bool {
	if uint(queue) >= MaxQueues {
		t.turnAway()
		return false
	}
	q := t.queues[queue].Load()
	if q == nil {
		if q = t.newQueue(queue); q == nil {
			t.turnAway()
			return false
		}
	}
	q.c.seen++
	if t.vm != nil {
		if n, err := t.vm.Run(frame); err != nil || n == 0 {
			q.c.filtered++
			return false
		}
	}
	if !q.open && !t.openBatch(q) {
		q.c.dropped++
		q.publish() // now: no EndBatch may come after Close
		return false
	}
	n := min(len(frame), t.snaplen)
	size := t.recordLen(n)
	b := q.cur
	if b == nil || len(b.b)+size > cap(b.b) {
		if b = t.nextBuffer(q); b == nil {
			q.c.dropped++
			return false
		}
	}
	if !q.stamped {
		t.stamp(q) // once per batch, and not for a batch dropped whole
	}
	if b.recs == 0 {
		b.first = q.ts
	}
	off := len(b.b)
	b.b = b.b[:off+size]
	r := b.b[off:]
	if t.ng {
		// An enhanced packet block. The interface id stays 0 here: the
		// writer sets it to the queue's interface in the file it goes to.
		le.PutUint32(r[0:], ngBlockEPB)
		le.PutUint32(r[4:], uint32(size))
		le.PutUint32(r[8:], 0)
		le.PutUint32(r[12:], uint32(uint64(q.ts)>>32))
		le.PutUint32(r[16:], uint32(q.ts))
		le.PutUint32(r[20:], uint32(n))
		le.PutUint32(r[24:], uint32(len(frame)))
		copy(r[28:], frame[:n])
		clear(r[28+n : size-4]) // padding: the buffer is reused
		le.PutUint32(r[size-4:], uint32(size))
	} else {
		le.PutUint32(r[0:], q.tsSec)
		le.PutUint32(r[4:], q.tsNsec)
		le.PutUint32(r[8:], uint32(n))
		le.PutUint32(r[12:], uint32(len(frame)))
		copy(r[16:], frame[:n])
	}
	b.recs++
	if n < len(frame) {
		q.c.truncated++
	}
	q.c.queued++
	return true
}

var le = binary.LittleEndian

const (
	pcapRecordHeader = 16
	ngEPBOverhead    = 32 // block header 28, trailer 4
	ngBlockEPB       = 6
)

// recordLen is the encoded size of a record keeping n bytes of a frame.
func (t *Tap) recordLen(n int) int {
	if t.ng {
		return ngEPBOverhead + (n+3)&^3
	}
	return pcapRecordHeader + n
}

// recordAt returns the length of the record at the start of p.
func (t *Tap) recordAt(p []byte) int {
	if t.ng {
		return int(le.Uint32(p[4:]))
	}
	return pcapRecordHeader + int(le.Uint32(p[8:]))
}

// openBatch opens a batch on q for its first frame that passed the
// capture expression: it takes q's buffer in hand. It returns false when
// the tap is closed or the writer is taking q's buffer this very moment.
func (t *Tap) openBatch(q *queueState) bool {
	if !q.state.CompareAndSwap(stIdle, stBatch) {
		return false
	}
	q.open, q.stamped = true, false
	return true
}

// stamp takes the batch's timestamp.
func (t *Tap) stamp(q *queueState) {
	now := t.clock()
	q.ts = now.UnixNano()
	q.tsSec, q.tsNsec = uint32(now.Unix()), uint32(now.Nanosecond())
	q.stamped = true
}

// turnAway counts a frame of a queue the tap has no state for.
func (t *Tap) turnAway() {
	t.off.seen.Add(1)
	t.off.dropped.Add(1)
}

// nextBuffer hands q's full buffer to the writer and takes a free one,
// or returns nil when the writer has them all.
func (t *Tap) nextBuffer(q *queueState) *buffer {
	if q.cur != nil {
		t.handOff(q)
	}
	b := q.free.pop()
	if b == nil {
		return nil
	}
	q.seq++
	b.seq = q.seq
	q.cur = b
	q.inHand.Store(b.seq)
	// Wake the writer, if its timer sleeps, so that it comes for the
	// buffer if no EndBatch hands it off in time. Against the writer's
	// stop (ticking false, then inHand): one of the two sees the other.
	if !t.ticking.Load() {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
	return b
}

// handOff sends q's buffer in hand to the writer.
func (t *Tap) handOff(q *queueState) {
	b := q.cur
	q.cur = nil
	q.publish() // before the writer can count the buffer's records
	q.handed.Store(b.seq)
	q.inHand.Store(0)
	// Never blocks: full has room for every buffer of every queue.
	t.full <- b
}

// freeList is a queue's free buffers, last in first out: the buffer the
// writer gave back last is the one filled next. While the writer keeps
// up, the poller cycles through two or three buffers whose lines are
// still in its cache rather than through all of them (16 × 256 KiB, more
// than a core's L2), which in a FIFO order it would fetch from memory.
type freeList struct {
	n    atomic.Int32 // len(bufs), read without the lock
	mu   sync.Mutex
	bufs []*buffer // cap: the queue's buffers, so push never allocates
}

// push gives b back. Never blocks for long: the lock guards a slice
// append, taken once per buffer.
func (f *freeList) push(b *buffer) {
	f.mu.Lock()
	f.bufs = append(f.bufs, b)
	f.n.Store(int32(len(f.bufs)))
	f.mu.Unlock()
}

// pop takes the buffer given back last, or returns nil when there is
// none. An empty list costs one load: the cheap way to drop while the
// writer is behind.
func (f *freeList) pop() *buffer {
	if f.n.Load() == 0 {
		return nil
	}
	f.mu.Lock()
	var b *buffer
	if n := len(f.bufs); n > 0 {
		b = f.bufs[n-1]
		f.bufs[n-1] = nil
		f.bufs = f.bufs[:n-1]
		f.n.Store(int32(n - 1))
	}
	f.mu.Unlock()
	return b
}

// publish makes the poller's counters visible to Stats.
func (q *queueState) publish() {
	p := &q.pub
	storeNew(&p.seen, q.c.seen)
	storeNew(&p.filtered, q.c.filtered)
	storeNew(&p.queued, q.c.queued)
	storeNew(&p.dropped, q.c.dropped)
	storeNew(&p.truncated, q.c.truncated)
}

// storeNew stores v in a unless a holds it already: a load is a plain
// read, a store is a locked instruction on amd64.
func storeNew(a *atomic.Uint64, v uint64) {
	if a.Load() != v {
		a.Store(v)
	}
}

// EndBatch ends queue's batch: the next captured frame takes a new
// timestamp. It publishes the queue's counters and hands the queue's
// buffer to the writer if its first record is Options.FlushInterval old
// or the writer asked for it (Flush, Close). Like Capture it never blocks;
// the queue's poller calls it once after offering a batch's frames, as the
// root package's tap stage does.
func (t *Tap) EndBatch(queue int) {
	if uint(queue) >= MaxQueues {
		return
	}
	q := t.queues[queue].Load()
	if q == nil {
		return
	}
	if !q.open {
		q.publish() // a batch the expression rejected whole
		return
	}
	q.open = false
	if b := q.cur; b != nil && (q.ts-b.first >= t.interval || q.want.Load()) {
		t.handOff(q)
		q.want.Store(false)
	} else {
		q.publish()
	}
	q.state.Store(stIdle)
}
