package rxring

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestLayout(t *testing.T) {
	for _, size := range []uint32{1, 8, 2048} {
		for _, descSize := range []int{AddrSize, DescSize} {
			mem, off := Layout(size, descSize)
			if p := reflect.ValueOf(mem).Pointer(); p%64 != 0 {
				t.Errorf("Layout(%d, %d): memory at %#x, want 64-byte aligned", size, descSize, p)
			}
			if want := off.Desc + uint64(size)*uint64(descSize); uint64(len(mem)) != want {
				t.Errorf("Layout(%d, %d): len %d, want %d", size, descSize, len(mem), want)
			}
			if off.Producer%64 != 0 || off.Consumer%64 != 0 || off.Desc%64 != 0 || off.Flags%4 != 0 {
				t.Errorf("Layout(%d, %d): offsets %+v not aligned", size, descSize, off)
			}
		}
	}
}

// constructors lists every constructor with the entry size it expects.
var constructors = []struct {
	name     string
	descSize int
	new      func(mem []byte, off Offsets, size uint32) error
}{
	{"fill", AddrSize, func(m []byte, o Offsets, s uint32) error { _, err := NewFillRing(m, o, s); return err }},
	{"rx", DescSize, func(m []byte, o Offsets, s uint32) error { _, err := NewRxRing(m, o, s); return err }},
	{"tx", DescSize, func(m []byte, o Offsets, s uint32) error { _, err := NewTxRing(m, o, s); return err }},
	{"comp", AddrSize, func(m []byte, o Offsets, s uint32) error { _, err := NewCompRing(m, o, s); return err }},
	{"kernel fill", AddrSize, func(m []byte, o Offsets, s uint32) error { _, err := NewKernelFill(m, o, s); return err }},
	{"kernel rx", DescSize, func(m []byte, o Offsets, s uint32) error { _, err := NewKernelRx(m, o, s); return err }},
	{"kernel tx", DescSize, func(m []byte, o Offsets, s uint32) error { _, err := NewKernelTx(m, o, s); return err }},
	{"kernel comp", AddrSize, func(m []byte, o Offsets, s uint32) error { _, err := NewKernelComp(m, o, s); return err }},
}

func TestNewValidation(t *testing.T) {
	const size = 16
	tests := []struct {
		name string
		size uint32
		// edit adjusts the memory and offsets from Layout(size, descSize).
		edit func(mem []byte, off Offsets) ([]byte, Offsets)
		want error
	}{
		{name: "ok", size: size},
		{name: "size 1", size: 1},
		{name: "size 0", size: 0, want: ErrSize},
		{name: "size 3", size: 3, want: ErrSize},
		{name: "size 100", size: 100, want: ErrSize},
		{name: "size max", size: math.MaxUint32, want: ErrSize},
		{name: "nil memory", size: size, want: ErrLayout,
			edit: func(_ []byte, off Offsets) ([]byte, Offsets) { return nil, off }},
		{name: "descriptors past end", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) { return mem[:len(mem)-1], off }},
		{name: "ring larger than memory", size: 2 * size, want: ErrLayout},
		{name: "producer past end", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) {
				off.Producer = uint64(len(mem) - 2)
				return mem, off
			}},
		{name: "consumer far past end", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) {
				off.Consumer = math.MaxUint64 - 1
				return mem, off
			}},
		{name: "descriptor offset overflows", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) {
				off.Desc = math.MaxUint64 - 7
				return mem, off
			}},
		{name: "consumer misaligned", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) {
				off.Consumer += 2
				return mem, off
			}},
		{name: "flags misaligned", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) {
				off.Flags++
				return mem, off
			}},
		{name: "descriptors misaligned", size: size, want: ErrLayout,
			edit: func(_ []byte, off Offsets) ([]byte, Offsets) {
				mem, _ := Layout(2*size, DescSize) // room to shift the array
				off.Desc++
				return mem, off
			}},
		{name: "memory misaligned", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) { return mem[1:], off }},
		{name: "zero offsets", size: size, want: ErrLayout,
			edit: func(mem []byte, _ Offsets) ([]byte, Offsets) { return mem, Offsets{} }},
		{name: "producer is consumer", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) {
				off.Consumer = off.Producer
				return mem, off
			}},
		{name: "flags inside descriptors", size: size, want: ErrLayout,
			edit: func(mem []byte, off Offsets) ([]byte, Offsets) {
				off.Flags = off.Desc + 8
				return mem, off
			}},
	}
	for _, tt := range tests {
		for _, c := range constructors {
			t.Run(tt.name+"/"+c.name, func(t *testing.T) {
				mem, off := Layout(size, c.descSize)
				if tt.edit != nil {
					mem, off = tt.edit(mem, off)
				}
				err := c.new(mem, off, tt.size)
				if tt.want == nil {
					if err != nil {
						t.Fatalf("got error %v, want nil", err)
					}
					return
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("got error %v, want %v", err, tt.want)
				}
				t.Log(err)
			})
		}
	}
}

