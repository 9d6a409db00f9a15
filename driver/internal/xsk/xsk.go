// Package xsk is the user side of AF_XDP's four rings over a UMEM,
// written once for driver/afxdp, whose rings the kernel shares, and
// driver/memnic, whose rings sit in plain memory with a thread playing
// the NIC on their far side.
//
// Rings holds the rings, the UMEM and the scratch of both directions. It
// does the ring work: posting free frames to the fill ring, taking
// descriptors off the rx ring into frames checked against the ledger,
// giving frames back, queuing transmit buffers and reaping completions.
// It does not lock, kick or sleep: the driver's Queue wraps each call in
// its own life lock or claim (package sockq for afxdp), kicks the kernel
// or its NIC thread where its far side needs it, and owns Wait and Close.
//
// The receive side (Refill, Receive, Release, Publish) belongs to the
// queue's poller; it keeps its counts in plain fields until Publish adds
// them to the UMEM ledger and to Counters. The transmit side (Transmit,
// Reap) runs under the driver's transmit lock.
package xsk

import (
	"fmt"
	"sync/atomic"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/rxring"
	"github.com/rxpath/rxpath/umem"
)

// Counters are the queue counters the socket and ring drivers keep;
// their Stats report them under the driver.QueueStats fields of the same
// names.
type Counters struct {
	RxFrames, RxBytes, RxInvalid, RxTrunc, Refilled, RxKicks                     atomic.Uint64
	TxFrames, TxBytes, TxOversize, TxRingFull, TxKicks, TxKickError, TxCompleted atomic.Uint64
	TxKicksDeferred                                                              atomic.Uint64
	Waits, Wakeups                                                               atomic.Uint64
}

// Rings is one queue's UMEM and the rings over it. Set UMEM and the
// rings, then call Init. A transmit-only queue leaves Fill and Rx nil.
type Rings struct {
	UMEM *umem.UMEM
	Fill *rxring.FillRing
	Rx   *rxring.RxRing
	Tx   *rxring.TxRing
	Comp *rxring.CompRing
	C    *Counters // set by Init

	// Receive side, owned by the poller: scratch, the UMEM's batch view,
	// and the counts kept until Publish.
	fillBuf                           []uint64
	rb                                *umem.RxBatch
	pendFrames, pendBytes, pendRefill uint64

	// Transmit side, under the driver's transmit lock.
	compBuf []uint64
	txAddrs []uint64
	txLens  []uint32
	txIdx   []int
}

// Init takes the counters the rings count in, and makes the scratch,
// sized from the rings, and the UMEM's receive batch view. Call it once,
// after UMEM and the rings are set.
func (r *Rings) Init(c *Counters) {
	r.C = c
	r.rb = r.UMEM.RxBatch()
	if r.Fill != nil {
		r.fillBuf = make([]uint64, r.Fill.Size())
	}
	if r.Comp != nil {
		r.compBuf = make([]uint64, r.Comp.Size())
	}
	if r.Tx != nil {
		n := r.Tx.Size()
		r.txAddrs = make([]uint64, 0, n)
		r.txLens = make([]uint32, 0, n)
		r.txIdx = make([]int, 0, n)
	}
}

// Refill posts free receive frames to the fill ring and returns how many.
func (r *Rings) Refill() int {
	if r.Fill == nil {
		return 0
	}
	free := r.Fill.Free()
	if free == 0 {
		return 0
	}
	n := r.rb.TakeForFill(r.fillBuf[:min(int(free), len(r.fillBuf))])
	if n > 0 {
		r.Fill.Produce(r.fillBuf[:n])
		r.pendRefill += uint64(n)
	}
	return n
}

// Receive takes up to len(frames) frames off the rx ring. A descriptor
// the ledger refuses (a frame the far side does not own, a length past
// the frame) is counted in RxInvalid and skipped. An empty ring costs one
// read of its producer index.
func (r *Rings) Receive(frames []driver.Frame) int {
	if r.Rx == nil {
		return 0
	}
	idx, got := r.Rx.Peek(uint32(len(frames)))
	if got == 0 {
		return 0
	}
	k := 0
	var bytes uint64
	for i := uint32(0); i < got; i++ {
		d := r.Rx.Desc(idx + i)
		b, ok := r.rb.Received(d.Addr, d.Len)
		if !ok {
			r.C.RxInvalid.Add(1)
			continue
		}
		frames[k] = driver.Frame{Data: b, Handle: d.Addr}
		bytes += uint64(d.Len)
		k++
	}
	r.Rx.Release(got)
	r.pendFrames += uint64(k)
	r.pendBytes += bytes
	return k
}

// Release gives received frames back to the free list, counted until
// Publish.
func (r *Rings) Release(frames []driver.Frame) {
	for i := range frames {
		r.rb.Release(frames[i].Handle)
	}
}

// ReleaseClosed gives back frames released after the queue closed (the
// UMEM's ReleaseClosed): safe from any goroutine once Close has
// published.
func (r *Rings) ReleaseClosed(frames []driver.Frame) {
	for i := range frames {
		r.UMEM.ReleaseClosed(frames[i].Handle)
	}
}

