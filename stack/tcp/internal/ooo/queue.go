package ooo

import (
	"sync"

	"github.com/google/btree"

	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

const (
	// RangeOverhead is what each held range costs against the limit on top
	// of its payload: the range's bookkeeping and a share of the tree, so
	// that a peer scattering one-byte segments cannot pin more memory than
	// the limit suggests.
	RangeOverhead = 64

	// MaxWindow is how far beyond rcvNxt the queue accepts data: the largest
	// window TCP can advertise (65535 << 14, RFC 7323, rounded up). Bytes
	// beyond it are dropped. Everything held therefore lies less than 2^30
	// ahead of rcvNxt, which keeps sequence comparisons unambiguous.
	MaxWindow = 1 << 30

	// MaxSACKBlocks is the most SACK blocks one TCP header can carry
	// (RFC 2018); SACK never returns more.
	MaxSACKBlocks = 4

	// btreeDegree sets the B-tree's node size (up to 2*degree-1 ranges).
	btreeDegree = 16
)

// Block is a range of sequence numbers [Start, End), as carried in a SACK
// option.
type Block struct {
	Start, End seqnum.Value
}

// rng is one held range: bytes [start, end) of the sequence space, with no
// held byte immediately before or after it. Ranges are also linked in order
// of recency for SACK.
type rng struct {
	start, end   seqnum.Value
	chunks       chunkList
	newer, older *rng
}

// len returns the number of bytes r holds.
func (r *rng) len() int { return int(r.end - r.start) }

// rngPool recycles ranges, which are heap memory.
var rngPool sync.Pool

// newRange returns an empty range starting (and ending) at start.
func newRange(start seqnum.Value) *rng {
	r, ok := rngPool.Get().(*rng)
	if !ok {
		r = new(rng)
	}
	r.start, r.end = start, start
	return r
}

// freeRange returns r, already out of the tree and the recency list, and its
// chunks to their pools.
func freeRange(r *rng) {
	r.chunks.free()
	*r = rng{}
	rngPool.Put(r)
}

// Queue is the out-of-order queue of one TCP connection: bytes received
// beyond rcvNxt, each stored once, bounded by a memory limit. Create it with
// New.
//
// Ranges are kept in a B-tree ordered by their offset from a base, the rcvNxt
// of the last Insert or Pop. The queue never holds data below that rcvNxt nor
// more than MaxWindow beyond it, so offsets order the ranges exactly as the
// sequence space does, across the 2^32 wrap. rcvNxt must not move backwards
// while the queue holds data; a rcvNxt behind the base is treated as the base.
//
// A Queue is not safe for concurrent use; the connection's lock guards it.
type Queue struct {
	limit  int
	base   seqnum.Value
	tree   *btree.BTreeG[*rng]
	bytes  int  // payload bytes held
	newest *rng // head of the recency list

	// Scratch state for Insert, kept here so that the tree's iterator
	// callbacks need no per-call closures.
	probe      rng
	found      *rng
	scratch    []*rng
	collectEnd uint32
	pred       btree.ItemIteratorG[*rng]
	collect    btree.ItemIteratorG[*rng]
}

// New returns an empty queue that holds at most limit bytes, counting each
// range's payload plus RangeOverhead. A limit below RangeOverhead+1 holds
// nothing.
//
// The heap the queue really uses stays within a small factor of Mem, about
// 3x at worst (a queue full of one-byte ranges) and under 1.5x for MSS-sized
// segments: a chunk's buffer is at most twice its data (or 64 bytes), and
// neighbouring chunks too small to justify two buffers are copied into one
// when they meet, so per-chunk overhead is bounded by the payload.
func New(limit int) *Queue {
	q := &Queue{limit: limit}
	q.tree = btree.NewG(btreeDegree, func(a, b *rng) bool {
		return q.off(a.start) < q.off(b.start)
	})
	q.pred = func(r *rng) bool {
		q.found = r
		return false
	}
	q.collect = func(r *rng) bool {
		if q.off(r.start) > q.collectEnd {
			return false
		}
		q.scratch = append(q.scratch, r)
		return true
	}
	return q
}

// off returns v's distance from the base: its position in the tree order.
func (q *Queue) off(v seqnum.Value) uint32 { return uint32(v - q.base) }

// Bytes returns the number of payload bytes held.
func (q *Queue) Bytes() int { return q.bytes }

// Mem returns the memory charged against the limit: Bytes plus
// RangeOverhead for each range.
func (q *Queue) Mem() int { return q.bytes + RangeOverhead*q.tree.Len() }

// Ranges returns the number of disjoint ranges held.
func (q *Queue) Ranges() int { return q.tree.Len() }

// Empty reports whether the queue holds nothing.
func (q *Queue) Empty() bool { return q.tree.Len() == 0 }

// Reset drops everything held.
func (q *Queue) Reset() {
	for r := q.newest; r != nil; {
		older := r.older
		freeRange(r)
		r = older
	}
	q.newest = nil
	q.tree.Clear(true)
	q.bytes = 0
	clear(q.scratch)
	q.scratch = q.scratch[:0]
	q.found = nil
}

// Insert stores data, a segment's payload starting at seq, received beyond
// rcvNxt; the caller delivers in-order data itself. data is copied: the
// caller may reuse it as soon as Insert returns.
//
// Each byte is stored at most once. Bytes below rcvNxt are ignored, and where
// data overlaps bytes already held the held bytes win and data's are
// discarded, as in Linux's tcp_data_queue_ofo; a peer that sends different
// bytes for the same sequence numbers cannot change what was received. The
// new bytes join any held ranges they overlap or touch, and the range that
// contains the segment becomes the first SACK block, even if the segment
// brought nothing new (a duplicate refreshes its block, as in Linux).
//
// If the new bytes would take Mem over the limit, Insert evicts held data
// from the highest sequence numbers downward (Linux's tcp_prune_ofo_queue),
// but never data below seq; if that is not enough it keeps only the part of
// data that fits, from seq up. The result is that the queue keeps the
// lowest-sequence data that fits, and new data never displaces older data
// below it. Bytes more than MaxWindow beyond rcvNxt are dropped.
//
// stored is the number of bytes newly held. dropped is the number of data's
// bytes at or above rcvNxt that are not held when Insert returns because of
// the limit or MaxWindow. The bytes of other segments evicted to make room
// are Bytes() before plus stored minus Bytes() after.
//
// Insert costs O((k+1) log n) for n held ranges, k of them touched by data,
// plus copying the new bytes, plus O(log n) for each range it evicts (each
// range is evicted at most once, so that part is paid for by its insertion).
func (q *Queue) Insert(rcvNxt, seq seqnum.Value, data []byte) (stored, dropped int) {
	if len(data) == 0 {
		return 0, 0
	}
	rcvNxt = q.advance(rcvNxt)
	if seq.LessThan(rcvNxt) {
		old := uint32(rcvNxt - seq)
		if uint64(len(data)) <= uint64(old) {
			return 0, 0
		}
		data, seq = data[old:], rcvNxt
	}
	sOff := q.off(seq) // q.base == rcvNxt
	if sOff >= MaxWindow {
		return 0, len(data)
	}
	if room := MaxWindow - sOff; uint64(len(data)) > uint64(room) {
		dropped = len(data) - int(room)
		data = data[:room]
	}
	eOff := sOff + uint32(len(data))

	// Collect the ranges data overlaps or touches: the last range starting
	// at or before seq if it reaches seq, then every range starting in
	// (seq, seq+len(data)].
	clear(q.scratch)
	q.scratch = q.scratch[:0]
	q.found = nil
	q.probe.start = seq
	q.tree.DescendLessOrEqual(&q.probe, q.pred)
	if p := q.found; p != nil && q.off(p.end) >= sOff {
		q.scratch = append(q.scratch, p)
	}
	q.found = nil
	q.probe.start = seq + 1
	q.collectEnd = eOff
	q.tree.AscendGreaterOrEqual(&q.probe, q.collect)

	// Count the new bytes: the gaps between those ranges.
	newBytes, cur, hiOff := 0, sOff, eOff
	for _, r := range q.scratch {
		if s := q.off(r.start); s > cur {
			newBytes += int(s - cur)
		}
		cur = max(cur, q.off(r.end))
	}
	if eOff > cur {
		newBytes += int(eOff - cur)
	}
	hiOff = max(hiOff, cur)

	keep := hiOff // bytes at or above keep are not held afterwards
	// Written so as not to overflow: Mem <= limit always.
	if excess := newBytes - RangeOverhead*(len(q.scratch)-1) - (q.limit - q.Mem()); excess > 0 {
		keep = q.prune(excess, sOff, hiOff)
	}
	if eOff > keep {
		dropped += int(eOff - keep)
	}
	stored, m := q.merge(seq, data, keep)
	if m != nil && keep > sOff {
		// Part of the segment is held (new or not): its range is the
		// newest. A segment dropped whole refreshes nothing.
		q.touch(m)
	}
	return stored, dropped
}

// prune makes room for the pending insert of Insert: it evicts whole or
// partial ranges above the region [sOff, hiOff) that the insert will merge,
// from the top, until excess bytes are freed. If that is not enough it
// returns the offset below which the merged region fits; otherwise hiOff.
func (q *Queue) prune(excess int, sOff, hiOff uint32) uint32 {
	for excess > 0 {
		r, ok := q.tree.Max()
		if !ok || q.off(r.start) <= hiOff {
			break
		}
		if n := r.len(); excess < n {
			r.chunks.trimBack(excess)
			r.end -= seqnum.Value(excess)
			q.bytes -= excess
			return hiOff
		}
		excess -= r.len() + RangeOverhead
		q.removeRange(r)
	}
	if excess <= 0 {
		return hiOff
	}

	// The region alone is too big. Find the largest keep such that the held
	// bytes below seq plus [seq, keep) fit, with the region's ranges (about
	// to be merged into one, or none) charged once.
	avail := q.limit - q.Mem()
	below := 0
	for i, r := range q.scratch {
		avail += r.len() + RangeOverhead
		if s := q.off(r.start); i == 0 && s < sOff {
			below = int(sOff - s)
		}
	}
	n := avail - RangeOverhead - below
	n = max(0, min(n, int(hiOff-sOff)))
	return sOff + uint32(n)
}

// merge stores the part of data (starting at seq) below offset keep into the
// gaps between the collected ranges, evicts their held bytes at or above
// keep, and joins what is left into one range, which it returns (nil if
// nothing is left).
func (q *Queue) merge(seq seqnum.Value, data []byte, keep uint32) (stored int, m *rng) {
	sOff := q.off(seq)
	eOff := min(sOff+uint32(len(data)), keep)
	if len(q.scratch) == 0 {
		if eOff <= sOff {
			return 0, nil
		}
		n := int(eOff - sOff)
		m = newRange(seq)
		m.chunks.appendBytes(data[:n])
		m.end = seq.Add(seqnum.Size(n))
		q.bytes += n
		q.tree.ReplaceOrInsert(m)
		return n, m
	}

	// Evict held bytes at or above keep. A range may become empty; it
	// stays in the tree until it is merged away below.
	for _, r := range q.scratch {
		rs, re := q.off(r.start), q.off(r.end)
		if re <= keep {
			continue
		}
		cut := int(re - max(rs, keep))
		r.chunks.trimBack(cut)
		r.end -= seqnum.Value(cut)
		q.bytes -= cut
	}

	m = q.scratch[0]
	cur := sOff // the first offset of data not yet placed
	if ms := q.off(m.start); ms > sOff && eOff > sOff {
		// data starts before m: put the gap in front of it. Lowering m's
		// start keeps the tree order: the range before m ends before seq.
		gEnd := min(ms, eOff)
		empty := m.start == m.end
		m.chunks.prependBytes(data[:gEnd-sOff])
		stored += int(gEnd - sOff)
		m.start = seq
		if empty {
			m.end = seq.Add(seqnum.Size(gEnd - sOff))
		}
	}
	if m.start != m.end {
		cur = max(cur, q.off(m.end))
	}
	for _, r := range q.scratch[1:] {
		if gEnd := min(q.off(r.start), eOff); gEnd > cur {
			m.chunks.appendBytes(data[cur-sOff : gEnd-sOff])
			stored += int(gEnd - cur)
			cur = gEnd
		}
		if r.start != r.end {
			cur = q.off(r.end)
		}
		m.chunks.concat(&r.chunks)
		q.tree.Delete(r)
		q.unlink(r)
		freeRange(r)
	}
	if eOff > cur {
		m.chunks.appendBytes(data[cur-sOff : eOff-sOff])
		stored += int(eOff - cur)
		cur = eOff
	}
	clear(q.scratch)
	q.scratch = q.scratch[:0]
	q.bytes += stored
	if m.chunks.head == nil {
		q.tree.Delete(m)
		q.unlink(m)
		freeRange(m)
		return stored, nil
	}
	m.end = q.base.Add(seqnum.Size(cur))
	return stored, m
}

// advance drops held bytes below rcvNxt, which the caller has delivered
// itself, and makes rcvNxt the base. It returns the rcvNxt to use: the base
// if rcvNxt is behind it.
func (q *Queue) advance(rcvNxt seqnum.Value) seqnum.Value {
	if q.tree.Len() == 0 {
		q.base = rcvNxt
		return rcvNxt
	}
	if rcvNxt.LessThan(q.base) {
		return q.base
	}
	to := q.off(rcvNxt)
	for {
		r, ok := q.tree.Min()
		if !ok || q.off(r.start) >= to {
			break
		}
		if q.off(r.end) <= to {
			q.removeRange(r)
			continue
		}
		// r straddles rcvNxt: cut its front. It stays the first range,
		// so changing its start in place keeps the tree order.
		cut := int(rcvNxt - r.start)
		r.chunks.trimFront(cut)
		r.start = rcvNxt
		q.bytes -= cut
		break
	}
	q.base = rcvNxt
	return rcvNxt
}

// Pop delivers the held data that has become in-order: the bytes contiguous
// from rcvNxt. It calls fn for each chunk in sequence order; a chunk is a
// view into the queue's memory, valid only until fn returns, and fn must not
// call the queue. Held bytes below rcvNxt (delivered by the caller already)
// are discarded, never passed to fn, so no byte is delivered twice. Pop
// returns the new rcvNxt: rcvNxt plus the bytes delivered.
func (q *Queue) Pop(rcvNxt seqnum.Value, fn func(chunk []byte)) seqnum.Value {
	if q.tree.Len() == 0 {
		q.base = rcvNxt
		return rcvNxt
	}
	if rcvNxt.LessThan(q.base) {
		return rcvNxt
	}
	for {
		r, ok := q.tree.Min()
		if !ok || q.off(r.start) > q.off(rcvNxt) {
			break
		}
		q.tree.DeleteMin()
		q.unlink(r)
		q.bytes -= r.len()
		if q.off(r.end) > q.off(rcvNxt) {
			skip := int(rcvNxt - r.start)
			for c := r.chunks.head; c != nil; c = c.next {
				d := c.data()
				if skip >= len(d) {
					skip -= len(d)
					continue
				}
				fn(d[skip:])
				skip = 0
			}
			rcvNxt = r.end
		}
		freeRange(r)
	}
	q.base = rcvNxt
	return rcvNxt
}

// SACK fills dst with up to min(len(dst), MaxSACKBlocks) SACK blocks and
// returns how many it wrote. Following RFC 2018 section 4, the first block
// is the range containing the most recently inserted segment; the others
// are the remaining ranges in order of recency, most recent first, where a
// range's recency is the last Insert that touched it.
func (q *Queue) SACK(dst []Block) int {
	n := 0
	for r := q.newest; r != nil && n < len(dst) && n < MaxSACKBlocks; r = r.older {
		dst[n] = Block{Start: r.start, End: r.end}
		n++
	}
	return n
}

// removeRange takes r out of the queue and frees it.
func (q *Queue) removeRange(r *rng) {
	q.tree.Delete(r)
	q.unlink(r)
	q.bytes -= r.len()
	freeRange(r)
}

// touch makes r the most recent range.
func (q *Queue) touch(r *rng) {
	if q.newest == r {
		return
	}
	q.unlink(r)
	r.older = q.newest
	if q.newest != nil {
		q.newest.newer = r
	}
	q.newest = r
}

// unlink takes r out of the recency list, if it is in it.
func (q *Queue) unlink(r *rng) {
	if r.newer != nil {
		r.newer.older = r.older
	} else if q.newest == r {
		q.newest = r.older
	}
	if r.older != nil {
		r.older.newer = r.newer
	}
	r.newer, r.older = nil, nil
}