func TestProducerEdges(t *testing.T) {
	for _, start := range starts {
		t.Run(fmt.Sprintf("fill/start=%#x", start), func(t *testing.T) {
			testProducerEdges(t, newFillPair(t, 8, start), start, mkAddr)
		})
		t.Run(fmt.Sprintf("tx/start=%#x", start), func(t *testing.T) {
			testProducerEdges(t, newTxPair(t, 8, start), start, mkDesc)
		})
	}
}

func testProducerEdges[T comparable](t *testing.T, p prodPair[T], start uint32, mk func(uint64) T) {
	u := p.user
	check := func(what string, got, want uint32) {
		t.Helper()
		if got != want {
			t.Fatalf("%s = %d (%#x), want %d (%#x)", what, got, got, want, want)
		}
	}
	reserve := func(n, wantIdx, wantGot uint32) {
		t.Helper()
		idx, got := u.Reserve(n)
		check(fmt.Sprintf("Reserve(%d) got", n), got, wantGot)
		if got > 0 {
			check(fmt.Sprintf("Reserve(%d) idx", n), idx, wantIdx)
		}
		for i := range got {
			u.Set(idx+i, mk(uint64(idx+i-start)))
		}
	}
	drain := func(n int, first uint64) {
		t.Helper()
		buf := make([]T, 16)
		got := p.kern.Consume(buf[:n])
		check("kernel Consume", uint32(got), uint32(n))
		for i, v := range buf[:got] {
			if want := mk(first + uint64(i)); v != want {
				t.Fatalf("kernel entry %d = %v, want %v", i, v, want)
			}
		}
	}

	check("Size", u.Size(), 8)
	check("Free", u.Free(), 8)
	check("Pending", u.Pending(), 0)
	reserve(5, start, 5)
	reserve(5, start+5, 3) // partial
	reserve(1, 0, 0)       // full
	check("Free after reserving all", u.Free(), 0)
	check("Pending before Submit", u.Pending(), 0)
	if got := p.kern.Consume(make([]T, 8)); got != 0 {
		t.Fatalf("kernel consumed %d unsubmitted entries", got)
	}
	u.Submit(8)
	check("Pending", u.Pending(), 8)
	reserve(1, 0, 0)
	drain(3, 0)
	check("Pending", u.Pending(), 5)
	check("Free", u.Free(), 3)
	reserve(5, start+8, 3) // stale cache: re-reads the consumer
	u.Submit(2)
	check("Pending after partial Submit", u.Pending(), 7)
	u.Submit(1)
	check("Pending", u.Pending(), 8)
	drain(8, 3)
	check("Pending", u.Pending(), 0)
	check("Free", u.Free(), 8)
	if n := u.Produce([]T{mk(11), mk(12), mk(13)}); n != 3 {
		t.Fatalf("Produce = %d, want 3", n)
	}
	drain(3, 11)
}

func TestConsumerEdges(t *testing.T) {
	for _, start := range starts {
		t.Run(fmt.Sprintf("rx/start=%#x", start), func(t *testing.T) {
			testConsumerEdges(t, newRxPair(t, 8, start), start, mkDesc)
		})
		t.Run(fmt.Sprintf("comp/start=%#x", start), func(t *testing.T) {
			testConsumerEdges(t, newCompPair(t, 8, start), start, mkAddr)
		})
	}
}

