package ooo

import (
	"math/bits"
	"sync"
)

// Chunk buffers come in power-of-two size classes from minChunk to maxChunk
// bytes, each with its own pool. A new piece of data gets the smallest class
// that holds it, so a buffer is never more than twice the data it carries
// (minChunk aside): a peer sending tiny segments pins tiny buffers, not
// MSS-sized ones. Data longer than maxChunk is split.
const (
	minChunkShift = 6
	maxChunkShift = 16
	minChunk      = 1 << minChunkShift
	maxChunk      = 1 << maxChunkShift
	numClasses    = maxChunkShift - minChunkShift + 1

	// coalesceMax bounds the copy done to join two neighbouring chunks:
	// whenever two chunks become neighbours, or a trim shrinks one, and
	// both together hold at most this many bytes, they are copied into one
	// buffer. The copy is constant-bounded, and no two neighbouring chunks
	// ever fit in coalesceMax bytes together, so a range of b bytes holds
	// fewer than 2b/coalesceMax + 1 chunks, however small the peer's
	// segments: per-chunk overhead is bounded by the payload.
	coalesceMax = 2048
)

// pools holds one pool of *chunk per size class. Chunks are heap memory owned
// by no one else once freed, so sync.Pool is safe for them. The data they
// still carry is never exposed: a chunk's visible bytes, buf[lo:hi], are
// always written before they are read.
var pools [numClasses]sync.Pool

// chunk is one buffer of a range's data: buf[lo:hi], linked to its
// neighbours in sequence order.
type chunk struct {
	buf        []byte // the pooled buffer; len(buf) is its size class
	lo, hi     int
	prev, next *chunk
}

// class returns the size-class index for a buffer of n bytes (n <= maxChunk).
func class(n int) int {
	if n <= minChunk {
		return 0
	}
	return bits.Len(uint(n-1)) - minChunkShift
}

// newChunk returns an empty chunk whose buffer holds at least n bytes
// (n <= maxChunk).
func newChunk(n int) *chunk {
	i := class(n)
	if c, ok := pools[i].Get().(*chunk); ok {
		return c
	}
	return &chunk{buf: make([]byte, minChunk<<i)}
}

// freeChunk returns c to its pool. c must be unlinked.
func freeChunk(c *chunk) {
	c.lo, c.hi = 0, 0
	c.prev, c.next = nil, nil
	pools[class(len(c.buf))].Put(c)
}

// len returns the number of data bytes c holds.
func (c *chunk) len() int { return c.hi - c.lo }

// data returns c's bytes.
func (c *chunk) data() []byte { return c.buf[c.lo:c.hi] }

// chunkList is a doubly linked list of chunks: a range's bytes in order.
// Joining two lists is O(1) plus a bounded copy at the seam.
type chunkList struct {
	head, tail *chunk
}

// pushBack links c after the tail.
func (l *chunkList) pushBack(c *chunk) {
	c.prev, c.next = l.tail, nil
	if l.tail == nil {
		l.head = c
	} else {
		l.tail.next = c
	}
	l.tail = c
}

// replace puts n in c's place in the list and frees c.
func (l *chunkList) replace(c, n *chunk) {
	n.prev, n.next = c.prev, c.next
	if c.prev == nil {
		l.head = n
	} else {
		c.prev.next = n
	}
	if c.next == nil {
		l.tail = n
	} else {
		c.next.prev = n
	}
	c.prev, c.next = nil, nil
	freeChunk(c)
}

// remove unlinks c and frees it.
func (l *chunkList) remove(c *chunk) {
	if c.prev == nil {
		l.head = c.next
	} else {
		c.prev.next = c.next
	}
	if c.next == nil {
		l.tail = c.prev
	} else {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	freeChunk(c)
}

// free releases every chunk and empties l.
func (l *chunkList) free() {
	for c := l.head; c != nil; {
		next := c.next
		c.prev, c.next = nil, nil
		freeChunk(c)
		c = next
	}
	l.head, l.tail = nil, nil
}

// join merges b, the chunk after a in l, into one chunk holding both,
// copying at most a.len()+b.len() bytes, and returns it. The result reuses a
// buffer with enough room when there is one, and is otherwise the smallest
// class that holds both.
func (l *chunkList) join(a, b *chunk) *chunk {
	switch {
	case len(a.buf)-a.hi >= b.len():
		a.hi += copy(a.buf[a.hi:], b.data())
		l.remove(b)
		return a
	case b.lo >= a.len():
		b.lo -= copy(b.buf[b.lo-a.len():b.lo], a.data())
		l.remove(a)
		return b
	}
	n := newChunk(a.len() + b.len())
	n.hi = copy(n.buf, a.data())
	n.hi += copy(n.buf[n.hi:], b.data())
	l.replace(a, n)
	l.remove(b)
	return n
}

// appendBytes copies b to the end of l.
func (l *chunkList) appendBytes(b []byte) {
	if len(b) == 0 {
		return
	}
	if t := l.tail; t != nil && len(t.buf)-t.hi >= len(b) {
		t.hi += copy(t.buf[t.hi:], b)
		return
	}
	var back chunkList
	for len(b) > 0 {
		m := min(len(b), maxChunk)
		c := newChunk(m)
		c.hi = copy(c.buf, b[:m])
		back.pushBack(c)
		b = b[m:]
	}
	l.concat(&back)
}

// prependBytes copies b to the front of l.
func (l *chunkList) prependBytes(b []byte) {
	if len(b) == 0 {
		return
	}
	if h := l.head; h != nil && h.lo >= len(b) {
		h.lo -= copy(h.buf[h.lo-len(b):h.lo], b)
		return
	}
	var front chunkList
	front.appendBytes(b)
	front.concat(l)
	*l = front
}

// concat moves every chunk of o to the end of l, leaving o empty. If the
// chunks meeting at the seam fit in coalesceMax bytes together they become
// one, so that no two neighbouring chunks ever do.
func (l *chunkList) concat(o *chunkList) {
	if o.head == nil {
		return
	}
	if l.tail == nil {
		*l, *o = *o, chunkList{}
		return
	}
	t, h := l.tail, o.head
	l.tail.next, o.head.prev = o.head, l.tail
	l.tail = o.tail
	*o = chunkList{}
	if t.len()+h.len() <= coalesceMax {
		l.join(t, h)
	}
}

// trimFront drops the first n bytes of l (n <= its length).
func (l *chunkList) trimFront(n int) {
	for n > 0 {
		c := l.head
		if c.len() <= n {
			n -= c.len()
			l.remove(c)
			continue
		}
		c.lo += n
		if d := c.next; d != nil && c.len()+d.len() <= coalesceMax {
			l.join(c, d)
			return
		}
		l.shrink(c)
		return
	}
}

// trimBack drops the last n bytes of l (n <= its length).
func (l *chunkList) trimBack(n int) {
	for n > 0 {
		c := l.tail
		if c.len() <= n {
			n -= c.len()
			l.remove(c)
			continue
		}
		c.hi -= n
		if p := c.prev; p != nil && p.len()+c.len() <= coalesceMax {
			l.join(p, c)
			return
		}
		l.shrink(c)
		return
	}
}

// shrink moves a trimmed chunk's data into a smaller buffer when it would fit
// in half of its own, so trimming never leaves a large buffer pinned by a
// few bytes. The copy is at most half the buffer, and a chunk's buffer at
// least halves each time it is copied.
func (l *chunkList) shrink(c *chunk) {
	if len(c.buf) == minChunk || c.len() > len(c.buf)/2 {
		return
	}
	n := newChunk(c.len())
	n.hi = copy(n.buf, c.data())
	l.replace(c, n)
}
