package rxring

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Level reads only the shared indices, so an observer goroutine may call
// it while both sides run (-race checks that), and it never exceeds the
// ring size, even across the 2^32 wrap.
func TestLevel(t *testing.T) {
	const size, total = 64, 200_000
	mem, off := ringMem(size, AddrSize, 0xFFFFFF00)
	fill := must(NewFillRing(mem, off, size))
	kern := must(NewKernelFill(mem, off, size))
	mem2, off2 := ringMem(size, DescSize, 0xFFFFFF00)
	rx := must(NewRxRing(mem2, off2, size))
	krx := must(NewKernelRx(mem2, off2, size))

	if fill.Level() != 0 || rx.Level() != 0 {
		t.Fatal("a new ring is not empty")
	}
	addrs := make([]uint64, 10)
	if n := fill.Produce(addrs); n != 10 || fill.Level() != 10 {
		t.Fatalf("after producing 10: level %d", fill.Level())
	}
	if n := kern.Consume(addrs[:4]); n != 4 || fill.Level() != 6 {
		t.Fatalf("after the kernel consumed 4: level %d", fill.Level())
	}
	descs := make([]Desc, 7)
	if n := krx.Produce(descs); n != 7 || rx.Level() != 7 {
		t.Fatalf("rx level %d after 7 produced", rx.Level())
	}
	if n := rx.Consume(descs[:3]); n != 3 || rx.Level() != 4 {
		t.Fatalf("rx level %d after 3 consumed", rx.Level())
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			if l := fill.Level(); l > size {
				t.Errorf("fill level %d > size", l)
			}
			if l := rx.Level(); l > size {
				t.Errorf("rx level %d > size", l)
			}
		}
	})
	buf := make([]uint64, 16)
	dbuf := make([]Desc, 16)
	for moved := 0; moved < total; {
		moved += fill.Produce(buf)
		kern.Consume(buf)
		krx.Produce(dbuf)
		rx.Consume(dbuf)
	}
	stop.Store(true)
	wg.Wait()
}
