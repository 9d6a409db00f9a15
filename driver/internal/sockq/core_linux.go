package sockq

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
	"github.com/rxpath/rxpath/driver/internal/xsk"
)

// Core is the part of a socket-backed queue that every such driver has:
// the socket, the eventfd that Wake and Close signal, the life lock, the
// transmit lock and the counters. Open it before anything else of the
// queue; see the package documentation for how a driver uses it.
type Core struct {
	// life is read-held by every call that touches the socket or the
	// rings and write-held by Close while it tears them down. It comes
	// first: at offset 0, Enter and Exit are cheap enough to inline.
	life sync.RWMutex

	// FD is the queue's socket, -1 before Open and after CloseFDs. Use
	// it between Enter and Exit.
	FD int
	// Tx serializes Transmit (EnterTx takes it); a driver may TryLock it
	// to reap transmissions from the poller.
	Tx sync.Mutex
	// The counters; the driver bumps the ones it has.
	Counters

	name   string // "afxdp", "afpacket": the start of Down's errors
	id     int
	link   *linkstate.Watcher
	opened bool // Open ran: the descriptors below are real or -1
	efd    int  // eventfd that Wake and Close signal
	epfd   int  // epoll set Sleep waits in, or -1 for ppoll
	closed atomic.Bool

	// polling is 1 while the receive owner holds a claim (Claim) and 0
	// otherwise; BeginClose waits for it to drop to 0. claimed is the
	// owner's own record of its claim: only the receive owner touches it.
	polling atomic.Int32
	claimed bool

	// Poller-owned scratch for Sleep, so that a wait does not allocate.
	pfds   [3]unix.PollFd
	ts     unix.Timespec
	events [3]unix.EpollEvent
	efdBuf [8]byte

	// kernel keeps the kernel's counters for after the socket closes.
	// Stats may run on several goroutines at once (a metrics scrape and
	// the stats line), so it has its own lock.
	kmu    sync.Mutex
	kernel driver.KernelStats
}

// Counters are the queue counters both socket drivers keep (package
// xsk's, which memnic keeps too); Stats reports them under the
// driver.QueueStats fields of the same names.
type Counters = xsk.Counters

// Open sets c up for queue id of the driver called name (for errors),
// whose device follows its link with link: it creates the socket
// (family, SOCK_RAW, protocol 0; familyName names it in errors, caps the
// capabilities a permission error needs) and the eventfd. Call it first:
// until it runs, Close has nothing to close.
func (c *Core) Open(name string, id int, link *linkstate.Watcher, family int, familyName, caps string) error {
	c.init(name, id, link)
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Privileged(os.NewSyscallError("socket "+familyName, err), caps)
	}
	return c.adopt(fd)
}

func (c *Core) init(name string, id int, link *linkstate.Watcher) {
	c.name, c.id, c.link = name, id, link
	c.FD, c.efd, c.epfd, c.opened = -1, -1, -1, true
}

// adopt makes fd the queue's socket and creates the eventfd.
func (c *Core) adopt(fd int) error {
	c.FD = fd
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return os.NewSyscallError("eventfd", err)
	}
	c.efd = efd
	return nil
}

// UseEpoll makes Sleep wait in an epoll set instead of ppoll, with the
// socket edge-triggered: for a socket whose readiness stays level while
// the application holds its buffers (TPACKET_V3), where ppoll would spin.
func (c *Core) UseEpoll() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	c.epfd = epfd
	for _, e := range []unix.EpollEvent{
		{Events: unix.EPOLLIN | unix.EPOLLERR | unix.EPOLLET, Fd: int32(c.FD)},
		{Events: unix.EPOLLIN, Fd: int32(c.efd)},
		{Events: unix.EPOLLIN, Fd: int32(c.link.FD())},
	} {
		if e.Fd < 0 {
			continue // no link watcher
		}
		if err := unix.EpollCtl(c.epfd, unix.EPOLL_CTL_ADD, int(e.Fd), &e); err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
	}
	return nil
}

// ID returns the queue's index.
func (c *Core) ID() int { return c.id }

// Enter takes the life lock for reading. The caller defers Exit, then
// checks Closed before it touches the socket or the rings. Enter, Exit and
// Closed inline, so the receive path pays for the lock and nothing more.
func (c *Core) Enter() { c.life.RLock() }

// Exit releases the life lock Enter took.
func (c *Core) Exit() { c.life.RUnlock() }