func testConsumerEdges[T comparable](t *testing.T, p consPair[T], start uint32, mk func(uint64) T) {
	u := p.user
	check := func(what string, got, want uint32) {
		t.Helper()
		if got != want {
			t.Fatalf("%s = %d (%#x), want %d (%#x)", what, got, got, want, want)
		}
	}
	next := uint64(0) // next value the kernel produces
	produce := func(n, want int) {
		t.Helper()
		vs := make([]T, n)
		for i := range vs {
			vs[i] = mk(next + uint64(i))
		}
		got := p.kern.Produce(vs)
		check(fmt.Sprintf("kernel Produce(%d)", n), uint32(got), uint32(want))
		next += uint64(got)
	}
	peek := func(n, wantIdx, wantGot uint32) {
		t.Helper()
		idx, got := u.Peek(n)
		check(fmt.Sprintf("Peek(%d) got", n), got, wantGot)
		if got == 0 {
			return
		}
		check(fmt.Sprintf("Peek(%d) idx", n), idx, wantIdx)
		for i := range got {
			if v, want := u.Get(idx+i), mk(uint64(idx+i-start)); v != want {
				t.Fatalf("entry %#x = %v, want %v", idx+i, v, want)
			}
		}
	}

	check("Size", u.Size(), 8)
	check("Pending", u.Pending(), 0)
	peek(4, 0, 0) // empty
	produce(3, 3)
	check("Pending", u.Pending(), 3)
	peek(5, start, 3) // partial
	peek(1, 0, 0)
	check("Pending while peeked", u.Pending(), 0)
	u.Release(2)
	produce(10, 7) // one slot is still held by the consumer
	produce(1, 0)  // full
	check("Pending", u.Pending(), 7)
	peek(2, start+3, 2)
	peek(10, start+5, 5)
	u.Release(1)
	u.Release(7)
	check("Pending", u.Pending(), 0)
	produce(8, 8)
	buf := make([]T, 5)
	recv := next - 8
	for _, want := range []int{5, 3, 0} {
		got := u.Consume(buf)
		check("Consume", uint32(got), uint32(want))
		for i, v := range buf[:got] {
			if v != mk(recv) {
				t.Fatalf("Consume entry %d = %v, want %v", i, v, mk(recv))
			}
			recv++
		}
	}
}

