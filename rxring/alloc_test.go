package rxring

import "testing"

func TestZeroAllocs(t *testing.T) {
	const size = 64
	fill, tx, rx, comp := newFillPair(t, size, 0), newTxPair(t, size, 0), newRxPair(t, size, 0), newCompPair(t, size, 0)
	fillRing := fill.user.(*FillRing)
	txRing := tx.user.(*TxRing)
	rxRing := rx.user.(rxUser).RxRing
	compRing := comp.user.(compUser).CompRing
	addrs := make([]uint64, 16)
	descs := make([]Desc, 16)
	var sink uint64

	tests := []struct {
		name string
		f    func()
	}{
		{"fill Reserve/Set/Submit", func() {
			idx, got := fillRing.Reserve(8)
			for i := range got {
				fillRing.Set(idx+i, uint64(i))
			}
			fillRing.Submit(got)
			fill.kern.Consume(addrs)
		}},
		{"fill Produce", func() {
			fillRing.Produce(addrs)
			fill.kern.Consume(addrs)
		}},
		{"tx Reserve/Set/Submit", func() {
			idx, got := txRing.Reserve(8)
			for i := range got {
				txRing.Set(idx+i, Desc{Addr: uint64(i), Len: 64})
			}
			txRing.Submit(got)
			tx.kern.Consume(descs)
		}},
		{"tx Produce", func() {
			txRing.Produce(descs)
			tx.kern.Consume(descs)
		}},
		{"rx Peek/Desc/Release", func() {
			rx.kern.Produce(descs)
			idx, got := rxRing.Peek(16)
			for i := range got {
				sink += rxRing.Desc(idx + i).Addr
			}
			rxRing.Release(got)
		}},
		{"rx Consume", func() {
			rx.kern.Produce(descs)
			rxRing.Consume(descs)
		}},
		{"comp Peek/Addr/Release", func() {
			comp.kern.Produce(addrs)
			idx, got := compRing.Peek(16)
			for i := range got {
				sink += compRing.Addr(idx + i)
			}
			compRing.Release(got)
		}},
		{"comp Consume", func() {
			comp.kern.Produce(addrs)
			compRing.Consume(addrs)
		}},
		{"state", func() {
			sink += uint64(fillRing.Pending() + fillRing.Free() + txRing.Pending() + txRing.Free() +
				rxRing.Pending() + compRing.Pending())
			if fillRing.NeedWakeup() || txRing.NeedWakeup() || rxRing.NeedWakeup() || compRing.NeedWakeup() {
				sink++
			}
			fill.kern.SetFlags(0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
		})
	}
	_ = sink
}

// BenchmarkFill measures a user-space Produce and a kernel-side Consume of
// a 64-entry batch on a 2048-slot fill ring.
func BenchmarkFill(b *testing.B) {
	p := newFillPair(b, 2048, 0)
	batch := make([]uint64, 64)
	for i := range batch {
		batch[i] = mkAddr(uint64(i))
	}
	out := make([]uint64, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch) * AddrSize))
	for b.Loop() {
		p.user.Produce(batch)
		p.kern.Consume(out)
	}
}

// BenchmarkRxPeekRelease measures a kernel-side Produce of 64 descriptors
// and the user-space Peek/Desc/Release loop that a poller runs over them.
func BenchmarkRxPeekRelease(b *testing.B) {
	p := newRxPair(b, 2048, 0)
	r := p.user.(rxUser).RxRing
	batch := make([]Desc, 64)
	for i := range batch {
		batch[i] = mkDesc(uint64(i))
	}
	var sum uint64
	b.ReportAllocs()
	b.SetBytes(int64(len(batch) * DescSize))
	for b.Loop() {
		p.kern.Produce(batch)
		idx, got := r.Peek(64)
		for i := range got {
			sum += uint64(r.Desc(idx + i).Len)
		}
		r.Release(got)
	}
	_ = sum
}

// BenchmarkTxReserveSubmit measures the user-space Reserve/Set/Submit loop
// for 64 descriptors and a kernel-side Consume.
func BenchmarkTxReserveSubmit(b *testing.B) {
	p := newTxPair(b, 2048, 0)
	r := p.user.(*TxRing)
	out := make([]Desc, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(out) * DescSize))
	for b.Loop() {
		idx, got := r.Reserve(64)
		for i := range got {
			r.Set(idx+i, Desc{Addr: uint64(i) * 2048, Len: 60})
		}
		r.Submit(got)
		p.kern.Consume(out)
	}
}