// Claim lets the receive owner (the poller's goroutine) use the socket and
// the receive rings without Enter and Exit around every call, until it
// calls Unclaim: a poller claims the queue once and keeps the claim over
// its busy and idle passes, so a pass costs no lock. It returns false, and
// claims nothing, once Close has begun; claiming a queue the caller has
// claimed already returns true.
//
// Close waits for the claim to end before it takes the life lock, so the
// owner drops it before anything that may block or take the life lock
// (Wait, a handler that may call Close or Stats, leaving the poll loop).
// While claimed, every receive-side call checks Closed first and, when it
// is set, drops the claim (Unclaim) and does nothing, so that Close waits
// for at most one call. Receive owner only.
//
// The handshake is Dekker's: Claim stores polling and then loads closed,
// BeginClose stores closed and then loads polling, and sync/atomic's
// sequentially consistent operations let at most one side miss the other.
func (c *Core) Claim() bool {
	if c.claimed {
		return true
	}
	c.polling.Add(1)
	if c.closed.Load() {
		c.polling.Add(-1)
		return false
	}
	c.claimed = true
	return true
}

// Unclaim ends the receive owner's claim, if it has one. Receive owner
// only.
func (c *Core) Unclaim() {
	if c.claimed {
		c.claimed = false
		c.polling.Add(-1)
	}
}

// Claimed reports whether the receive owner holds a claim: its calls then
// skip Enter and Exit. Receive owner only.
func (c *Core) Claimed() bool { return c.claimed }

// EnterTx starts a Transmit. If the queue is open it takes the life lock
// and the transmit lock, which serializes senders, and returns true: the
// caller then defers ExitTx. Otherwise it holds nothing and returns false.
func (c *Core) EnterTx() bool {
	c.life.RLock()
	if c.closed.Load() {
		c.life.RUnlock()
		return false
	}
	c.Tx.Lock()
	return true
}

// ExitTx releases what EnterTx took.
func (c *Core) ExitTx() {
	c.Tx.Unlock()
	c.life.RUnlock()
}

// Closed reports whether Close has begun.
func (c *Core) Closed() bool { return c.closed.Load() }

// Wake makes a current or the next Sleep return. Safe for concurrent use.
// It holds the life lock so that Close cannot close the eventfd between
// the check and the write: the number could by then belong to another
// file.
func (c *Core) Wake() {
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed.Load() && c.efd >= 0 {
		c.signal()
	}
}

func (c *Core) signal() {
	one := [8]byte{1}
	unix.Write(c.efd, one[:])
}

// BeginClose starts Close: it marks the queue closed, wakes a Sleep in
// progress, waits for the receive owner's claim to end (its next call sees
// the queue closed and drops it), and takes the life lock, which waits out
// every call in progress. It returns false if the queue was already
// closed. Otherwise the caller tears its rings down and calls EndClose.
func (c *Core) BeginClose() bool {
	if c.closed.Swap(true) {
		return false
	}
	if c.opened && c.efd >= 0 {
		c.signal()
	}
	for c.polling.Load() != 0 {
		time.Sleep(claimWait)
	}
	c.life.Lock()
	return true
}

// claimWait is how often BeginClose looks whether the receive owner has
// dropped its claim: a claimed poller notices within one pass, so Close
// rarely waits more than one interval.
const claimWait = 20 * time.Microsecond

// CloseFDs closes the socket, the eventfd and the epoll set. Call it
// between BeginClose and EndClose, where the driver's teardown order
// needs it.
func (c *Core) CloseFDs() error {
	if !c.opened {
		return nil
	}
	var errs []error
	for _, fd := range []*int{&c.FD, &c.efd, &c.epfd} {
		if *fd >= 0 {
			errs = append(errs, os.NewSyscallError("close", unix.Close(*fd)))
			*fd = -1
		}
	}
	return errors.Join(errs...)
}

// EndClose ends Close, releasing the life lock: calls after it see the
// queue closed.
func (c *Core) EndClose() { c.life.Unlock() }

// Events say what woke Sleep.
type Events struct {
	In   bool  // the socket is readable
	Err  bool  // the socket reported an error or hang-up
	Link bool  // the link may have changed: call UpdateLink
	Poll int16 // with ppoll, the socket's revents (for Down's message)
}

// Sleep counts a wait and sleeps until the socket is readable, Wake or
// Close signals, the link watcher has an event, or timeout passes (a
// negative timeout: no limit). It retries EINTR, drains the eventfd, and
// returns net.ErrClosed once Close has begun. The caller holds the life
// lock (Enter) and is the poller's goroutine.
//
// With ppoll Events.Link is set whenever the socket is not readable: the
// kernel only unbinds an AF_XDP socket when its device goes away (poll
// then reports nothing at all), so the watcher is how a deleted link is
// noticed. With epoll it is set on a timeout or a watcher event.
func (c *Core) Sleep(timeout time.Duration) (Events, error) {
	c.Waits.Add(1)
	var ev Events
	var err error
	if c.epfd >= 0 {
		ev, err = c.epollWait(timeout)
	} else {
		ev, err = c.ppoll(timeout)
	}
	if err != nil {
		return ev, err
	}
	if c.closed.Load() {
		return ev, net.ErrClosed
	}
	return ev, nil
}