// Publish adds what the receive side counted since the last Publish to
// the ledger and Counters.
func (r *Rings) Publish() {
	if r.rb != nil {
		r.rb.Commit()
	}
	if r.pendFrames != 0 || r.pendBytes != 0 {
		r.C.RxFrames.Add(r.pendFrames)
		r.C.RxBytes.Add(r.pendBytes)
		r.pendFrames, r.pendBytes = 0, 0
	}
	if r.pendRefill != 0 {
		r.C.Refilled.Add(r.pendRefill)
		r.pendRefill = 0
	}
}

// Transmit reaps completions, copies frames into transmit buffers and
// queues them on the tx ring. It returns how many of frames it took
// (a frame larger than a UMEM frame is taken and dropped, counted in
// TxOversize; it stops at the first frame without a buffer or a ring
// slot, counting the rest in TxRingFull) and how many it queued: the
// caller kicks its far side when that is not 0. The caller holds the
// transmit lock.
func (r *Rings) Transmit(frames [][]byte) (taken int, queued uint32) {
	r.Reap()
	limit := uint32(r.UMEM.FrameSize())
	// Take buffers first, then ring slots; buffers without a slot go back.
	r.txAddrs, r.txLens, r.txIdx = r.txAddrs[:0], r.txLens[:0], r.txIdx[:0]
	n := 0
	for ; n < len(frames) && len(r.txAddrs) < cap(r.txAddrs); n++ {
		f := frames[n]
		if uint32(len(f)) > limit {
			continue
		}
		addr, ok := r.UMEM.AllocTx()
		if !ok {
			break
		}
		copy(r.UMEM.TxBuffer(addr), f)
		r.txAddrs = append(r.txAddrs, addr)
		r.txLens = append(r.txLens, uint32(len(f)))
		r.txIdx = append(r.txIdx, n)
	}
	idx, got := r.Tx.Reserve(uint32(len(r.txAddrs)))
	var bytes uint64
	for i := range r.txAddrs {
		if uint32(i) >= got {
			r.UMEM.AbortTx(r.txAddrs[i])
			continue
		}
		r.UMEM.SubmitTx(r.txAddrs[i])
		r.Tx.Set(idx+uint32(i), rxring.Desc{Addr: r.txAddrs[i], Len: r.txLens[i]})
		bytes += uint64(r.txLens[i])
	}
	if int(got) < len(r.txAddrs) {
		n = r.txIdx[got] // the first frame without a slot
	}
	for _, f := range frames[:n] {
		if uint32(len(f)) > limit {
			r.C.TxOversize.Add(1)
		}
	}
	r.Tx.Submit(got)
	if n < len(frames) {
		r.C.TxRingFull.Add(uint64(len(frames) - n))
	}
	if got > 0 {
		r.C.TxFrames.Add(uint64(got))
		r.C.TxBytes.Add(bytes)
	}
	return n, got
}

// Reap moves completed transmit frames back to the free list. The caller
// holds the transmit lock.
func (r *Rings) Reap() {
	if r.Comp == nil {
		return
	}
	n := r.Comp.Consume(r.compBuf)
	for _, a := range r.compBuf[:n] {
		r.UMEM.Completed(a)
	}
	r.C.TxCompleted.Add(uint64(n))
}

// TxInFlight reports whether queued frames await completion.
func (r *Rings) TxInFlight() bool {
	return r.C.TxFrames.Load() != r.C.TxCompleted.Load()
}

// Levels fills in the rx and fill rings' levels and sizes. The rings
// must be mapped.
func (r *Rings) Levels(s *driver.QueueStats) {
	if r.Rx != nil && r.Fill != nil {
		s.RxRingLevel, s.RxRingSize = r.Rx.Level(), r.Rx.Size()
		s.FillRingLevel, s.FillRingSize = r.Fill.Level(), r.Fill.Size()
	}
}

// Buffers returns the UMEM's frame counts, by owner.
func (r *Rings) Buffers() driver.Buffers {
	if r.UMEM == nil {
		return driver.Buffers{Unit: "umem frame"}
	}
	u := r.UMEM.Stats()
	return driver.Buffers{Unit: "umem frame", Total: u.Frames, Free: u.Free, Kernel: u.Fill, Held: u.Held, Tx: u.Tx,
		BadRelease: u.BadRelease, Foreign: u.Foreign}
}

// The default ring sizes of an AF_XDP queue (afxdp's, and memnic's,
// which stands in for it). Fill and rx are larger than the UMEM's default
// 3584 receive frames, so that every receive frame can wait in a ring.
const (
	DefaultFillSize = 4096
	DefaultRxSize   = 4096
	DefaultTxSize   = 512
	DefaultCompSize = 512
)

// SizeDefaults sets each ring size that is 0 to its default.
func SizeDefaults(fill, rx, tx, comp *uint32) {
	for _, s := range []struct {
		p *uint32
		d uint32
	}{{fill, DefaultFillSize}, {rx, DefaultRxSize}, {tx, DefaultTxSize}, {comp, DefaultCompSize}} {
		if *s.p == 0 {
			*s.p = s.d
		}
	}
}

// CheckSizes names the first ring whose size is not a power of two.
func CheckSizes(fill, rx, tx, comp uint32) error {
	for _, r := range []struct {
		name string
		size uint32
	}{{"fill", fill}, {"rx", rx}, {"tx", tx}, {"completion", comp}} {
		if r.size&(r.size-1) != 0 {
			return fmt.Errorf("%s ring size %d is not a power of two", r.name, r.size)
		}
	}
	return nil
}
