package afxdp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/linkstate"
	"github.com/rxpath/rxpath/rxring"
	"github.com/rxpath/rxpath/umem"
)

var _ driver.Queue = (*Queue)(nil)

// Queue is one AF_XDP socket bound to one rx queue, with its UMEM and rings.
// See driver.Queue for the concurrency contract.
type Queue struct {
	id       int
	fd       int
	efd      int // eventfd that Wake and Close signal
	link     *linkstate.Watcher
	zeroCopy bool
	umem     *umem.UMEM
	fill     *rxring.FillRing
	rx       *rxring.RxRing
	tx       *rxring.TxRing
	comp     *rxring.CompRing
	maps     [][]byte

	// life is read-held by every call that touches the rings and
	// write-held by Close while it unmaps them.
	life   sync.RWMutex
	closed atomic.Bool

	// Receive-side scratch, owned by the poller.
	fillBuf []uint64

	// Transmit side.
	txMu    sync.Mutex
	compBuf []uint64
	txAddrs []uint64
	txLens  []uint32
	txIdx   []int

	st counters
	// lastStats keeps the kernel's counters for after the socket closes.
	// Stats may run on several goroutines at once (a metrics scrape and
	// the stats line), so it has its own lock.
	statsMu   sync.Mutex
	lastStats driver.KernelStats
}

type counters struct {
	rxFrames, rxBytes, rxInvalid, refilled, rxKicks                      atomic.Uint64
	txFrames, txBytes, txOversize, txRingFull, txKicks, txKickErr, txCmp atomic.Uint64
	waits, wakeups                                                       atomic.Uint64
}

func openQueue(d *Device, id int) (q *Queue, err error) {
	o := d.opts
	q = &Queue{id: id, fd: -1, efd: -1, link: d.watch}
	defer func() {
		if err != nil {
			q.Close()
		}
	}()
	q.umem, err = umem.New(o.UMEM)
	if err != nil {
		return q, err
	}
	q.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return q, privileged(os.NewSyscallError("socket AF_XDP", err))
	}
	q.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return q, os.NewSyscallError("eventfd", err)
	}
	if err := q.umem.Register(q.fd); err != nil {
		return q, err
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
		if err := unix.SetsockoptInt(q.fd, unix.SOL_XDP, r.opt, int(r.size)); err != nil {
			return q, os.NewSyscallError("setsockopt "+r.name, err)
		}
	}
	if err := q.mapRings(o); err != nil {
		return q, err
	}
	if err := q.setBusyPoll(o.BusyPoll); err != nil {
		return q, err
	}
	q.fillBuf = make([]uint64, o.FillSize)
	q.compBuf = make([]uint64, o.CompSize)
	q.txAddrs = make([]uint64, 0, o.TxSize)
	q.txLens = make([]uint32, 0, o.TxSize)
	q.txIdx = make([]int, 0, o.TxSize)
	// Post receive buffers before bind so the first frame finds one.
	q.Refill()
	if err := q.bind(d.info.Index, o); err != nil {
		return q, err
	}
	return q, nil
}

