package xsk

import (
	"bytes"
	"testing"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/rxring"
	"github.com/rxpath/rxpath/umem"
)

// far is the other side of the rings: what the kernel or a NIC does.
type far struct {
	fill *rxring.KernelFill
	rx   *rxring.KernelRx
	tx   *rxring.KernelTx
	comp *rxring.KernelComp
}

func newRings(t *testing.T) (*Rings, *far) {
	t.Helper()
	u, err := umem.New(umem.Options{FrameSize: umem.FrameSize2K, FrameCount: 64, TxFrames: 8})
	if err != nil {
		t.Fatal(err)
	}
	const size = 32
	fm, foff := rxring.Layout(size, rxring.AddrSize)
	rm, roff := rxring.Layout(size, rxring.DescSize)
	tm, toff := rxring.Layout(8, rxring.DescSize)
	cm, coff := rxring.Layout(8, rxring.AddrSize)
	r := &Rings{UMEM: u,
		Fill: must(rxring.NewFillRing(fm, foff, size)), Rx: must(rxring.NewRxRing(rm, roff, size)),
		Tx: must(rxring.NewTxRing(tm, toff, 8)), Comp: must(rxring.NewCompRing(cm, coff, 8))}
	f := &far{fill: must(rxring.NewKernelFill(fm, foff, size)), rx: must(rxring.NewKernelRx(rm, roff, size)),
		tx: must(rxring.NewKernelTx(tm, toff, 8)), comp: must(rxring.NewKernelComp(cm, coff, 8))}
	r.Init(new(Counters))
	t.Cleanup(func() {
		u.Reclaim()
		u.Close()
	})
	return r, f
}

func must[R any](r R, err error) R {
	if err != nil {
		panic(err)
	}
	return r
}

// TestRoundTrip runs frames both ways through the rings, with a bad
// descriptor among them, and checks the counters and the ledger after
// each step.
func TestRoundTrip(t *testing.T) {
	r, f := newRings(t)
	if n := r.Refill(); n != 32 {
		t.Fatalf("Refill = %d, want 32 (the fill ring's size; 56 receive frames)", n)
	}
	addrs := make([]uint64, 32)
	if n := f.fill.Consume(addrs); n != 32 {
		t.Fatalf("the far side took %d fill entries, want 32", n)
	}
	// Three frames, the middle one at an address the far side does not
	// own.
	off := uint64(r.UMEM.DataOffset())
	data := []byte("frame data")
	for _, a := range []uint64{addrs[0], addrs[1]} {
		copy(r.UMEM.Bytes()[a+off:], data)
	}
	descs := []rxring.Desc{{Addr: addrs[0] + off, Len: uint32(len(data))}, {Addr: 1 << 40, Len: 10}, {Addr: addrs[1] + off, Len: uint32(len(data))}}
	if n := f.rx.Produce(descs); n != 3 {
		t.Fatalf("posted %d rx descriptors, want 3", n)
	}
	frames := make([]driver.Frame, 8)
	k := r.Receive(frames)
	if k != 2 || !bytes.Equal(frames[0].Data, data) || !bytes.Equal(frames[1].Data, data) {
		t.Fatalf("Receive = %d frames %q %q, want 2 of %q", k, frames[0].Data, frames[1].Data, data)
	}
	if got := r.C.RxInvalid.Load(); got != 1 {
		t.Errorf("RxInvalid = %d, want 1", got)
	}
	if got := r.C.RxFrames.Load(); got != 0 {
		t.Errorf("RxFrames before Publish = %d, want 0", got)
	}
	r.Release(frames[:k])
	r.Publish()
	if got, want := r.C.RxFrames.Load(), uint64(2); got != want {
		t.Errorf("RxFrames = %d, want %d", got, want)
	}
	if got, want := r.C.Refilled.Load(), uint64(32); got != want {
		t.Errorf("Refilled = %d, want %d", got, want)
	}
	if err := r.UMEM.Check(); err != nil {
		t.Fatalf("ledger after receive: %v", err)
	}

	// Transmit: one frame too large for a 2 KiB frame, two that fit.
	big := make([]byte, 4096)
	taken, queued := r.Transmit([][]byte{[]byte("a"), big, []byte("bc")})
	if taken != 3 || queued != 2 {
		t.Fatalf("Transmit = %d taken, %d queued; want 3, 2", taken, queued)
	}
	if r.C.TxOversize.Load() != 1 || r.C.TxFrames.Load() != 2 || !r.TxInFlight() {
		t.Fatalf("after Transmit: oversize %d, frames %d, in flight %v", r.C.TxOversize.Load(), r.C.TxFrames.Load(), r.TxInFlight())
	}
	sent := make([]rxring.Desc, 8)
	n := f.tx.Consume(sent)
	if n != 2 || sent[0].Len != 1 || sent[1].Len != 2 {
		t.Fatalf("the far side took %d tx descriptors %+v", n, sent[:n])
	}
	f.comp.Produce([]uint64{sent[0].Addr, sent[1].Addr})
	r.Reap()
	if r.TxInFlight() || r.C.TxCompleted.Load() != 2 {
		t.Fatalf("after Reap: completed %d, in flight %v", r.C.TxCompleted.Load(), r.TxInFlight())
	}
	if err := r.UMEM.Check(); err != nil {
		t.Fatalf("ledger after transmit: %v", err)
	}
	var s driver.QueueStats
	r.Levels(&s)
	if s.FillRingSize != 32 || s.RxRingSize != 32 {
		t.Errorf("Levels: fill size %d, rx size %d; want 32, 32", s.FillRingSize, s.RxRingSize)
	}
	if b := r.Buffers(); b.Total != 64 {
		t.Errorf("Buffers().Total = %d, want 64", b.Total)
	}
}

// TestTransmitOnly: without fill and rx rings the receive side does
// nothing.
func TestTransmitOnly(t *testing.T) {
	r, _ := newRings(t)
	r.Fill, r.Rx = nil, nil
	if n := r.Refill(); n != 0 {
		t.Errorf("Refill = %d, want 0", n)
	}
	if n := r.Receive(make([]driver.Frame, 4)); n != 0 {
		t.Errorf("Receive = %d, want 0", n)
	}
}
