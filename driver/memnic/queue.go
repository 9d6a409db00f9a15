package memnic

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/xsk"
	"github.com/rxpath/rxpath/rxring"
	"github.com/rxpath/rxpath/umem"
)

var _ driver.Queue = (*Queue)(nil)

// Queue is one receive queue of a NIC: a UMEM, the four rings, and the
// producer thread that plays the hardware on their far side. See
// driver.Queue for the concurrency contract: Receive, Release, Refill and
// Wait belong to the queue's poller; Transmit, Wake, Stats and Close are
// safe for concurrent use.
type Queue struct {
	// life is read-held by every call that touches the rings or the
	// ledger and write-held by Close while it tears them down, as
	// sockq.Core's life lock is for the socket drivers.
	life   sync.RWMutex
	closed atomic.Bool

	id  int
	nic *NIC
	// r is the UMEM and the rings over it, the same code as afxdp's
	// (package xsk): its receive side is the poller's, its transmit side
	// runs under txMu.
	r xsk.Rings
	p *producer

	started bool // the first Refill ran (and started the producer unless Manual); the poller's

	// polling is 1 while the poller holds a claim (Claim) and 0
	// otherwise; Close waits for it to drop to 0. claimed is the
	// poller's own record of its claim: only the poller touches it. As
	// sockq.Core's.
	polling atomic.Int32
	claimed bool

	// txMu serialises Transmit and the poller's reap.
	txMu sync.Mutex

	// Wait's sleep: intr is the "interrupt" the producer raises when it
	// posts to an empty ring while the poller is armed, and Wake's
	// token; closing is closed by Close. timer is Wait's, stopped
	// between calls.
	intr      chan struct{}
	closing   chan struct{}
	timer     *time.Timer
	errClosed error

	st xsk.Counters
}

// claimWait is how often Close looks whether the poller has dropped its
// claim, as sockq's.
const claimWait = 20 * time.Microsecond

// newQueue builds queue id: its UMEM, its rings over plain memory, and its
// producer's half of them. A failed newQueue releases what it built.
func newQueue(n *NIC, id int) (_ *Queue, err error) {
	o := n.opts
	q := &Queue{
		id:        id,
		nic:       n,
		intr:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		timer:     time.NewTimer(time.Hour),
		errClosed: fmt.Errorf("memnic queue %d: %w", id, net.ErrClosed),
	}
	q.timer.Stop()
	if q.r.UMEM, err = umem.New(o.UMEM); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			q.r.UMEM.Close()
		}
	}()
	if l := len(o.Frame); l > q.r.UMEM.MaxFrameLen() {
		return nil, fmt.Errorf("%w: a %d-byte frame does not fit a %d-byte UMEM frame after %d bytes of headroom",
			ErrInvalid, l, q.r.UMEM.FrameSize(), q.r.UMEM.DataOffset())
	}
	var k kernelRings
	// Each ring gets its own plain memory, laid out as the kernel lays
	// out an mmap'd ring; both halves are built over the same bytes.
	fmem, foff := rxring.Layout(o.FillSize, rxring.AddrSize)
	rmem, roff := rxring.Layout(o.RxSize, rxring.DescSize)
	tmem, toff := rxring.Layout(o.TxSize, rxring.DescSize)
	cmem, coff := rxring.Layout(o.CompSize, rxring.AddrSize)
	if q.r.Fill, err = rxring.NewFillRing(fmem, foff, o.FillSize); err != nil {
		return nil, err
	}
	if q.r.Rx, err = rxring.NewRxRing(rmem, roff, o.RxSize); err != nil {
		return nil, err
	}
	if q.r.Tx, err = rxring.NewTxRing(tmem, toff, o.TxSize); err != nil {
		return nil, err
	}
	if q.r.Comp, err = rxring.NewCompRing(cmem, coff, o.CompSize); err != nil {
		return nil, err
	}
	if k.fill, err = rxring.NewKernelFill(fmem, foff, o.FillSize); err != nil {
		return nil, err
	}
	if k.rx, err = rxring.NewKernelRx(rmem, roff, o.RxSize); err != nil {
		return nil, err
	}
	if k.tx, err = rxring.NewKernelTx(tmem, toff, o.TxSize); err != nil {
		return nil, err
	}
	if k.comp, err = rxring.NewKernelComp(cmem, coff, o.CompSize); err != nil {
		return nil, err
	}
	q.r.Init(&q.st)
	q.p = newProducer(q, k)
	if err := q.p.start(); err != nil {
		return nil, fmt.Errorf("memnic queue %d: %w", id, err)
	}
	// Post receive buffers before the first frame, as afxdp does before
	// bind.
	q.refill()
	q.publish()
	return q, nil
}