func (q *Queue) setBusyPoll(b BusyPoll) error {
	set := func(opt int, name string, v int) error {
		if err := unix.SetsockoptInt(q.fd, unix.SOL_SOCKET, opt, v); err != nil {
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
		err = bindRetry(q.fd, &unix.SockaddrXDP{Flags: base | m, Ifindex: uint32(ifindex), QueueID: uint32(q.id)}, o.BindRetry)
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
func (q *Queue) ID() int { return q.id }

// FD returns the socket's file descriptor, for poll loops of one's own.
func (q *Queue) FD() int { return q.fd }

// ZeroCopy reports whether the socket is bound in zero-copy mode.
func (q *Queue) ZeroCopy() bool { return q.zeroCopy }

// UMEM returns the queue's frame area, for its ledger.
func (q *Queue) UMEM() *umem.UMEM { return q.umem }

// Refill posts free receive frames to the fill ring and reaps completed
// transmissions. Poller goroutine only.
func (q *Queue) Refill() int {
	q.life.RLock()
	defer q.life.RUnlock()
	if q.closed.Load() || q.fill == nil {
		return 0
	}
	n := 0
	if free := q.fill.Free(); free > 0 {
		n = q.umem.TakeForFill(q.fillBuf[:min(int(free), len(q.fillBuf))])
		if n > 0 {
			q.fill.Produce(q.fillBuf[:n])
			q.st.refilled.Add(uint64(n))
		}
	}
	if q.fill.NeedWakeup() {
		// The driver sleeps until told that the fill ring has buffers
		// (zero-copy drivers); a non-blocking recvfrom is the kick.
		q.st.rxKicks.Add(1)
		unix.Recvfrom(q.fd, nil, unix.MSG_DONTWAIT)
	}
	if q.txInFlight() && q.txMu.TryLock() {
		q.reapLocked()
		q.txMu.Unlock()
	}
	return n
}

// Receive takes up to len(frames) frames off the rx ring. Poller
// goroutine only.
func (q *Queue) Receive(frames []driver.Frame) int {
	q.life.RLock()
	defer q.life.RUnlock()
	if q.closed.Load() || q.rx == nil {
		return 0
	}
	idx, got := q.rx.Peek(uint32(len(frames)))
	k := 0
	var bytes uint64
	for i := uint32(0); i < got; i++ {
		d := q.rx.Desc(idx + i)
		if !q.umem.Received(d.Addr) {
			q.st.rxInvalid.Add(1)
			continue
		}
		b, ok := q.umem.View(d.Addr, d.Len)
		if !ok {
			q.umem.Release(d.Addr)
			q.st.rxInvalid.Add(1)
			continue
		}
		frames[k] = driver.Frame{Data: b, Handle: d.Addr}
		bytes += uint64(d.Len)
		k++
	}
	q.rx.Release(got)
	q.st.rxFrames.Add(uint64(k))
	q.st.rxBytes.Add(bytes)
	return k
}

// Release returns received frames to the free list. Poller goroutine
// only; after Close it may be called from any goroutine.
func (q *Queue) Release(frames []driver.Frame) {
	if q.closed.Load() {
		for i := range frames {
			q.umem.ReleaseClosed(frames[i].Handle)
		}
		return
	}
	for i := range frames {
		q.umem.Release(frames[i].Handle)
	}
}

// Wait re-arms the wakeup and sleeps in poll(2) until the rx ring has
// frames, Wake is called, or timeout passes. It returns an error wrapping
// net.ErrClosed after Close and driver.ErrQueueDown when the socket
// reports an error (the device went away).
func (q *Queue) Wait(timeout time.Duration) error {
	q.life.RLock()
	defer q.life.RUnlock()
	if q.closed.Load() {
		return net.ErrClosed
	}
	if q.rx.Pending() > 0 {
		return nil
	}
	q.st.waits.Add(1)
	// The link watcher's socket wakes the wait on a link event: the
	// kernel only unbinds the socket when its device goes away (poll
	// then reports nothing at all), so that event is how a deleted
	// link is noticed.
	fds := [3]unix.PollFd{{Fd: int32(q.fd), Events: unix.POLLIN}, {Fd: int32(q.efd), Events: unix.POLLIN}, {Fd: int32(q.link.FD()), Events: unix.POLLIN}}
	ts := unix.NsecToTimespec(int64(timeout))
	for {
		_, err := unix.Ppoll(fds[:], &ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("ppoll", err)
		}
		break
	}
	if fds[1].Revents != 0 {
		var buf [8]byte
		unix.Read(q.efd, buf[:])
	}
	if q.closed.Load() {
		return net.ErrClosed
	}
	if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
		return fmt.Errorf("afxdp queue %d: poll revents %#x: %w", q.id, fds[0].Revents, driver.ErrQueueDown)
	}
	if fds[0].Revents&unix.POLLIN == 0 {
		if err := q.link.Update(); err != nil {
			return fmt.Errorf("afxdp queue %d: %w: %w", q.id, err, driver.ErrQueueDown)
		}
	}
	if fds[0].Revents&unix.POLLIN != 0 {
		q.st.wakeups.Add(1)
	}
	return nil
}

// Wake makes Wait return. Safe for concurrent use. It holds the life
// lock so that Close cannot close the eventfd between the check and the
// write (the number could by then belong to another file), as the
// AF_PACKET driver's Wake does.
func (q *Queue) Wake() {
	q.life.RLock()
	defer q.life.RUnlock()
	if !q.closed.Load() && q.efd >= 0 {
		one := [8]byte{1}
		unix.Write(q.efd, one[:])
	}
}

// Transmit copies frames into transmit buffers, queues them on the tx ring
// and kicks the kernel when it asks for it. Safe for concurrent use.
func (q *Queue) Transmit(frames [][]byte) int {
	q.life.RLock()
	defer q.life.RUnlock()
	if q.closed.Load() || q.tx == nil {
		return 0
	}
	q.txMu.Lock()
	defer q.txMu.Unlock()
	q.reapLocked()
	limit := uint32(q.umem.FrameSize())
	// Take buffers first, then ring slots; buffers without a slot go back.
	q.txAddrs, q.txLens, q.txIdx = q.txAddrs[:0], q.txLens[:0], q.txIdx[:0]
	n := 0 // frames taken
	for ; n < len(frames) && len(q.txAddrs) < cap(q.txAddrs); n++ {
		f := frames[n]
		if uint32(len(f)) > limit {
			continue
		}
		addr, ok := q.umem.AllocTx()
		if !ok {
			break
		}
		copy(q.umem.TxBuffer(addr), f)
		q.txAddrs = append(q.txAddrs, addr)
		q.txLens = append(q.txLens, uint32(len(f)))
		q.txIdx = append(q.txIdx, n)
	}
	idx, got := q.tx.Reserve(uint32(len(q.txAddrs)))
	var bytes uint64
	for i := range q.txAddrs {
		if uint32(i) >= got {
			q.umem.AbortTx(q.txAddrs[i])
			continue
		}
		q.umem.SubmitTx(q.txAddrs[i])
		q.tx.Set(idx+uint32(i), rxring.Desc{Addr: q.txAddrs[i], Len: q.txLens[i]})
		bytes += uint64(q.txLens[i])
	}
	if int(got) < len(q.txAddrs) {
		n = q.txIdx[got] // the first frame without a slot
	}
	for _, f := range frames[:n] {
		if uint32(len(f)) > limit {
			q.st.txOversize.Add(1)
		}
	}
	q.tx.Submit(got)
	if n < len(frames) {
		q.st.txRingFull.Add(uint64(len(frames) - n))
	}
	if got > 0 {
		q.st.txFrames.Add(uint64(got))
		q.st.txBytes.Add(bytes)
		q.kickTx()
	}
	return n
}

func (q *Queue) kickTx() {
	if !q.tx.NeedWakeup() {
		return
	}
	q.st.txKicks.Add(1)
	err := unix.Sendto(q.fd, nil, unix.MSG_DONTWAIT, nil)
	switch err {
	case nil, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
		// The kernel took what it could; the rest goes on the next kick.
	default:
		q.st.txKickErr.Add(1)
	}
}

func (q *Queue) txInFlight() bool {
	return q.st.txFrames.Load() != q.st.txCmp.Load()
}

// reapLocked moves completed transmit frames back to the free list.
func (q *Queue) reapLocked() {
	n := q.comp.Consume(q.compBuf)
	for _, a := range q.compBuf[:n] {
		q.umem.Completed(a)
	}
	q.st.txCmp.Add(uint64(n))
	if q.txInFlight() {
		// Copy-mode transmission happens in sendmsg; kick again so
		// frames left by an EAGAIN go out.
		q.kickTx()
	}
}

// Stats returns the queue's counters, with the kernel's XDP_STATISTICS.
// Safe for concurrent use.
func (q *Queue) Stats() driver.QueueStats {
	s := driver.QueueStats{
		Queue:       q.id,
		RxFrames:    q.st.rxFrames.Load(),
		RxBytes:     q.st.rxBytes.Load(),
		RxInvalid:   q.st.rxInvalid.Load(),
		Refilled:    q.st.refilled.Load(),
		RxKicks:     q.st.rxKicks.Load(),
		TxFrames:    q.st.txFrames.Load(),
		TxBytes:     q.st.txBytes.Load(),
		TxOversize:  q.st.txOversize.Load(),
		TxRingFull:  q.st.txRingFull.Load(),
		TxKicks:     q.st.txKicks.Load(),
		TxKickError: q.st.txKickErr.Load(),
		TxCompleted: q.st.txCmp.Load(),
		Waits:       q.st.waits.Load(),
		Wakeups:     q.st.wakeups.Load(),
	}
	u := q.umem.Stats()
	s.Buffers = driver.Buffers{Unit: "umem frame", Total: u.Frames, Free: u.Free, Kernel: u.Fill, Held: u.Held, Tx: u.Tx,
		BadRelease: u.BadRelease, Foreign: u.Foreign}
	q.life.RLock()
	defer q.life.RUnlock()
	if !q.closed.Load() && q.fd >= 0 {
		if ks, err := xdpStatistics(q.fd); err == nil {
			q.statsMu.Lock()
			q.lastStats = ks
			q.statsMu.Unlock()
		}
		if q.rx != nil && q.fill != nil {
			s.RxRingLevel, s.RxRingSize = q.rx.Level(), q.rx.Size()
			s.FillRingLevel, s.FillRingSize = q.fill.Level(), q.fill.Size()
		}
	}
	q.statsMu.Lock()
	s.Kernel = q.lastStats
	q.statsMu.Unlock()
	return s
}

// Check verifies the UMEM ledger. Call it while the poller is stopped.
func (q *Queue) Check() error { return q.umem.Check() }

// Close wakes the poller, waits for its current call to finish, unmaps the
// rings, closes the socket (the kernel gives back its frames) and releases
// the UMEM, whose unmap waits for frames the application still holds. It
// is idempotent.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return nil
	}
	if q.efd >= 0 {
		one := [8]byte{1}
		unix.Write(q.efd, one[:])
	}
	q.life.Lock()
	defer q.life.Unlock()
	var errs []error
	if q.fd >= 0 {
		if ks, err := xdpStatistics(q.fd); err == nil {
			q.statsMu.Lock()
			q.lastStats = ks
			q.statsMu.Unlock()
		}
	}
	for _, m := range q.maps {
		errs = append(errs, os.NewSyscallError("munmap", unix.Munmap(m)))
	}
	q.maps = nil
	if q.fd >= 0 {
		errs = append(errs, os.NewSyscallError("close", unix.Close(q.fd)))
		q.fd = -1
	}
	if q.efd >= 0 {
		unix.Close(q.efd)
		q.efd = -1
	}
	if q.umem != nil {
		q.umem.Reclaim()
		errs = append(errs, q.umem.Close())
	}
	return errors.Join(errs...)
}
