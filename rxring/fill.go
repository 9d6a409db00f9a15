package rxring

import "fmt"

// FillRing is the user-space producer side of the fill ring: it hands UMEM
// frame addresses to the kernel for receiving into.
//
// A FillRing is not safe for concurrent use; one goroutine owns it.
type FillRing struct {
	c prodCore[uint64]
}

// NewFillRing returns the fill ring of size entries laid out in mem at off.
// The indices start at whatever the shared producer and consumer words hold.
func NewFillRing(mem []byte, off Offsets, size uint32) (*FillRing, error) {
	r := new(FillRing)
	if err := r.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("fill ring: %w", err)
	}
	return r, nil
}

// Reserve reserves up to n free slots and returns the index of the first
// one and how many it got: fewer than n when the ring is nearly full, 0 when
// it is full. Fill the slots with Set, then publish them with Submit.
func (r *FillRing) Reserve(n uint32) (idx, got uint32) { return r.c.reserve(n) }

// Set writes addr into the reserved slot at idx.
func (r *FillRing) Set(idx uint32, addr uint64) { r.c.descs[idx&r.c.mask] = addr }

// Submit publishes the first n reserved entries to the kernel. Submitting
// more entries than are reserved is a programming error and panics.
func (r *FillRing) Submit(n uint32) { r.c.submit(n) }

// Produce reserves, sets and submits as many of addrs as fit and returns how
// many it submitted. It must not be used while a Reserve is not yet
// submitted.
func (r *FillRing) Produce(addrs []uint64) int { return r.c.produce(addrs) }

// NeedWakeup reports whether the kernel has set XDP_RING_NEED_WAKEUP.
func (r *FillRing) NeedWakeup() bool { return r.c.needWakeup() }

// Pending returns the number of submitted entries the kernel has not
// consumed yet.
func (r *FillRing) Pending() uint32 { return r.c.pending() }

// Free returns the number of slots Reserve could hand out now.
func (r *FillRing) Free() uint32 { return r.c.freshFree() }

// Level returns the entries submitted and not yet consumed by the kernel.
// Unlike Pending it is safe to call from any goroutine, for statistics.
func (r *FillRing) Level() uint32 { return r.c.level() }

// Size returns the number of slots in the ring.
func (r *FillRing) Size() uint32 { return r.c.size() }
