package udp

import (
	"errors"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

// Datagram is a received datagram. In handler mode Payload is a zero-copy
// view into the driver's frame, valid only until the handler returns.
type Datagram struct {
	Payload []byte
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Queue   int
}

// Handler receives datagrams on the poller goroutine. It must not block
// and must not keep Payload after returning.
type Handler func(d Datagram)

// Message is one datagram for ReadBatch: the caller sets Buf; ReadBatch
// sets N (bytes copied into Buf), Truncated and Addr.
type Message struct {
	Buf       []byte
	N         int
	Truncated bool
	Addr      netip.AddrPort
}

// SocketStats are one socket's counters.
type SocketStats struct {
	Local     string `json:"local"`
	Received  uint64 `json:"received"`
	Bytes     uint64 `json:"bytes"`
	Dropped   uint64 `json:"rcvbuf_dropped"`
	Queued    int    `json:"queued"`
	QueuedLen int    `json:"queued_bytes"`
	Sent      uint64 `json:"sent"`
	// Wakeups counts the times a parked reader was signalled that
	// datagrams arrived: at most one per receive batch.
	Wakeups uint64 `json:"wakeups"`
}

var _ net.PacketConn = (*Conn)(nil)

// Lanes: a socket's receive queue is one lane per receive queue that
// delivers to it (queues 0 to maxLoops-1), and a shared lane for the rest.
const (
	numLanes  = 64
	maxLoops  = numLanes - 1
	otherLane = numLanes - 1
)

// Conn is a UDP socket. It implements net.PacketConn. Safe for concurrent
// use.
//
// In queue mode the receive path copies each datagram into the lane of
// the queue it came from (see lane) and the lane is published at the end
// of the batch. Readers take rmu, which serialises them as the lanes'
// single consumer and which no producer ever takes, drain what is
// published, and when nothing is, spin for a while and then park until a
// batch end signals them (see wait).
type Conn struct {
	// Read-mostly: the receive path loads these for every datagram.
	u       *UDP
	local   netip.AddrPort
	limit   uint64        // RcvBuf
	spin    time.Duration // how long a reader polls before it parks
	handler atomic.Pointer[Handler]
	closed  atomic.Bool
	mask    atomic.Uint64 // bit i: lanes[i] exists
	lanes   [numLanes]atomic.Pointer[lane]
	done    chan struct{} // closed by Close
	wake    chan struct{} // see waiters

	_ cpu.CacheLinePad

	// Readers' state, apart from the producers' so that a read does not
	// take the producers' cache lines away.
	rmu  sync.Mutex // serialises readers
	next int        // the lane a drain starts at, for fairness; under rmu
	// waiters counts parked readers. A producer that publishes and sees
	// waiters signals wake, a 1-buffered channel that is reused: a
	// second signal before a reader takes the first is a no-op.
	waiters atomic.Int32
	// notify is closed and replaced when the deadline changes under
	// parked readers, so that every one of them looks at it again.
	notify   atomic.Pointer[chan struct{}]
	deadline atomic.Int64 // monotonic, see monoDeadline; 0 for none

	_ cpu.CacheLinePad

	laneMu   sync.Mutex    // serialises lane creation
	received atomic.Uint64 // in handler mode; queue mode counts per lane
	bytes    atomic.Uint64
	dropped  atomic.Uint64
	sent     atomic.Uint64
	wakeups  atomic.Uint64
}

func newConn(u *UDP, local netip.AddrPort, rcvbuf int, spin time.Duration) *Conn {
	c := &Conn{u: u, local: local, limit: uint64(rcvbuf), spin: spin, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	ch := make(chan struct{})
	c.notify.Store(&ch)
	return c
}

// SetHandler switches the socket to handler mode: datagrams go to h on the
// poller goroutine instead of the receive queue. nil switches back.
func (c *Conn) SetHandler(h Handler) {
	if h == nil {
		c.handler.Store(nil)
		return
	}
	c.handler.Store(&h)
}

// deliver hands d to the handler or queues a copy, on the receive loop's
// goroutine. l is the loop of d's queue when the queue ends its batches
// (the datagram is published at the batch end), nil when it does not (the
// datagram is published at once). It reports false when the queue is full
// or the socket closed: the datagram is dropped.
func (c *Conn) deliver(d Datagram, l *loop) bool {
	if h := c.handler.Load(); h != nil {
		(*h)(d)
		if l != nil {
			l.count(c, len(d.Payload))
		} else {
			c.received.Add(1)
			c.bytes.Add(uint64(len(d.Payload)))
		}
		return true
	}
	if c.closed.Load() {
		c.dropped.Add(1)
		return false
	}
	idx := otherLane
	if uint(d.Queue) < maxLoops {
		idx = d.Queue
	}
	ln := c.lanes[idx].Load()
	if ln == nil {
		ln = c.newLane(idx)
	}
	var others uint64
	if c.mask.Load() != 1<<idx {
		others = c.othersUsed(idx)
	}
	if l != nil {
		// The loop owns the lane: no lock, published at its batch end.
		if !ln.push(d.Payload, d.Src, others, c.limit) {
			c.dropped.Add(1)
			return false
		}
		if !ln.dirty {
			ln.dirty = true
			l.dirty = append(l.dirty, ln)
		}
		return true
	}
	ln.mu.Lock()
	ok := ln.push(d.Payload, d.Src, others, c.limit)
	if ok {
		ln.publish()
	}
	ln.mu.Unlock()
	if !ok {
		c.dropped.Add(1)
		return false
	}
	if c.waiters.Load() > 0 {
		c.signal()
	}
	return true
}

// newLane returns lane idx, creating it on first use.
func (c *Conn) newLane(idx int) *lane {
	c.laneMu.Lock()
	defer c.laneMu.Unlock()
	if l := c.lanes[idx].Load(); l != nil {
		return l
	}
	l := newLane(c, int(c.limit))
	c.lanes[idx].Store(l)
	c.mask.Or(1 << idx)
	return l
}

// othersUsed is the published RcvBuf charge queued in lanes other than
// idx. Another producer's unpublished batch is not in it, so with several
// queues delivering to one socket the queue can exceed RcvBuf by what
// they push in one batch, as Linux's check can race with other CPUs'.
func (c *Conn) othersUsed(idx int) uint64 {
	m := c.mask.Load() &^ (1 << idx)
	var u uint64
	for m != 0 {
		i := bits.TrailingZeros64(m)
		m &= m - 1
		u += c.lanes[i].Load().used()
	}
	return u
}

// signal wakes one parked reader, or leaves a wake for the next one.
func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
		c.wakeups.Add(1)
	default:
	}
}

