package rxring

import (
	"encoding/binary"
	"testing"
)

// producer is what FillRing and TxRing have in common.
type producer[T any] interface {
	Reserve(n uint32) (idx, got uint32)
	Set(idx uint32, v T)
	Submit(n uint32)
	Produce(vs []T) int
	NeedWakeup() bool
	Pending() uint32
	Free() uint32
	Size() uint32
}

// consumer is what RxRing and CompRing have in common, with Desc and Addr
// both spelled Get.
type consumer[T any] interface {
	Peek(n uint32) (idx, got uint32)
	Get(idx uint32) T
	Release(n uint32)
	Consume(vs []T) int
	NeedWakeup() bool
	Pending() uint32
	Size() uint32
}

type rxUser struct{ *RxRing }

func (r rxUser) Get(idx uint32) Desc { return r.Desc(idx) }

type compUser struct{ *CompRing }

func (r compUser) Get(idx uint32) uint64 { return r.Addr(idx) }

type kernConsumer[T any] interface {
	Consume(vs []T) int
	SetFlags(flags uint32)
}

type kernProducer[T any] interface {
	Produce(vs []T) int
	SetFlags(flags uint32)
}

// prodPair is a user-space producer ring and the kernel view consuming it.
type prodPair[T any] struct {
	user producer[T]
	kern kernConsumer[T]
}

// consPair is a user-space consumer ring and the kernel view feeding it.
type consPair[T any] struct {
	user consumer[T]
	kern kernProducer[T]
}

// ringMem lays out a ring whose producer and consumer indices start at start.
func ringMem(size uint32, descSize int, start uint32) ([]byte, Offsets) {
	mem, off := Layout(size, descSize)
	binary.NativeEndian.PutUint32(mem[off.Producer:], start)
	binary.NativeEndian.PutUint32(mem[off.Consumer:], start)
	return mem, off
}

// must returns v, or panics if a constructor that the test expects to
// succeed failed.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newFillPair(tb testing.TB, size, start uint32) prodPair[uint64] {
	mem, off := ringMem(size, AddrSize, start)
	return prodPair[uint64]{
		user: must(NewFillRing(mem, off, size)),
		kern: must(NewKernelFill(mem, off, size)),
	}
}

func newTxPair(tb testing.TB, size, start uint32) prodPair[Desc] {
	mem, off := ringMem(size, DescSize, start)
	return prodPair[Desc]{
		user: must(NewTxRing(mem, off, size)),
		kern: must(NewKernelTx(mem, off, size)),
	}
}

func newRxPair(tb testing.TB, size, start uint32) consPair[Desc] {
	mem, off := ringMem(size, DescSize, start)
	return consPair[Desc]{
		user: rxUser{must(NewRxRing(mem, off, size))},
		kern: must(NewKernelRx(mem, off, size)),
	}
}

func newCompPair(tb testing.TB, size, start uint32) consPair[uint64] {
	mem, off := ringMem(size, AddrSize, start)
	return consPair[uint64]{
		user: compUser{must(NewCompRing(mem, off, size))},
		kern: must(NewKernelComp(mem, off, size)),
	}
}

// mkAddr and mkDesc make the i'th test value; distinct i give distinct values.
func mkAddr(i uint64) uint64 { return i*4096 + 256 }

func mkDesc(i uint64) Desc {
	return Desc{Addr: i * 2048, Len: uint32(i%1500) + 60, Options: uint32(i >> 20)}
}

// starts are initial ring indices; the ones near 2^32 make the indices
// wrap during a test.
var starts = []uint32{0, 0xFFFFFFF0, 0xFFFFFFFC, 0xFFFFFFFF}
