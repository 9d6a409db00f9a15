package rxring

import "fmt"

// CompRing is the user-space consumer side of the completion ring: it gets
// back the UMEM addresses of frames the kernel has sent.
//
// A CompRing is not safe for concurrent use; one goroutine owns it.
type CompRing struct {
	c consCore[uint64]
}

// NewCompRing returns the completion ring of size entries laid out in mem
// at off. The indices start at whatever the shared producer and consumer
// words hold.
func NewCompRing(mem []byte, off Offsets, size uint32) (*CompRing, error) {
	r := new(CompRing)
	if err := r.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("completion ring: %w", err)
	}
	return r, nil
}

// Peek returns the index of the first of up to n completed entries and how
// many there are (0 when the ring is empty). Successive Peeks return
// successive entries. Read them with Addr, then hand the slots back to the
// kernel with Release.
func (r *CompRing) Peek(n uint32) (idx, got uint32) { return r.c.peek(n) }

// Addr returns the peeked entry at idx.
func (r *CompRing) Addr(idx uint32) uint64 { return r.c.descs[idx&r.c.mask] }

// Release returns the n oldest peeked slots to the kernel. Releasing more
// entries than are peeked is a programming error and panics.
func (r *CompRing) Release(n uint32) { r.c.release(n) }

// Consume peeks, copies and releases as many entries as fit in addrs and
// returns how many it copied. It must not be used while a Peek is not yet
// released.
func (r *CompRing) Consume(addrs []uint64) int { return r.c.consume(addrs) }

// NeedWakeup reports whether the flags word has XDP_RING_NEED_WAKEUP set.
// The kernel sets it on the fill and tx rings; it is here for symmetry.
func (r *CompRing) NeedWakeup() bool { return r.c.needWakeup() }

// Pending returns the number of entries Peek could return now.
func (r *CompRing) Pending() uint32 { return r.c.pending() }

// Size returns the number of slots in the ring.
func (r *CompRing) Size() uint32 { return r.c.size() }
