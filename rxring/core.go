package rxring

import (
	"fmt"
	"sync/atomic"
)

// prodCore is the producer half of a ring: FillRing, TxRing, KernelRx and
// KernelComp are thin wrappers around it.
type prodCore[T any] struct {
	ring[T]
	prod       uint32 // published producer index; only this side writes it
	reserved   uint32 // prod plus the entries reserved but not yet submitted
	cachedCons uint32 // consumer index as last read from shared memory
}

func (c *prodCore[T]) init(mem []byte, off Offsets, size uint32) error {
	r, err := newRing[T](mem, off, size)
	if err != nil {
		return err
	}
	c.ring = r
	c.prod = atomic.LoadUint32(r.producer)
	c.reserved = c.prod
	c.cachedCons = atomic.LoadUint32(r.consumer)
	return nil
}

// free returns the slots Reserve may hand out according to the cached
// consumer index. A consumer index that is ahead of the producer or more
// than a ring behind it can only come from a broken peer; it reads as full.
func (c *prodCore[T]) free() uint32 {
	used := c.reserved - c.cachedCons
	if used > c.size() {
		return 0
	}
	return c.size() - used
}

func (c *prodCore[T]) reserve(n uint32) (idx, got uint32) {
	free := c.free()
	if free < n {
		c.cachedCons = atomic.LoadUint32(c.consumer)
		free = c.free()
	}
	got = min(n, free)
	idx = c.reserved
	c.reserved += got
	return idx, got
}

func (c *prodCore[T]) submit(n uint32) {
	if n > c.reserved-c.prod {
		panic(fmt.Sprintf("rxring: Submit(%d) with only %d entries reserved", n, c.reserved-c.prod))
	}
	if n == 0 {
		return
	}
	c.prod += n
	atomic.StoreUint32(c.producer, c.prod)
}

func (c *prodCore[T]) produce(src []T) int {
	idx, got := c.reserve(c.batch(len(src)))
	c.write(idx, src[:got])
	c.submit(got)
	return int(got)
}

func (c *prodCore[T]) pending() uint32 {
	c.cachedCons = atomic.LoadUint32(c.consumer)
	return c.prod - c.cachedCons
}

func (c *prodCore[T]) freshFree() uint32 {
	c.cachedCons = atomic.LoadUint32(c.consumer)
	return c.free()
}

// consCore is the consumer half of a ring: RxRing, CompRing, KernelFill and
// KernelTx are thin wrappers around it.
type consCore[T any] struct {
	ring[T]
	cons       uint32 // published consumer index; only this side writes it
	peeked     uint32 // cons plus the entries peeked but not yet released
	cachedProd uint32 // producer index as last read from shared memory
}

func (c *consCore[T]) init(mem []byte, off Offsets, size uint32) error {
	r, err := newRing[T](mem, off, size)
	if err != nil {
		return err
	}
	c.ring = r
	c.cons = atomic.LoadUint32(r.consumer)
	c.peeked = c.cons
	c.cachedProd = atomic.LoadUint32(r.producer)
	return nil
}

// avail returns the entries Peek may hand out according to the cached
// producer index. A producer index that is behind the consumer or more than
// a ring ahead of it can only come from a broken peer; it reads as empty.
func (c *consCore[T]) avail() uint32 {
	ready := c.cachedProd - c.cons
	held := c.peeked - c.cons
	if ready > c.size() || ready < held {
		return 0
	}
	return ready - held
}

func (c *consCore[T]) peek(n uint32) (idx, got uint32) {
	avail := c.avail()
	if avail < n {
		c.cachedProd = atomic.LoadUint32(c.producer)
		avail = c.avail()
	}
	got = min(n, avail)
	idx = c.peeked
	c.peeked += got
	return idx, got
}

func (c *consCore[T]) release(n uint32) {
	if n > c.peeked-c.cons {
		panic(fmt.Sprintf("rxring: Release(%d) with only %d entries peeked", n, c.peeked-c.cons))
	}
	if n == 0 {
		return
	}
	c.cons += n
	atomic.StoreUint32(c.consumer, c.cons)
}

func (c *consCore[T]) consume(dst []T) int {
	idx, got := c.peek(c.batch(len(dst)))
	c.read(idx, dst[:got])
	c.release(got)
	return int(got)
}

func (c *consCore[T]) pending() uint32 {
	c.cachedProd = atomic.LoadUint32(c.producer)
	return c.avail()
}
