package rxring

import "fmt"

// RxRing is the user-space consumer side of the rx ring: it receives a
// descriptor from the kernel for each packet written into UMEM.
//
// An RxRing is not safe for concurrent use; one goroutine owns it.
type RxRing struct {
	c consCore[Desc]
}

// NewRxRing returns the rx ring of size entries laid out in mem at off.
// The indices start at whatever the shared producer and consumer words hold.
func NewRxRing(mem []byte, off Offsets, size uint32) (*RxRing, error) {
	r := new(RxRing)
	if err := r.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("rx ring: %w", err)
	}
	return r, nil
}

// Peek returns the index of the first of up to n received entries and how
// many there are (0 when the ring is empty). Successive Peeks return
// successive entries. Read them with Desc, then hand the slots back to the
// kernel with Release.
func (r *RxRing) Peek(n uint32) (idx, got uint32) { return r.c.peek(n) }

// Desc returns the peeked entry at idx.
func (r *RxRing) Desc(idx uint32) Desc { return r.c.descs[idx&r.c.mask] }

// Release returns the n oldest peeked slots to the kernel. Releasing more
// entries than are peeked is a programming error and panics.
func (r *RxRing) Release(n uint32) { r.c.release(n) }

// Consume peeks, copies and releases as many entries as fit in descs and
// returns how many it copied. It must not be used while a Peek is not yet
// released.
func (r *RxRing) Consume(descs []Desc) int { return r.c.consume(descs) }

// NeedWakeup reports whether the flags word has XDP_RING_NEED_WAKEUP set.
// The kernel sets it on the fill and tx rings; it is here for symmetry.
func (r *RxRing) NeedWakeup() bool { return r.c.needWakeup() }

// Pending returns the number of entries Peek could return now.
func (r *RxRing) Pending() uint32 { return r.c.pending() }

// Level returns the entries the kernel has produced and we have not yet
// released. Unlike Pending it is safe to call from any goroutine, for
// statistics.
func (r *RxRing) Level() uint32 { return r.c.level() }

// Size returns the number of slots in the ring.
func (r *RxRing) Size() uint32 { return r.c.size() }
