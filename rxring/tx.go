package rxring

import "fmt"

// TxRing is the user-space producer side of the tx ring: it hands packet
// descriptors to the kernel for sending.
//
// A TxRing is not safe for concurrent use; one goroutine owns it.
type TxRing struct {
	c prodCore[Desc]
}

// NewTxRing returns the tx ring of size entries laid out in mem at off.
// The indices start at whatever the shared producer and consumer words hold.
func NewTxRing(mem []byte, off Offsets, size uint32) (*TxRing, error) {
	r := new(TxRing)
	if err := r.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("tx ring: %w", err)
	}
	return r, nil
}

// Reserve reserves up to n free slots and returns the index of the first
// one and how many it got: fewer than n when the ring is nearly full, 0 when
// it is full. Fill the slots with Set, then publish them with Submit.
func (r *TxRing) Reserve(n uint32) (idx, got uint32) { return r.c.reserve(n) }

// Set writes d into the reserved slot at idx.
func (r *TxRing) Set(idx uint32, d Desc) { r.c.descs[idx&r.c.mask] = d }

// Submit publishes the first n reserved entries to the kernel. Submitting
// more entries than are reserved is a programming error and panics.
func (r *TxRing) Submit(n uint32) { r.c.submit(n) }

// Produce reserves, sets and submits as many of descs as fit and returns how
// many it submitted. It must not be used while a Reserve is not yet
// submitted.
func (r *TxRing) Produce(descs []Desc) int { return r.c.produce(descs) }

// NeedWakeup reports whether the kernel has set XDP_RING_NEED_WAKEUP: it
// will not send what was submitted until user space calls sendto.
func (r *TxRing) NeedWakeup() bool { return r.c.needWakeup() }

// Pending returns the number of submitted entries the kernel has not
// consumed yet.
func (r *TxRing) Pending() uint32 { return r.c.pending() }

// Free returns the number of slots Reserve could hand out now.
func (r *TxRing) Free() uint32 { return r.c.freshFree() }

// Size returns the number of slots in the ring.
func (r *TxRing) Size() uint32 { return r.c.size() }