// readable reports whether any lane has published datagrams unread.
func (c *Conn) readable() bool {
	m := c.mask.Load()
	for m != 0 {
		i := bits.TrailingZeros64(m)
		m &= m - 1
		if c.lanes[i].Load().readable() {
			return true
		}
	}
	return false
}

// drainLocked fills msgs from the lanes, starting at a different lane
// each call so that one busy queue does not starve the others. c.rmu is
// held.
func (c *Conn) drainLocked(msgs []Message) int {
	m := c.mask.Load()
	start := c.next
	c.next = (c.next + 1) % numLanes
	n := 0
	for r := bits.RotateLeft64(m, -start); r != 0 && n < len(msgs); r &= r - 1 {
		i := (bits.TrailingZeros64(r) + start) % numLanes
		n += c.lanes[i].Load().drain(msgs[n:])
	}
	return n
}

// errTimeout is returned when a read deadline passes.
var errTimeout = os.ErrDeadlineExceeded

// read fills msgs with at least one datagram, waiting as a blocking read
// does.
func (c *Conn) read(msgs []Message) (int, error) {
	for {
		c.rmu.Lock()
		n := c.drainLocked(msgs)
		c.rmu.Unlock()
		if n > 0 {
			// Another reader may be parked while datagrams are left:
			// pass the wake on.
			if c.waiters.Load() > 0 && c.readable() {
				c.signal()
			}
			return n, nil
		}
		if c.closed.Load() {
			return 0, net.ErrClosed
		}
		if err := c.wait(); err != nil {
			return 0, err
		}
	}
}

// spinCheck is how many polls of the lanes a spinning reader makes
// between looks at the clock.
const spinCheck = 16

