package umem

import (
	"errors"
	"testing"
)

func newTest(t *testing.T, o Options) *UMEM {
	t.Helper()
	u, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"2k", Options{FrameSize: 2048, FrameCount: 64}, true},
		{"odd size", Options{FrameSize: 3000}, false},
		{"too many tx", Options{FrameCount: 8, TxFrames: 8}, false},
		{"headroom too big", Options{FrameSize: 2048, Headroom: 1800}, false},
		{"negative count", Options{FrameCount: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(tc.o)
			if tc.ok != (err == nil) {
				t.Fatalf("New(%+v) error = %v, want ok=%v", tc.o, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if u != nil {
				u.Close()
			}
		})
	}
}

func TestLedgerLifecycle(t *testing.T) {
	u := newTest(t, Options{FrameSize: 2048, FrameCount: 16, TxFrames: 4})
	if got := u.RxFrames(); got != 12 {
		t.Fatalf("RxFrames = %d, want 12", got)
	}
	fill := make([]uint64, 32)
	n := u.TakeForFill(fill)
	if n != 12 {
		t.Fatalf("TakeForFill = %d, want 12 (whole rx partition)", n)
	}
	if s := u.Stats(); s.Fill != 12 || s.Free != 4 {
		t.Fatalf("after fill: %+v", s)
	}
	// The kernel hands frames back with the data offset added.
	off := uint64(u.DataOffset())
	for _, a := range fill[:n] {
		if !u.Received(a + off) {
			t.Fatalf("Received(%#x) refused", a+off)
		}
	}
	// A second receive of the same frame is foreign: the kernel did not own it.
	if u.Received(fill[0] + off) {
		t.Fatal("duplicate receive accepted")
	}
	if !u.Release(fill[0] + off) {
		t.Fatal("release refused")
	}
	if u.Release(fill[0]) {
		t.Fatal("double release accepted")
	}
	if u.Release(1 << 40) {
		t.Fatal("foreign release accepted")
	}
	for _, a := range fill[1:n] {
		u.Release(a)
	}
	tx, ok := u.AllocTx()
	if !ok || int(tx>>11) < 12 {
		t.Fatalf("AllocTx = %#x, %v; want a frame of the tx partition", tx, ok)
	}
	if !u.SubmitTx(tx) || u.SubmitTx(tx) {
		t.Fatal("SubmitTx should succeed once")
	}
	if u.Completed(fill[1]) {
		t.Fatal("completion of an rx frame accepted")
	}
	if !u.Completed(tx) {
		t.Fatal("completion refused")
	}
	s := u.Stats()
	if s.BadRelease != 2 || s.Foreign != 3 {
		t.Fatalf("BadRelease=%d Foreign=%d, want 2 and 3", s.BadRelease, s.Foreign)
	}
	if s.Free != 16 {
		t.Fatalf("all frames should be free: %+v", s)
	}
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestReclaimAndClose(t *testing.T) {
	u := newTest(t, Options{FrameSize: 2048, FrameCount: 8, TxFrames: 2})
	fill := make([]uint64, 6)
	u.TakeForFill(fill)
	u.Received(fill[0])
	tx, _ := u.AllocTx()
	u.SubmitTx(tx)
	u.Reclaim()
	s := u.Stats()
	if s.Held != 1 || s.Free != 7 {
		t.Fatalf("after reclaim: %+v", s)
	}
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
	// Close with a held frame defers the unmap; the view stays valid.
	v, ok := u.View(fill[0]+256, 64)
	if !ok {
		t.Fatal("view refused")
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	v[0] = 1 // must not fault
	if !u.ReleaseClosed(fill[0]) {
		t.Fatal("ReleaseClosed refused")
	}
	if err := u.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestView(t *testing.T) {
	u := newTest(t, Options{FrameSize: 2048, FrameCount: 4})
	if _, ok := u.View(2048+256, 2048-256); !ok {
		t.Fatal("full-frame view refused")
	}
	if _, ok := u.View(2048+256, 2048-255); ok {
		t.Fatal("view crossing into the next frame accepted")
	}
	if _, ok := u.View(4*2048, 1); ok {
		t.Fatal("view outside the area accepted")
	}
}

func TestCheckCatchesCorruption(t *testing.T) {
	u := newTest(t, Options{FrameSize: 2048, FrameCount: 8})
	u.l.state[3] = Held // a frame that moved without the ledger knowing
	if err := u.Check(); err == nil {
		t.Fatal("Check missed a frame in two places")
	}
}

func TestZeroAllocs(t *testing.T) {
	u := newTest(t, Options{FrameSize: 2048, FrameCount: 256})
	fill := make([]uint64, 64)
	allocs := testing.AllocsPerRun(100, func() {
		n := u.TakeForFill(fill)
		for _, a := range fill[:n] {
			u.Received(a + 256)
			u.Release(a + 256)
		}
		if tx, ok := u.AllocTx(); ok {
			u.SubmitTx(tx)
			u.Completed(tx)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per cycle, want 0", allocs)
	}
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCycle(b *testing.B) {
	u, err := New(Options{FrameSize: 2048, FrameCount: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	fill := make([]uint64, 64)
	b.ReportAllocs()
	for b.Loop() {
		n := u.TakeForFill(fill)
		for _, a := range fill[:n] {
			u.Received(a + 256)
			u.Release(a + 256)
		}
	}
}

// An RxBatch makes the same transitions as the per-frame methods, with the
// same checks, and counts them once per Commit.
func TestRxBatch(t *testing.T) {
	u := newTest(t, Options{FrameSize: 2048, FrameCount: 16, TxFrames: 4})
	rb := u.RxBatch()
	fill := make([]uint64, 8)
	n := rb.TakeForFill(fill)
	if n != 8 {
		t.Fatalf("TakeForFill = %d, want 8", n)
	}
	if s := u.Stats(); s.Fill != 0 || s.Free != 16 {
		t.Fatalf("counts changed before Commit: %+v", s)
	}
	if !rb.Pending() || u.Check() == nil {
		t.Fatal("uncommitted batch not reported")
	}
	rb.Commit()
	if s := u.Stats(); s.Fill != 8 || s.Free != 8 || rb.Pending() {
		t.Fatalf("after commit: %+v", s)
	}
	off := uint64(u.DataOffset())
	v, ok := rb.Received(fill[0]+off, 60)
	if !ok || len(v) != 60 || &v[0] != &u.Bytes()[fill[0]+off] {
		t.Fatalf("Received = %d bytes, %v; want a 60-byte view at the address", len(v), ok)
	}
	if _, ok := rb.Received(fill[0]+off, 60); ok {
		t.Fatal("duplicate receive accepted")
	}
	if _, ok := rb.Received(1<<40, 60); ok {
		t.Fatal("foreign receive accepted")
	}
	// A length that leaves the frame: refused, and the frame is free again.
	if _, ok := rb.Received(fill[1]+off, 2048); ok {
		t.Fatal("view past the frame accepted")
	}
	if !rb.Release(fill[0] + off) {
		t.Fatal("release refused")
	}
	if rb.Release(fill[0]) {
		t.Fatal("double release accepted")
	}
	for _, a := range fill[2:n] {
		if _, ok := rb.Received(a+off, 100); !ok {
			t.Fatalf("Received(%#x) refused", a+off)
		}
	}
	rb.Commit()
	s := u.Stats()
	if s.Free != 10 || s.Fill != 0 || s.Held != 6 || s.Foreign != 2 || s.BadRelease != 1 {
		t.Fatalf("after the batch: %+v", s)
	}
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
	// Reclaim commits what the owner left uncommitted.
	for _, a := range fill[2:n] {
		rb.Release(a)
	}
	rb.TakeForFill(fill)
	u.Reclaim()
	if s := u.Stats(); s.Free != 16 || rb.Pending() {
		t.Fatalf("after reclaim: %+v", s)
	}
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestRxBatchZeroAllocs(t *testing.T) {
	u := newTest(t, Options{FrameSize: 2048, FrameCount: 256})
	rb := u.RxBatch()
	fill := make([]uint64, 64)
	allocs := testing.AllocsPerRun(100, func() {
		n := rb.TakeForFill(fill)
		for _, a := range fill[:n] {
			rb.Received(a+256, 60)
		}
		for _, a := range fill[:n] {
			rb.Release(a + 256)
		}
		rb.Commit()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch, want 0", allocs)
	}
	if err := u.Check(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRxBatch is BenchmarkCycle through an RxBatch: a refill, receive
// and release of 64 frames, committed once.
func BenchmarkRxBatch(b *testing.B) {
	u, err := New(Options{FrameSize: 2048, FrameCount: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	rb := u.RxBatch()
	fill := make([]uint64, 64)
	b.ReportAllocs()
	for b.Loop() {
		n := rb.TakeForFill(fill)
		for _, a := range fill[:n] {
			rb.Received(a+256, 60)
			rb.Release(a + 256)
		}
		rb.Commit()
	}
}
