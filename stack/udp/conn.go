package udp

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
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
}

// perDatagram is what a queued datagram costs beyond its payload, like
// skb truesize overhead.
const perDatagram = 64

var _ net.PacketConn = (*Conn)(nil)

// Conn is a UDP socket. It implements net.PacketConn. Safe for concurrent
// use.
type Conn struct {
	u     *UDP
	local netip.AddrPort

	handler atomic.Pointer[Handler]

	mu        sync.Mutex
	q         ring
	closed    bool
	waiters   int
	wake      chan struct{} // closed and replaced to wake every blocked reader
	rdeadline time.Time

	closeOnce sync.Once
	received  atomic.Uint64
	bytes     atomic.Uint64
	dropped   atomic.Uint64
	sent      atomic.Uint64
}

func newConn(u *UDP, local netip.AddrPort, rcvbuf int) *Conn {
	c := &Conn{u: u, local: local, wake: make(chan struct{})}
	c.q.init(rcvbuf)
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

// deliver hands d to the handler or queues a copy. It reports false when
// the queue is full (the datagram is dropped).
func (c *Conn) deliver(d Datagram) bool {
	if h := c.handler.Load(); h != nil {
		(*h)(d)
		c.received.Add(1)
		c.bytes.Add(uint64(len(d.Payload)))
		return true
	}
	c.mu.Lock()
	if c.closed || !c.q.push(d.Payload, d.Src) {
		c.mu.Unlock()
		c.dropped.Add(1)
		return false
	}
	if c.waiters > 0 {
		close(c.wake)
		c.wake = make(chan struct{})
	}
	c.mu.Unlock()
	c.received.Add(1)
	c.bytes.Add(uint64(len(d.Payload)))
	return true
}

// errTimeout is returned when a read deadline passes.
var errTimeout = os.ErrDeadlineExceeded

// waitLocked blocks until the queue has data, the deadline passes or the
// socket closes. c.mu is held on entry and on return.
func (c *Conn) waitLocked() error {
	for c.q.count == 0 {
		if c.closed {
			return net.ErrClosed
		}
		var timeout <-chan time.Time
		if !c.rdeadline.IsZero() {
			d := time.Until(c.rdeadline)
			if d <= 0 {
				return errTimeout
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		wake := c.wake
		c.waiters++
		c.mu.Unlock()
		select {
		case <-wake:
		case <-timeout:
		}
		c.mu.Lock()
		c.waiters--
	}
	return nil
}

// ReadFromUDPAddrPort reads one datagram into b, blocking until one
// arrives or the read deadline passes. A datagram longer than b is
// truncated (the rest is discarded), as with recvfrom.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.waitLocked(); err != nil {
		return 0, netip.AddrPort{}, c.opError("read", err)
	}
	n, _, src := c.q.pop(b)
	return n, src, nil
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
// many of msgs as are queued and returns how many it filled.
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.waitLocked(); err != nil {
		return 0, c.opError("read", err)
	}
	n := 0
	for n < len(msgs) && c.q.count > 0 {
		m := &msgs[n]
		var full int
		m.N, full, m.Addr = c.q.pop(m.Buf)
		m.Truncated = full > m.N
		n++
	}
	return n, nil
}

// WriteToUDPAddrPort sends b to addr from the socket's address.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.isClosed() {
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

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close unbinds the socket and wakes blocked readers, which return
// net.ErrClosed. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.u.unbind(c)
		c.mu.Lock()
		c.closed = true
		close(c.wake)
		c.wake = make(chan struct{})
		c.mu.Unlock()
	})
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
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdeadline = t
	if c.waiters > 0 {
		close(c.wake)
		c.wake = make(chan struct{})
	}
	return nil
}

// SetWriteDeadline is accepted and ignored: writes never block.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }

// Stats returns the socket's counters.
func (c *Conn) Stats() SocketStats {
	c.mu.Lock()
	q, ql := c.q.count, c.q.used
	c.mu.Unlock()
	return SocketStats{Local: c.local.String(), Received: c.received.Load(), Bytes: c.bytes.Load(),
		Dropped: c.dropped.Load(), Queued: q, QueuedLen: ql, Sent: c.sent.Load()}
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: c.LocalAddr(), Err: err}
}

// ring is the receive queue: payloads in a byte ring of cap bytes, and a
// descriptor ring. Each datagram costs len+perDatagram bytes of the cap.
type ring struct {
	buf     []byte
	descs   []desc
	dhead   int // next descriptor to pop
	count   int
	whead   int // byte offset of the oldest payload
	wtail   int // byte offset where the next payload goes
	used    int // accounted bytes (payloads plus overhead)
	limit   int
	bufUsed int
}

type desc struct {
	off, n int
	src    netip.AddrPort
}

func (r *ring) init(limit int) {
	r.limit = limit
	r.buf = make([]byte, limit)
	r.descs = make([]desc, limit/perDatagram+1)
}

func (r *ring) push(p []byte, src netip.AddrPort) bool {
	if r.used+len(p)+perDatagram > r.limit || r.count == len(r.descs) || r.bufUsed+len(p) > len(r.buf) {
		return false
	}
	off := r.wtail
	k := copy(r.buf[off:], p)
	copy(r.buf, p[k:]) // wraps
	r.wtail = (off + len(p)) % len(r.buf)
	r.descs[(r.dhead+r.count)%len(r.descs)] = desc{off: off, n: len(p), src: src}
	r.count++
	r.used += len(p) + perDatagram
	r.bufUsed += len(p)
	return true
}

// pop copies the oldest datagram into b and returns the bytes copied, the
// datagram's full length and its source.
func (r *ring) pop(b []byte) (n, full int, src netip.AddrPort) {
	d := r.descs[r.dhead]
	r.descs[r.dhead] = desc{}
	r.dhead = (r.dhead + 1) % len(r.descs)
	r.count--
	end := d.off + d.n
	if end <= len(r.buf) {
		n = copy(b, r.buf[d.off:end])
	} else {
		n = copy(b, r.buf[d.off:])
		if n < len(b) {
			n += copy(b[n:], r.buf[:end-len(r.buf)])
		}
	}
	r.whead = end % len(r.buf)
	r.used -= d.n + perDatagram
	r.bufUsed -= d.n
	if r.count == 0 {
		r.whead, r.wtail = 0, 0
	}
	return n, d.n, d.src
}