// ID returns the queue index.
func (q *Queue) ID() int { return q.id }

// UMEM returns the queue's frame area, for its ledger.
func (q *Queue) UMEM() *umem.UMEM { return q.r.UMEM }

// Claim claims the receive side for the poller's goroutine (the
// poller.Claimer protocol), so that Refill, Receive and Release skip the
// life lock until Unclaim, and keep their counts (the UMEM ledger's and
// RxFrames, RxBytes and Refilled) until Publish. Close waits for the claim
// to end; a claimed call that finds the queue closing publishes and drops
// the claim. It returns false once Close has begun; claiming a claimed
// queue returns true. Poller goroutine only.
//
// The handshake is sockq.Core's (Dekker's): Claim stores polling and then
// loads closed, Close stores closed and then loads polling.
func (q *Queue) Claim() bool {
	if q.claimed {
		return true
	}
	q.polling.Add(1)
	if q.closed.Load() {
		q.polling.Add(-1)
		return false
	}
	q.claimed = true
	return true
}

// Unclaim ends the poller's claim, if it has one. Poller goroutine only.
func (q *Queue) Unclaim() {
	if q.claimed {
		q.claimed = false
		q.polling.Add(-1)
	}
}

// Publish makes what claimed calls counted visible to Stats and exact for
// Check. It does nothing without a claim: calls made without one publish
// their own counts. Poller goroutine only.
func (q *Queue) Publish() {
	if q.claimed {
		q.publish()
	}
}

// dropClaim publishes and ends the claim of a call that found the queue
// closing, so that Close can go on.
func (q *Queue) dropClaim() {
	if q.claimed {
		q.publish()
		q.Unclaim()
	}
}

// publish adds what the receive side counted since the last publish to the
// ledger and the counters that Stats reads. Poller only, or Close once the
// poller has left.
func (q *Queue) publish() { q.r.Publish() }

// publishOpen publishes at the end of a call made without a claim, under
// the life lock, unless Close has run (it published, and releases after it
// may come from any goroutine).
func (q *Queue) publishOpen() {
	if !q.closed.Load() {
		q.publish()
	}
}

// Refill posts free receive frames to the fill ring and reaps completed
// transmissions. The first Refill starts the NIC's producers unless
// Options.Manual is set. Poller goroutine only.
func (q *Queue) Refill() int {
	if !q.started {
		q.started = true
		if !q.nic.opts.Manual {
			q.nic.autoStart()
		}
	}
	if q.claimed {
		return q.refill()
	}
	q.life.RLock()
	defer q.life.RUnlock()
	n := q.refill()
	q.publishOpen()
	return n
}

// refill is Refill's body: the fill ring and the tx reap, without
// afxdp's need_wakeup kick (the NIC polls the fill ring and never sets the
// flag). The caller holds the life lock or a claim (or is newQueue).
func (q *Queue) refill() int {
	if q.closed.Load() {
		q.dropClaim()
		return 0
	}
	n := q.r.Refill()
	if q.r.TxInFlight() && q.txMu.TryLock() {
		q.r.Reap()
		q.txMu.Unlock()
	}
	return n
}

// Receive takes up to len(frames) frames off the rx ring. Poller
// goroutine only.
func (q *Queue) Receive(frames []driver.Frame) int {
	if q.claimed {
		return q.receive(frames)
	}
	q.life.RLock()
	defer q.life.RUnlock()
	n := q.receive(frames)
	q.publishOpen()
	return n
}

func (q *Queue) receive(frames []driver.Frame) int {
	if q.closed.Load() {
		q.dropClaim()
		return 0
	}
	return q.r.Receive(frames)
}

// Release returns received frames to the free list. Poller goroutine
// only; after Close it may be called from any goroutine. A claimed
// release needs no lock (Close waits for the claim to end); an unclaimed
// one holds the life lock, so a release racing Close never meets Close's
// reclaim of the ledger.
func (q *Queue) Release(frames []driver.Frame) {
	if q.claimed {
		// The claim keeps Close's teardown out, even once it has begun.
		q.r.Release(frames)
		return
	}
	q.life.RLock()
	defer q.life.RUnlock()
	if q.closed.Load() {
		q.r.ReleaseClosed(frames)
		return
	}
	q.r.Release(frames)
	q.publish()
}

// Wake makes a current or the next Wait return. Safe for concurrent use.
func (q *Queue) Wake() {
	select {
	case q.intr <- struct{}{}:
	default:
	}
}

