package afxdp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/sockq"
	"github.com/rxpath/rxpath/driver/internal/xsk"
	"github.com/rxpath/rxpath/umem"
)

var _ driver.Queue = (*Queue)(nil)

// Queue is one AF_XDP socket bound to one rx queue, with its UMEM and rings.
// See driver.Queue for the concurrency contract.
type Queue struct {
	// sk is the socket with its life and transmit locks, its eventfd and
	// its counters (package sockq).
	sk       sockq.Core
	zeroCopy bool
	// r is the UMEM and the rings over it (package xsk): their receive
	// side is the poller's, their transmit side runs under sk.Tx.
	r    xsk.Rings
	maps [][]byte
	// txPolling and txOwed defer transmit kicks to the poller
	// (poller.TxFlusher): while it polls, Transmit leaves its kick owed
	// and the poller's next pass makes one for every frame queued since.
	_         [64]byte
	txPolling atomic.Bool
	txOwed    atomic.Bool
}

// open builds queue id of d: socket, UMEM, rings, bind. If it fails, d's
// Close releases what it built.
func (q *Queue) open(d *Device, id int) (err error) {
	o := d.opts
	if err := q.sk.Open("afxdp", id, d.dev.Watch, unix.AF_XDP, "AF_XDP", caps); err != nil {
		return err
	}
	if q.r.UMEM, err = umem.New(o.UMEM); err != nil {
		return err
	}
	if err := q.r.UMEM.Register(q.sk.FD); err != nil {
		return err
	}
	for _, r := range []struct {
		opt  int
		name string
		size uint32
	}{
		{unix.XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING", o.FillSize},
		{unix.XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING", o.CompSize},
		{unix.XDP_RX_RING, "XDP_RX_RING", o.RxSize},
		{unix.XDP_TX_RING, "XDP_TX_RING", o.TxSize},
	} {
		if err := unix.SetsockoptInt(q.sk.FD, unix.SOL_XDP, r.opt, int(r.size)); err != nil {
			return os.NewSyscallError("setsockopt "+r.name, err)
		}
	}
	if err := q.mapRings(o); err != nil {
		return err
	}
	if err := q.setBusyPoll(o.BusyPoll); err != nil {
		return err
	}
	q.r.Init(&q.sk.Counters)
	// Post receive buffers before bind so the first frame finds one.
	q.Refill()
	return q.bind(d.dev.Info.Index, o)
}

func (q *Queue) setBusyPoll(b BusyPoll) error {
	set := func(opt int, name string, v int) error {
		if err := unix.SetsockoptInt(q.sk.FD, unix.SOL_SOCKET, opt, v); err != nil {
			return os.NewSyscallError("setsockopt "+name, err)
		}
		return nil
	}
	if b.Prefer {
		if err := set(unix.SO_PREFER_BUSY_POLL, "SO_PREFER_BUSY_POLL", 1); err != nil {
			return err
		}
	}
	if b.Usec > 0 {
		if err := set(unix.SO_BUSY_POLL, "SO_BUSY_POLL", b.Usec); err != nil {
			return err
		}
	}
	if b.Budget > 0 {
		if err := set(unix.SO_BUSY_POLL_BUDGET, "SO_BUSY_POLL_BUDGET", b.Budget); err != nil {
			return err
		}
	}
	return nil
}

// bind binds the socket, negotiating zero-copy and retrying EBUSY.
func (q *Queue) bind(ifindex int, o Options) error {
	var base uint16
	if !o.DisableNeedWakeup {
		base = unix.XDP_USE_NEED_WAKEUP
	}
	modes := []uint16{unix.XDP_ZEROCOPY, unix.XDP_COPY}
	switch o.Copy {
	case CopyForce:
		modes = modes[1:]
	case ZeroCopyForce:
		modes = modes[:1]
	}
	var err error
	for i, m := range modes {
		err = bindRetry(q.sk.FD, &unix.SockaddrXDP{Flags: base | m, Ifindex: uint32(ifindex), QueueID: uint32(q.sk.ID())}, o.BindRetry)
		if err == nil {
			q.zeroCopy = m == unix.XDP_ZEROCOPY
			return nil
		}
		// Drivers without zero-copy answer EOPNOTSUPP (or EINVAL on
		// older kernels); anything else is a real failure.
		if i == len(modes)-1 || !(errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
			break
		}
	}
	return fmt.Errorf("bind (%s): %w", o.Copy, err)
}

func bindRetry(fd int, sa *unix.SockaddrXDP, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	backoff := time.Millisecond
	for {
		err := unix.Bind(fd, sa)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return os.NewSyscallError("bind", err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// ID returns the queue index.
func (q *Queue) ID() int { return q.sk.ID() }

// FD returns the socket's file descriptor, for poll loops of one's own.
func (q *Queue) FD() int { return q.sk.FD }

// ZeroCopy reports whether the socket is bound in zero-copy mode.
func (q *Queue) ZeroCopy() bool { return q.zeroCopy }

// UMEM returns the queue's frame area, for its ledger.
func (q *Queue) UMEM() *umem.UMEM { return q.r.UMEM }

// Claim claims the receive side for the poller's goroutine (the
// poller.Claimer protocol), so that Refill, Receive and Release skip the
// life lock until Unclaim, and keep their counts (the UMEM ledger's and
// RxFrames, RxBytes and Refilled) until Publish. Close waits for the claim
// to end; a claimed call that finds the queue closing publishes and drops
// the claim. The poller drops the claim before it sleeps in Wait and
// around its handler. It returns false once Close has begun. Poller
// goroutine only.
func (q *Queue) Claim() bool { return q.sk.Claim() }

// Unclaim ends the poller's claim. Poller goroutine only.
func (q *Queue) Unclaim() { q.sk.Unclaim() }

// Publish makes what claimed calls counted visible to Stats and exact for
// Check. It does nothing without a claim: calls made without one publish
// their own counts. Poller goroutine only.
func (q *Queue) Publish() {
	if q.sk.Claimed() {
		q.publish()
	}
}

// dropClaim publishes and ends the claim of a call that found the queue
// closing, so that Close can go on.
func (q *Queue) dropClaim() {
	if q.sk.Claimed() {
		q.publish()
		q.sk.Unclaim()
	}
}

// publish adds what the receive side counted since the last publish to the
// ledger and the counters that Stats reads. Receive owner only, or Close
// once the owner has left.
func (q *Queue) publish() { q.r.Publish() }

// Refill posts free receive frames to the fill ring and reaps completed
// transmissions. Poller goroutine only.
func (q *Queue) Refill() int {
	if q.sk.Claimed() {
		return q.refill()
	}
	q.sk.Enter()
	defer q.sk.Exit()
	n := q.refill()
	q.publishOpen()
	return n
}

func (q *Queue) refill() int {
	if q.sk.Closed() || q.r.Fill == nil {
		q.dropClaim()
		return 0
	}
	n := q.r.Refill()
	if q.r.Fill.NeedWakeup() {
		// The driver sleeps until told that the fill ring has buffers
		// (zero-copy drivers); a non-blocking recvfrom is the kick.
		q.sk.RxKicks.Add(1)
		unix.Recvfrom(q.sk.FD, nil, unix.MSG_DONTWAIT)
	}
	if q.r.TxInFlight() && q.sk.Tx.TryLock() {
		q.reapLocked()
		q.sk.Tx.Unlock()
	}
	return n
}

// Receive takes up to len(frames) frames off the rx ring. An empty ring
// costs one read of its producer index. Poller goroutine only.
func (q *Queue) Receive(frames []driver.Frame) int {
	if q.sk.Claimed() {
		return q.receive(frames)
	}
	q.sk.Enter()
	defer q.sk.Exit()
	n := q.receive(frames)
	q.publishOpen()
	return n
}

func (q *Queue) receive(frames []driver.Frame) int {
	if q.sk.Closed() || q.r.Rx == nil {
		q.dropClaim()
		return 0
	}
	return q.r.Receive(frames)
}

// Release returns received frames to the free list. Poller goroutine
// only; after Close it may be called from any goroutine.
func (q *Queue) Release(frames []driver.Frame) {
	if q.sk.Claimed() {
		// The claim keeps Close's teardown out, even once it has begun.
		q.r.Release(frames)
		return
	}
	q.sk.Enter()
	defer q.sk.Exit()
	if q.sk.Closed() {
		q.r.ReleaseClosed(frames)
		return
	}
	q.r.Release(frames)
	q.publish()
}

// publishOpen publishes at the end of a call made without a claim, under
// the life lock, unless Close has run (it published, and releases after it
// may come from any goroutine).
func (q *Queue) publishOpen() {
	if !q.sk.Closed() {
		q.publish()
	}
}

// Wake makes a current or the next Wait return. Safe for concurrent use.
func (q *Queue) Wake() { q.sk.Wake() }

// Wait re-arms the wakeup and sleeps in ppoll(2) until the rx ring has
// frames, Wake is called, the link changes, or timeout passes. It returns
// an error wrapping net.ErrClosed after Close and driver.ErrQueueDown when
// the socket reports an error or the link is deleted (the device went
// away).
func (q *Queue) Wait(timeout time.Duration) error {
	q.sk.Enter()
	defer q.sk.Exit()
	if q.sk.Closed() {
		return net.ErrClosed
	}
	if q.r.Rx.Pending() > 0 {
		return nil
	}
	ev, err := q.sk.Sleep(timeout)
	if err != nil {
		return err
	}
	if ev.Err {
		return q.sk.Down(fmt.Errorf("poll revents %#x", ev.Poll))
	}
	if ev.Link {
		if err := q.sk.UpdateLink(); err != nil {
			return err
		}
	}
	if ev.In {
		q.sk.Wakeups.Add(1)
	}
	return nil
}

// Transmit copies frames into transmit buffers, queues them on the tx ring
// and kicks the kernel when it asks for it. Safe for concurrent use.
func (q *Queue) Transmit(frames [][]byte) int {
	if !q.sk.EnterTx() {
		return 0
	}
	defer q.sk.ExitTx()
	n, queued := q.r.Transmit(frames)
	// Copy-mode transmission happens in sendmsg: kick also when nothing
	// was queued but frames are in flight, so that those an EAGAIN left
	// go out. The kick is left to a polling loop only while the ring
	// holds less than one kernel batch and took every frame: a sender
	// that outruns the loop (a server closing thousands of connections
	// on the loop's CPU) must not fill the ring and have frames refused.
	if queued > 0 || q.r.TxInFlight() {
		if n == len(frames) && q.r.Tx.Pending() < txKickBatch && q.owe() {
			return n
		}
		q.kickAll()
	}
	return n
}

// txKickBatch is how many frames the kernel sends per copy-mode kick
// (its default max_tx_budget).
const txKickBatch = 32

// owe leaves the transmit kick to the poller if it is polling, and
// reports whether it did. With the poller's SetTxPolling(false), which
// stores txPolling before it reads txOwed, it makes sure that one of the
// two kicks: the poller sees the debt, or this sees it is not polling.
func (q *Queue) owe() bool {
	if !q.txPolling.Load() {
		return false
	}
	q.txOwed.Store(true)
	return q.txPolling.Load()
}

// SetTxPolling tells the queue whether its poller is polling, and so
// makes the kicks that Transmit owes: on at every start and wakeup, off
// (which makes the kick owed by then) before it sleeps or leaves. Poller
// goroutine only.
func (q *Queue) SetTxPolling(on bool) {
	q.txPolling.Store(on)
	if !on {
		q.FlushTx()
	}
}

// FlushTx makes the kick that Transmit left owed, if any: one kick for
// every frame queued since the last. Without a debt it costs one atomic
// load. Poller goroutine only: under its claim the socket cannot close,
// without one it takes the life lock.
func (q *Queue) FlushTx() {
	if !q.txOwed.Load() || !q.txOwed.Swap(false) {
		return
	}
	if !q.sk.Claimed() {
		if !q.sk.EnterTx() {
			return
		}
		defer q.sk.ExitTx()
	}
	q.sk.TxKicksDeferred.Add(1)
	if q.kickAll() && q.txPolling.Load() {
		q.txOwed.Store(true) // the loop's next pass kicks for the rest
	}
}

// kickAll kicks until the ring is sent, for at most as many kernel
// batches as it holds (the kernel sends txKickBatch frames a kick in copy
// mode and says EAGAIN for the rest), and reports whether frames are
// left.
func (q *Queue) kickAll() (left bool) {
	for i := uint32(0); q.kickTx(); i++ {
		if i >= q.r.Tx.Size()/txKickBatch {
			return true
		}
	}
	return false
}

// kickTx kicks the kernel's transmit if it asks for it, and reports
// whether it left frames on the ring for the next kick.
func (q *Queue) kickTx() (more bool) {
	if !q.r.Tx.NeedWakeup() {
		return false
	}
	q.sk.TxKicks.Add(1)
	err := unix.Sendto(q.sk.FD, nil, unix.MSG_DONTWAIT, nil)
	switch err {
	case nil:
	case unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
		// The kernel took what it could; the rest goes on the next kick.
		return true
	default:
		q.sk.TxKickError.Add(1)
	}
	return false
}

// reapLocked moves completed transmit frames back to the free list. The
// caller holds sk.Tx.
func (q *Queue) reapLocked() {
	q.r.Reap()
	if q.r.TxInFlight() {
		// Copy-mode transmission happens in sendmsg; kick again so
		// frames left by an EAGAIN go out.
		q.kickTx()
	}
}

// Stats returns the queue's counters, with the kernel's XDP_STATISTICS.
// Safe for concurrent use.
func (q *Queue) Stats() driver.QueueStats {
	s := q.sk.Stats(func(s *driver.QueueStats) {
		q.readKernelStats()
		q.r.Levels(s)
	})
	s.Buffers = q.r.Buffers()
	return s
}

// readKernelStats keeps the kernel's counters, which it reports as totals.
// The caller holds the life lock.
func (q *Queue) readKernelStats() {
	if ks, err := xdpStatistics(q.sk.FD); err == nil {
		q.sk.SetKernel(ks)
	}
}

// Check verifies the UMEM ledger. Call it while the poller is stopped.
func (q *Queue) Check() error { return q.r.UMEM.Check() }

// Close wakes the poller, waits for its claim or current call to end,
// unmaps the rings, closes the socket (the kernel gives back its frames)
// and releases the UMEM, whose unmap waits for frames the application
// still holds. It is idempotent.
func (q *Queue) Close() error {
	if !q.sk.BeginClose() {
		return nil
	}
	defer q.sk.EndClose()
	q.publish() // what the poller counted before it left
	var errs []error
	if q.sk.FD >= 0 {
		q.readKernelStats()
	}
	for _, m := range q.maps {
		errs = append(errs, os.NewSyscallError("munmap", unix.Munmap(m)))
	}
	q.maps = nil
	errs = append(errs, q.sk.CloseFDs())
	if q.r.UMEM != nil {
		q.r.UMEM.Reclaim()
		errs = append(errs, q.r.UMEM.Close())
	}
	return errors.Join(errs...)
}
