package rxring

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Offsets mirrors struct xdp_ring_offset: the byte offsets of a ring's
// producer, consumer, descriptor array and flags inside its mmap'd region.
// It is a platform independent copy so that this package needs no x/sys.
type Offsets struct {
	Producer uint64
	Consumer uint64
	Desc     uint64
	Flags    uint64
}

// Desc mirrors struct xdp_desc: one packet in the rx or tx ring.
type Desc struct {
	Addr    uint64 // UMEM address of the packet's first byte
	Len     uint32 // packet length in bytes
	Options uint32 // XDP_PKT_CONTD and friends
}

// NeedWakeup is the XDP_RING_NEED_WAKEUP bit of a ring's flags word: the
// kernel wants a syscall (poll, sendto, recvfrom) to make progress.
const NeedWakeup = 1

// Descriptor sizes, in bytes, as laid out by the kernel.
const (
	AddrSize = 8  // a fill or completion ring entry (a __u64 address)
	DescSize = 16 // an rx or tx ring entry (struct xdp_desc)
)

// Errors returned (wrapped) by the constructors.
var (
	// ErrSize means the ring size is not a nonzero power of two.
	ErrSize = errors.New("ring size is not a nonzero power of two")
	// ErrLayout means the offsets place a ring word or the descriptor
	// array outside the memory, misaligned, or overlapping another part.
	ErrLayout = errors.New("invalid ring layout")
)

// wordSize is the size of the producer, consumer and flags words.
const wordSize = 4

// ring is the part of a ring that both sides share: pointers to the shared
// words and the descriptor array, typed by entry.
type ring[T any] struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	descs    []T
	mask     uint32
}

// newRing validates mem, off and size for entries of type T and returns the
// views into mem.
func newRing[T any](mem []byte, off Offsets, size uint32) (ring[T], error) {
	if size == 0 || bits.OnesCount32(size) != 1 {
		return ring[T]{}, fmt.Errorf("size %d: %w", size, ErrSize)
	}
	elemSize, elemAlign := sizeAlign[T]()
	words := [...]struct {
		name string
		off  uint64
	}{{"producer", off.Producer}, {"consumer", off.Consumer}, {"flags", off.Flags}}
	for _, w := range words {
		if err := checkSpan(mem, w.name+" word", w.off, wordSize, wordSize); err != nil {
			return ring[T]{}, err
		}
	}
	descLen := uint64(size) * elemSize
	if err := checkSpan(mem, "descriptor array", off.Desc, descLen, elemAlign); err != nil {
		return ring[T]{}, err
	}
	for i, a := range words {
		for _, b := range words[i+1:] {
			if a.off == b.off { // both are word aligned, so only equality overlaps
				return ring[T]{}, fmt.Errorf("%s and %s words share offset %d: %w", a.name, b.name, a.off, ErrLayout)
			}
		}
		if a.off+wordSize > off.Desc && a.off < off.Desc+descLen {
			return ring[T]{}, fmt.Errorf("%s word at offset %d is inside the descriptor array: %w", a.name, a.off, ErrLayout)
		}
	}
	return ring[T]{
		producer: wordAt(mem, off.Producer),
		consumer: wordAt(mem, off.Consumer),
		flags:    wordAt(mem, off.Flags),
		descs:    sliceAt[T](mem, off.Desc, size),
		mask:     size - 1,
	}, nil
}

// checkSpan reports whether mem[off:off+n] exists and starts at an address
// aligned to align.
func checkSpan(mem []byte, what string, off, n, align uint64) error {
	if off > uint64(len(mem)) || n > uint64(len(mem))-off {
		return fmt.Errorf("%s at offset %d, %d bytes, exceeds %d-byte region: %w", what, off, n, len(mem), ErrLayout)
	}
	if !isAligned(mem, off, align) {
		return fmt.Errorf("%s at offset %d is not %d-byte aligned: %w", what, off, align, ErrLayout)
	}
	return nil
}

func (r *ring[T]) size() uint32 { return r.mask + 1 }

// level returns the entries published and not yet consumed, from the
// shared indices only: unlike the cached ones it is safe to call from any
// goroutine while the owner produces or consumes. A broken peer's index
// reads as at most the ring size.
func (r *ring[T]) level() uint32 {
	cons := atomic.LoadUint32(r.consumer)
	return min(atomic.LoadUint32(r.producer)-cons, r.size())
}

func (r *ring[T]) needWakeup() bool { return atomic.LoadUint32(r.flags)&NeedWakeup != 0 }

func (r *ring[T]) setFlags(flags uint32) { atomic.StoreUint32(r.flags, flags) }

// write copies src into the slots starting at idx, wrapping around.
// len(src) must not exceed the ring size.
func (r *ring[T]) write(idx uint32, src []T) {
	n := copy(r.descs[idx&r.mask:], src)
	copy(r.descs, src[n:])
}

// read copies the slots starting at idx into dst, wrapping around.
// len(dst) must not exceed the ring size.
func (r *ring[T]) read(idx uint32, dst []T) {
	n := copy(dst, r.descs[idx&r.mask:])
	copy(dst[n:], r.descs)
}

// batch returns min(n, ring size) as a uint32.
func (r *ring[T]) batch(n int) uint32 {
	if uint(n) < uint(r.size()) {
		return uint32(n)
	}
	return r.size()
}