func (c *Core) ppoll(timeout time.Duration) (Events, error) {
	c.pfds = [3]unix.PollFd{
		{Fd: int32(c.FD), Events: unix.POLLIN},
		{Fd: int32(c.efd), Events: unix.POLLIN},
		{Fd: int32(c.link.FD()), Events: unix.POLLIN},
	}
	ts := &c.ts
	if timeout < 0 {
		ts = nil
	} else {
		c.ts = unix.NsecToTimespec(int64(timeout))
	}
	for {
		_, err := unix.Ppoll(c.pfds[:], ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Events{}, os.NewSyscallError("ppoll", err)
		}
		break
	}
	if c.pfds[1].Revents != 0 {
		unix.Read(c.efd, c.efdBuf[:])
	}
	r := c.pfds[0].Revents
	ev := Events{In: r&unix.POLLIN != 0, Err: r&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0, Poll: r}
	ev.Link = !ev.In
	return ev, nil
}

func (c *Core) epollWait(timeout time.Duration) (Events, error) {
	msec := -1
	if timeout >= 0 {
		msec = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	var n int
	for {
		var err error
		n, err = unix.EpollWait(c.epfd, c.events[:], msec)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return Events{}, os.NewSyscallError("epoll_wait", err)
		}
		break
	}
	ev := Events{Link: n == 0}
	for _, e := range c.events[:n] {
		switch e.Fd {
		case int32(c.efd):
			unix.Read(c.efd, c.efdBuf[:])
		case int32(c.FD):
			ev.In = ev.In || e.Events&unix.EPOLLIN != 0
			ev.Err = ev.Err || e.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0
		default:
			ev.Link = true
		}
	}
	return ev, nil
}

// Down returns the error that ends the queue: err, behind the driver's
// name and the queue's index, wrapping driver.ErrQueueDown.
func (c *Core) Down(err error) error {
	return fmt.Errorf("%s queue %d: %w: %w", c.name, c.id, err, driver.ErrQueueDown)
}

// UpdateLink applies the link watcher's pending events. Once the link is
// deleted it returns Down's error, which also wraps driver.ErrLinkGone.
func (c *Core) UpdateLink() error {
	if err := c.link.Update(); err != nil {
		return c.Down(err)
	}
	return nil
}

// CheckLink asks the kernel whether the link still exists, for a socket
// error that may come before the link's event; see UpdateLink.
func (c *Core) CheckLink() error {
	if err := c.link.Check(); err != nil {
		return c.Down(err)
	}
	return nil
}

// Stats returns the counters as driver.QueueStats, with the kernel's
// counters. While the socket is open, live runs first under the life lock,
// to refresh the kernel's counters (SetKernel, AddKernel) and fill in what
// only the driver knows. Safe for concurrent use.
func (c *Core) Stats(live func(*driver.QueueStats)) driver.QueueStats {
	s := driver.QueueStats{
		Queue:           c.id,
		RxFrames:        c.RxFrames.Load(),
		RxBytes:         c.RxBytes.Load(),
		RxInvalid:       c.RxInvalid.Load(),
		RxTrunc:         c.RxTrunc.Load(),
		Refilled:        c.Refilled.Load(),
		RxKicks:         c.RxKicks.Load(),
		TxFrames:        c.TxFrames.Load(),
		TxBytes:         c.TxBytes.Load(),
		TxOversize:      c.TxOversize.Load(),
		TxRingFull:      c.TxRingFull.Load(),
		TxKicks:         c.TxKicks.Load(),
		TxKickError:     c.TxKickError.Load(),
		TxKicksDeferred: c.TxKicksDeferred.Load(),
		TxCompleted:     c.TxCompleted.Load(),
		Waits:           c.Waits.Load(),
		Wakeups:         c.Wakeups.Load(),
	}
	c.life.RLock()
	if !c.closed.Load() && c.FD >= 0 {
		live(&s)
	}
	c.life.RUnlock()
	c.kmu.Lock()
	s.Kernel = c.kernel
	c.kmu.Unlock()
	return s
}

// SetKernel replaces the kernel's counters (a socket option that reports
// totals: XDP_STATISTICS).
func (c *Core) SetKernel(k driver.KernelStats) {
	c.kmu.Lock()
	c.kernel = k
	c.kmu.Unlock()
}

// AddKernel adds to the kernel's counters (a socket option that resets
// them when read: PACKET_STATISTICS).
func (c *Core) AddKernel(d driver.KernelStats) {
	c.kmu.Lock()
	k := &c.kernel
	k.RxDropped += d.RxDropped
	k.RxFrozen += d.RxFrozen
	k.RxInvalidDescs += d.RxInvalidDescs
	k.TxInvalidDescs += d.TxInvalidDescs
	k.RxRingFull += d.RxRingFull
	k.RxFillRingEmpty += d.RxFillRingEmpty
	k.TxRingEmpty += d.TxRingEmpty
	c.kmu.Unlock()
}