func TestWrapAround(t *testing.T) {
	// Start 16 entries short of 2^32 so the indices wrap half way through
	// the first lap, and check the slot positions directly.
	const size = 64
	mem, off := ringMem(size, AddrSize, 0xFFFFFFF0)
	r := must(NewFillRing(mem, off, size))
	k := must(NewKernelFill(mem, off, size))
	idx, got := r.Reserve(32)
	if idx != 0xFFFFFFF0 || got != 32 {
		t.Fatalf("Reserve(32) = %#x, %d; want 0xfffffff0, 32", idx, got)
	}
	for i := range got {
		r.Set(idx+i, uint64(idx+i))
	}
	r.Submit(got)
	if idx, got := r.Reserve(1); idx != 0x10 || got != 1 {
		t.Fatalf("Reserve(1) after wrap = %#x, %d; want 0x10, 1", idx, got)
	}
	r.Submit(1) // slot 0x10 still holds zero
	buf := make([]uint64, size)
	if n := k.Consume(buf); n != 33 {
		t.Fatalf("kernel consumed %d, want 33", n)
	}
	for i, v := range buf[:32] {
		if want := uint64(0xFFFFFFF0 + uint32(i)); v != want {
			t.Fatalf("entry %d = %#x, want %#x", i, v, want)
		}
	}
	if got, want := r.c.descs[:16], buf[16:32]; !slices.Equal(got, want) {
		t.Fatalf("slots 0..15 = %#x, want %#x", got, want)
	}
	if got, want := r.c.descs[48:], buf[:16]; !slices.Equal(got, want) {
		t.Fatalf("slots 48..63 = %#x, want %#x", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	// Sequential laps through a small ring with batch sizes that do not
	// divide the ring size, using the batch APIs on both sides.
	const total = 10000
	for _, start := range starts {
		t.Run(fmt.Sprintf("fill/start=%#x", start), func(t *testing.T) {
			p := newFillPair(t, 16, start)
			roundTrip(t, p.user.Produce, p.kern.Consume, mkAddr, total)
		})
		t.Run(fmt.Sprintf("tx/start=%#x", start), func(t *testing.T) {
			p := newTxPair(t, 16, start)
			roundTrip(t, p.user.Produce, p.kern.Consume, mkDesc, total)
		})
		t.Run(fmt.Sprintf("rx/start=%#x", start), func(t *testing.T) {
			p := newRxPair(t, 16, start)
			roundTrip(t, p.kern.Produce, p.user.Consume, mkDesc, total)
		})
		t.Run(fmt.Sprintf("comp/start=%#x", start), func(t *testing.T) {
			p := newCompPair(t, 16, start)
			roundTrip(t, p.kern.Produce, p.user.Consume, mkAddr, total)
		})
	}
}

func roundTrip[T comparable](t *testing.T, produce, consume func([]T) int, mk func(uint64) T, total uint64) {
	in := make([]T, 0, 64)
	out := make([]T, 64)
	var sent, recv uint64
	for step := 0; recv < total; step++ {
		in = in[:0]
		for i := range uint64(step%23 + 1) {
			in = append(in, mk(sent+i))
		}
		sent += uint64(produce(in))
		n := consume(out[:step%13+1])
		for i, v := range out[:n] {
			if want := mk(recv + uint64(i)); v != want {
				t.Fatalf("entry %d = %v, want %v", recv+uint64(i), v, want)
			}
		}
		recv += uint64(n)
		if step > 100*int(total) {
			t.Fatalf("no progress: sent %d, received %d", sent, recv)
		}
	}
}

func TestMisusePanics(t *testing.T) {
	fill := newFillPair(t, 8, 0).user
	tx := newTxPair(t, 8, 0).user
	rx := newRxPair(t, 8, 0)
	comp := newCompPair(t, 8, 0)
	tests := []struct {
		name string
		f    func()
	}{
		{"fill Submit without Reserve", func() { fill.Submit(1) }},
		{"fill Submit more than reserved", func() { fill.Reserve(2); fill.Submit(3) }},
		{"tx Submit without Reserve", func() { tx.Submit(1) }},
		{"rx Release without Peek", func() { rx.user.Release(1) }},
		{"comp Release more than peeked", func() {
			comp.kern.Produce([]uint64{1, 2, 3})
			comp.user.Peek(2)
			comp.user.Release(3)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f()
		})
	}
}

func TestBrokenPeer(t *testing.T) {
	// A peer that writes nonsense indices must not make a ring hand out
	// slots it does not have.
	mem, off := ringMem(8, AddrSize, 100)
	fill := must(NewFillRing(mem, off, 8))
	fill.Reserve(8)
	fill.Submit(8)
	mem[off.Consumer] = 200 // consumer ahead of producer
	if _, got := fill.Reserve(4); got != 0 {
		t.Errorf("fill Reserve with consumer ahead of producer got %d, want 0", got)
	}
	mem, off = ringMem(8, AddrSize, 100)
	comp := must(NewCompRing(mem, off, 8))
	mem[off.Producer] = 200 // producer more than a ring ahead
	if _, got := comp.Peek(4); got != 0 {
		t.Errorf("comp Peek with producer a ring ahead got %d, want 0", got)
	}
	mem[off.Producer] = 50 // producer behind consumer
	if _, got := comp.Peek(4); got != 0 {
		t.Errorf("comp Peek with producer behind consumer got %d, want 0", got)
	}
}

func TestNeedWakeup(t *testing.T) {
	fill, tx, rx, comp := newFillPair(t, 8, 0), newTxPair(t, 8, 0), newRxPair(t, 8, 0), newCompPair(t, 8, 0)
	tests := []struct {
		name string
		set  func(uint32)
		get  func() bool
	}{
		{"fill", fill.kern.SetFlags, fill.user.NeedWakeup},
		{"tx", tx.kern.SetFlags, tx.user.NeedWakeup},
		{"rx", rx.kern.SetFlags, rx.user.NeedWakeup},
		{"comp", comp.kern.SetFlags, comp.user.NeedWakeup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []struct {
				flags uint32
				want  bool
			}{{0, false}, {NeedWakeup, true}, {0, false}, {NeedWakeup | 6, true}, {6, false}} {
				tt.set(step.flags)
				if got := tt.get(); got != step.want {
					t.Fatalf("flags %#x: NeedWakeup() = %v, want %v", step.flags, got, step.want)
				}
			}
		})
	}
}