// Wait arms the interrupt and sleeps until the producer posts frames,
// Wake is called, Close is called or timeout passes (a negative timeout:
// no limit; zero: no sleep). It returns an error wrapping net.ErrClosed
// after Close. Poller goroutine only.
func (q *Queue) Wait(timeout time.Duration) error {
	q.life.RLock()
	defer q.life.RUnlock()
	if q.closed.Load() {
		return q.errClosed
	}
	if q.r.Rx.Pending() > 0 || timeout == 0 {
		return nil
	}
	q.st.Waits.Add(1)
	// Arm, then look again: either this sees the producer's frames or
	// the producer sees the armed flag (both sides use sequentially
	// consistent atomics), so no post is missed.
	q.p.armed.Store(true)
	if q.r.Rx.Pending() > 0 {
		q.p.armed.Store(false)
		q.st.Wakeups.Add(1)
		return nil
	}
	var expire <-chan time.Time
	if timeout > 0 {
		q.timer.Reset(timeout)
		expire = q.timer.C
	}
	select {
	case <-q.intr:
	case <-q.closing:
	case <-expire:
	}
	q.timer.Stop()
	q.p.armed.Store(false)
	if q.closed.Load() {
		return q.errClosed
	}
	if q.r.Rx.Pending() > 0 {
		q.st.Wakeups.Add(1)
	}
	return nil
}

// Transmit copies frames into transmit buffers and queues them on the tx
// ring, where the producer thread takes them off and completes them (the
// wire is a sink). It is afxdp's Transmit, with a doorbell to an idle
// producer in place of the sendto kick. Safe for concurrent use.
func (q *Queue) Transmit(frames [][]byte) int {
	q.life.RLock()
	defer q.life.RUnlock()
	if q.closed.Load() {
		return 0
	}
	q.txMu.Lock()
	defer q.txMu.Unlock()
	n, queued := q.r.Transmit(frames)
	if queued > 0 {
		q.p.ring()
	}
	return n
}

// Stats returns the queue's counters, with the NIC's drops as the kernel
// counters AF_XDP reports. Safe for concurrent use.
func (q *Queue) Stats() driver.QueueStats {
	ps := q.p.stats()
	s := driver.QueueStats{
		Queue:       q.id,
		RxFrames:    q.st.RxFrames.Load(),
		RxBytes:     q.st.RxBytes.Load(),
		RxInvalid:   q.st.RxInvalid.Load(),
		Refilled:    q.st.Refilled.Load(),
		TxFrames:    q.st.TxFrames.Load(),
		TxBytes:     q.st.TxBytes.Load(),
		TxOversize:  q.st.TxOversize.Load(),
		TxRingFull:  q.st.TxRingFull.Load(),
		TxCompleted: q.st.TxCompleted.Load(),
		Waits:       q.st.Waits.Load(),
		Wakeups:     q.st.Wakeups.Load(),
		Buffers:     q.r.Buffers(),
		Kernel: driver.KernelStats{
			// As in AF_XDP copy mode: a frame that finds the fill ring
			// empty is counted in rx_dropped and in
			// rx_fill_ring_empty_descs, one that finds the rx ring full
			// in rx_ring_full alone.
			RxDropped:       ps.FillEmpty,
			RxFillRingEmpty: ps.FillEmpty,
			RxRingFull:      ps.RxRingFull,
			RxInvalidDescs:  ps.FillInvalid,
		},
	}
	q.r.Levels(&s)
	return s
}

// NIC returns the NIC the queue belongs to.
func (q *Queue) NIC() *NIC { return q.nic }

// Check verifies the UMEM ledger. Call it while the poller is stopped.
func (q *Queue) Check() error { return q.r.UMEM.Check() }

// Close stops the queue's producer, wakes a Wait in progress, waits for
// the poller's claim or current call to end, gives every frame the NIC owned back to the
// free list and releases the UMEM, whose unmap waits for frames the
// application still holds. It is idempotent: the second call returns nil,
// and later calls of the other methods fail with net.ErrClosed or do
// nothing.
func (q *Queue) Close() error {
	if !q.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(q.closing)
	// A claimed poller notices closed within one call and drops its
	// claim (see Claim).
	for q.polling.Load() != 0 {
		time.Sleep(claimWait)
	}
	q.life.Lock()
	defer q.life.Unlock()
	q.publish() // what the poller counted before it left
	// The producer writes into the UMEM: it stops before the frames it
	// owned go back to the free list and before the area is unmapped.
	q.p.exit()
	q.r.UMEM.Reclaim()
	return q.r.UMEM.Close()
}