// timers are the parked readers' deadline timers, reused so that a wait
// allocates nothing.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// wait returns when datagrams may be readable, the socket closed or the
// deadline changed, and errTimeout when the deadline has passed.
//
// It first spins for c.spin, polling the lanes' published tails, which
// costs a producer nothing. It does not yield with runtime.Gosched while
// it spins: a reader is typically locked to a pinned thread, and Gosched
// on a locked goroutine hands its P away and sleeps the thread (about
// 8 µs, longer than the spin). Then it parks on wake, counted in waiters
// so that the next batch end on a queue that delivers to the socket
// signals it. The reader's increment of waiters and its look at the lanes
// pair with the producer's publish and its look at waiters (sequentially
// consistent atomics), so a wake cannot be lost.
func (c *Conn) wait() error {
	dl := c.deadline.Load()
	var now int64
	if dl != 0 {
		if now = monoNow(); now >= dl {
			if c.deadline.Load() != dl {
				return nil // moved meanwhile: look again
			}
			return errTimeout
		}
	}
	if c.spin > 0 {
		if now == 0 {
			now = monoNow()
		}
		end := now + int64(c.spin)
		if dl != 0 {
			end = min(end, dl)
		}
		for i := 1; ; i++ {
			if c.readable() || c.closed.Load() || c.deadline.Load() != dl {
				return nil
			}
			if i%spinCheck == 0 && monoNow() >= end {
				break
			}
		}
	}
	notify := c.notify.Load()
	c.waiters.Add(1)
	if c.readable() || c.closed.Load() || c.deadline.Load() != dl {
		c.waiters.Add(-1)
		return nil
	}
	var t *time.Timer
	var timeout <-chan time.Time
	if dl != 0 {
		t = timers.Get().(*time.Timer)
		t.Reset(time.Duration(dl - monoNow()))
		timeout = t.C
	}
	select {
	case <-c.wake:
	case <-c.done:
	case <-*notify:
	case <-timeout:
	}
	c.waiters.Add(-1)
	if t != nil {
		t.Stop()
		timers.Put(t)
	}
	return nil
}

// epoch is the origin of the monotonic deadlines.
var epoch = time.Now()

// monoNow is the monotonic time since epoch.
func monoNow() int64 { return int64(time.Since(epoch)) }

// monoDeadline converts t to monotonic time since epoch, 0 for none.
func monoDeadline(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	now, d := time.Since(epoch), time.Until(t)
	if d > math.MaxInt64-now {
		return math.MaxInt64
	}
	if m := int64(now + d); m != 0 {
		return m
	}
	return -1 // epoch itself, long past
}

// ReadFromUDPAddrPort reads one datagram into b, blocking until one
// arrives or the read deadline passes. A datagram longer than b is
// truncated (the rest is discarded), as with recvfrom.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	m := [1]Message{{Buf: b}}
	if _, err := c.read(m[:]); err != nil {
		return 0, netip.AddrPort{}, c.opError("read", err)
	}
	return m[0].N, m[0].Addr, nil
}

// ReadFrom implements net.PacketConn.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, src, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// ReadBatch blocks until at least one datagram is queued, then fills as
// many of msgs as are queued and returns how many it filled. It blocks as
// ReadFrom does: until the read deadline passes (an error that is a
// timeout) or the socket closes (net.ErrClosed once the queue is empty).
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	n, err := c.read(msgs)
	if err != nil {
		return 0, c.opError("read", err)
	}
	return n, nil
}

// WriteToUDPAddrPort sends b to addr from the socket's address.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.closed.Load() {
		return 0, c.opError("write", net.ErrClosed)
	}
	if !addr.Addr().Is4() {
		return 0, c.opError("write", errors.New("not an IPv4 address"))
	}
	n, err := c.u.send(c.local, addr, b)
	if err != nil {
		return 0, c.opError("write", err)
	}
	c.sent.Add(1)
	return n, nil
}

// WriteTo implements net.PacketConn; addr must be a *net.UDPAddr.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opError("write", errors.New("address is not a *net.UDPAddr"))
	}
	ap := ua.AddrPort()
	return c.WriteToUDPAddrPort(b, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// Close unbinds the socket and wakes blocked readers, which return
// net.ErrClosed once the queue is empty. It is idempotent.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.u.unbind(c)
	close(c.done)
	return nil
}

// LocalAddr returns the bound address as a *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// LocalAddrPort returns the bound address.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.local }

// SetDeadline sets the read deadline (writes never block).
func (c *Conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline sets the deadline for reads, waking blocked readers so
// they observe it. A zero time means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.deadline.Store(monoDeadline(t))
	if c.waiters.Load() > 0 {
		ch := make(chan struct{})
		close(*c.notify.Swap(&ch))
	}
	return nil
}

// SetWriteDeadline is accepted and ignored: writes never block.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// Stats returns the socket's counters. Datagrams from a queue that ends
// its batches are counted when the batch is published.
func (c *Conn) Stats() SocketStats {
	s := SocketStats{Local: c.local.String(), Received: c.received.Load(), Bytes: c.bytes.Load(),
		Dropped: c.dropped.Load(), Sent: c.sent.Load(), Wakeups: c.wakeups.Load()}
	for m := c.mask.Load(); m != 0; m &= m - 1 {
		l := c.lanes[bits.TrailingZeros64(m)].Load()
		consumed := l.consumed.Load() // before count, which is never below it
		count := l.count.Load()
		s.Queued += int(count - consumed)
		s.QueuedLen += int(l.used())
		s.Received += count
		s.Bytes += l.bytes.Load()
	}
	return s
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: c.LocalAddr(), Err: err}
}
