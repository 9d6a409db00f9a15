package tcp

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
	"github.com/rxpath/rxpath/stack/tcp/internal/syncookie"
)

// ListenOptions configures a listener. The zero value means the defaults.
type ListenOptions struct {
	// Backlog bounds the accept queue (default 128); when it is full,
	// SYNs and handshake-completing ACKs are dropped and counted.
	Backlog int
	// SynQueue bounds the half-open connections (default 256); beyond it
	// the listener answers with SYN cookies and keeps no state.
	SynQueue int
	// Handler, if set, puts accepted connections in handler mode: it is
	// called once per connection when the handshake completes and the
	// connection is queued for Accept (never for one the listener refuses,
	// so each call is matched by a connection Accept returns, or that
	// Close of the listener ends), and returns
	// the function that then receives the stream's bytes on the poller
	// goroutine, as zero-copy views valid only during the call, instead of
	// the receive buffer. That function runs with the connection locked:
	// it must not call the Conn's methods (other than LocalAddrPort and
	// RemoteAddrPort) and must not block.
	Handler func(c *Conn) func(data []byte)
	// SynRetries bounds SYN-ACK retransmissions (default 5).
	SynRetries int
}

// Listener is a listening socket. It implements net.Listener and is safe
// for concurrent use.
type Listener struct {
	t    *TCP
	addr netip.AddrPort
	opts ListenOptions

	mu      sync.Mutex
	synq    int // connections in SYN-RECEIVED
	acceptq []*Conn
	pending map[*Conn]struct{} // established, not yet accepted
	half    map[*Conn]struct{} // in SYN-RECEIVED
	closed  bool
	// wake, on mu, is signalled per queued connection and broadcast by
	// Close: a condition variable rather than a channel remade per
	// connection, which a waiting Accept loop would pay as an allocation
	// per connection.
	wake    sync.Cond
	waiters int

	// lastCookie is when the listener last answered a SYN with a cookie
	// (the TCP clock, Unix nanoseconds; 0 for never): it is in cookie
	// mode for as long as those cookies are valid.
	lastCookie atomic.Int64
}

var _ net.Listener = (*Listener)(nil)

func newListener(t *TCP, addr netip.AddrPort, o ListenOptions) *Listener {
	if o.Backlog <= 0 {
		o.Backlog = 128
	}
	if o.SynQueue <= 0 {
		o.SynQueue = 256
	}
	if o.SynRetries <= 0 {
		o.SynRetries = 5
	}
	l := &Listener{t: t, addr: addr, opts: o, pending: make(map[*Conn]struct{}), half: make(map[*Conn]struct{})}
	l.wake.L = &l.mu
	return l
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// Accept waits for and returns the next connection.
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptTCP() }

// AcceptTCP is Accept returning the concrete type.
func (l *Listener) AcceptTCP() (*Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
		if len(l.acceptq) > 0 {
			// Shift rather than reslice, so the queue's array is
			// reused instead of reallocated as the front advances.
			c := l.acceptq[0]
			n := copy(l.acceptq, l.acceptq[1:])
			l.acceptq[n] = nil
			l.acceptq = l.acceptq[:n]
			delete(l.pending, c)
			// Lock order is connection, then listener: let go first.
			l.mu.Unlock()
			c.mu.Lock()
			c.l = nil
			c.mu.Unlock()
			l.mu.Lock()
			return c, nil
		}
		l.waiters++
		l.wake.Wait()
		l.waiters--
	}
}

// Close stops listening and resets the connections not yet accepted.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	q := l.acceptq
	l.acceptq = nil
	half := make([]*Conn, 0, len(l.half))
	for c := range l.half {
		half = append(half, c)
	}
	l.wake.Broadcast()
	l.mu.Unlock()
	l.t.removeListener(l)
	for _, c := range q {
		c.mu.Lock()
		c.sendRSTLocked()
		c.terminate(net.ErrClosed)
		c.mu.Unlock()
	}
	for _, c := range half { // half-open connections go quietly
		c.mu.Lock()
		if c.state == StateSynReceived {
			c.terminate(net.ErrClosed)
		}
		c.mu.Unlock()
	}
	return nil
}

// forget drops a connection that ended before being accepted.
func (l *Listener) forget(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.state == StateClosed && c.synCounted {
		c.synCounted = false
		l.synq--
	}
	delete(l.half, c)
	if _, ok := l.pending[c]; ok {
		delete(l.pending, c)
		for i, q := range l.acceptq {
			if q == c {
				l.acceptq = append(l.acceptq[:i], l.acceptq[i+1:]...)
				break
			}
		}
	}
}

func (l *Listener) acceptFull() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acceptq) >= l.opts.Backlog
}

// enqueue puts an established connection on the accept queue.
func (l *Listener) enqueue(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.acceptq) >= l.opts.Backlog {
		return false
	}
	if c.synCounted {
		c.synCounted = false
		l.synq--
	}
	delete(l.half, c)
	l.acceptq = append(l.acceptq, c)
	l.pending[c] = struct{}{}
	if l.waiters > 0 {
		l.wake.Signal()
	}
	return true
}

func tuple(k key) syncookie.Tuple {
	return syncookie.Tuple{SrcAddr: k.raddr, DstAddr: k.laddr, SrcPort: k.rport, DstPort: k.lport}
}

// handleSegment is the LISTEN state (RFC 9293 §3.10.7.2) with SYN cookies.
func (l *Listener) handleSegment(seg *segment) {
	t := l.t
	switch {
	case seg.has(header.TCPFlagRST):
		t.st.listenRST.Add(1) // never answer a RST
	case seg.has(header.TCPFlagSYN) && seg.has(header.TCPFlagACK):
		t.st.listenBadACK.Add(1)
		t.sendRST(seg.p.Queue, seg.k, seg.ack, 0, false)
	case seg.has(header.TCPFlagACK):
		l.cookieACK(seg)
	case seg.has(header.TCPFlagSYN):
		l.syn(seg)
	default:
		t.st.listenDrops.Add(1)
	}
}

// syn answers a SYN: with a connection in SYN-RECEIVED while the SYN
// queue has room, with a stateless SYN cookie when it does not.
func (l *Listener) syn(seg *segment) {
	t := l.t
	if l.acceptFull() {
		t.st.listenOverflows.Add(1)
		t.st.listenDrops.Add(1)
		return
	}
	l.mu.Lock()
	full := l.synq >= l.opts.SynQueue
	if !full {
		l.synq++
	}
	l.mu.Unlock()
	if full {
		l.sendCookie(seg)
		return
	}
	c := newConn(t, seg.k, seg.p.Queue)
	c.l = l
	c.synCounted = true
	l.mu.Lock()
	l.half[c] = struct{}{}
	l.mu.Unlock()
	c.state = StateSynReceived
	c.irs, c.rcvNxt = seg.seq, seg.seq.Add(1)
	c.iss = seqnum.Value(t.cookies.ISN(tuple(seg.k)))
	c.sndUna, c.sndNxt = c.iss, c.iss.Add(1)
	c.sndHigh = c.sndNxt
	c.negotiate(&seg.opts, false)
	if c.tsOK {
		c.tsRecent = seg.opts.TSVal
		c.tsOffset = t.cookies.TSOffset(tuple(seg.k))
	}
	c.sndWnd = uint32(seg.wnd) // never scaled in a SYN
	c.sndWl1, c.sndWl2 = seg.seq, c.iss
	c.rcvAdvRight = c.rcvNxt
	if !t.addConn(c) {
		l.mu.Lock()
		l.synq--
		l.mu.Unlock()
		t.st.synQueueDrops.Add(1)
		return
	}
	c.mu.Lock()
	c.lp = seg.lp // stage the SYN-ACK in the receive batch, if any
	c.sendSYNACK()
	c.lp = nil
	c.armRTO()
	c.mu.Unlock()
}

// completePassiveOpen handles the ACK that completes a SYN-RECEIVED
// connection of a listener (c.mu held). It reports false when the accept
// queue is full: the ACK is dropped and the SYN-ACK will be resent.
func (c *Conn) completePassiveOpen(seg *segment) bool {
	t := c.t
	if c.l != nil && c.l.acceptFull() {
		t.st.listenOverflows.Add(1)
		t.st.listenDrops.Add(1)
		return false
	}
	c.stopRTO()
	c.retries = 0
	c.sndUna = seg.ack
	c.sndWnd = uint32(seg.wnd) << c.sndWScale
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = seg.seq, seg.ack
	c.establish()
	c.wakeWriters() // a simultaneous open's Dial waits here
	t.st.passiveOpens.Add(1)
	if c.l != nil && !c.l.enqueue(c) {
		t.st.listenOverflows.Add(1)
		c.sendRSTLocked()
		c.terminate(net.ErrClosed)
		return false
	}
	// Only a connection Accept will return gets a handler: one the
	// listener refused would leave the application a record nobody ends.
	// The lock is held, so no data reaches the connection before it is set.
	if c.l != nil && c.l.opts.Handler != nil {
		c.handler = c.l.opts.Handler(c)
	}
	return true
}

// sendCookie answers a SYN statelessly with a SYN cookie.
func (l *Listener) sendCookie(seg *segment) {
	t := l.t
	t.st.cookiesSent.Add(1)
	l.lastCookie.Store(t.clock().UnixNano())
	p := syncookie.Params{MSS: defaultMSS, HasTS: seg.opts.HasTS, SACKPermitted: seg.opts.SACKPermitted}
	if seg.opts.HasMSS {
		p.MSS = uint16(min(max(int(seg.opts.MSS), minMSS), t.ourMSS()))
	}
	if seg.opts.HasWS {
		p.HasWScale, p.WScale = true, min(seg.opts.WS, 14)
	}
	isn, tsval, enc := t.cookies.Cookie(tuple(seg.k), uint32(seg.seq), p, t.clock())
	o := header.TCPOptions{MSS: uint16(t.ourMSS()), HasMSS: true}
	if enc.HasTS {
		o.HasTS, o.TSVal, o.TSEcr = true, tsval, seg.opts.TSVal
		// Without timestamps the window scale and SACK could not be
		// recovered from the cookie, so they are offered only with them.
		if enc.HasWScale {
			o.HasWS, o.WS = true, rcvWScaleFor(t.opts.RcvBuf)
		}
		o.SACKPermitted = enc.SACKPermitted
	}
	var ob [40]byte
	n := header.EncodeTCPOptions(ob[:], o)
	t.sendRaw(seg.p.Queue, seg.k, header.TCPFields{
		SrcPort: seg.k.lport, DstPort: seg.k.rport, Seq: isn, Ack: uint32(seg.seq.Add(1)),
		Flags: header.TCPFlagSYN | header.TCPFlagACK, Window: uint16(min(t.opts.RcvBuf, 0xffff)), Options: ob[:n],
	}, nil)
}

// inCookieMode reports whether cookies this listener sent may still be
// valid.
func (l *Listener) inCookieMode() bool {
	last := l.lastCookie.Load()
	return last != 0 && l.t.clock().UnixNano()-last < int64(syncookie.MaxAge)
}

// cookieACK handles a bare ACK to a listener: the end of a SYN-cookie
// handshake, or garbage that gets a RST.
func (l *Listener) cookieACK(seg *segment) {
	t := l.t
	p, ok := t.cookies.Check(tuple(seg.k), uint32(seg.seq), uint32(seg.ack), seg.opts.HasTS, seg.opts.TSEcr, t.clock())
	if !ok {
		t.st.cookiesFailed.Add(1)
		// The check uses SEG.SEQ−1 as the SYN's sequence number, so it
		// fails for every segment after a lost first one. While our
		// cookies are in flight, such a segment is far more likely a
		// client whose first flight was lost than garbage: stay silent,
		// and its retransmission from ISN+1 passes (Linux resets it).
		// For data that is enough. A bare ACK must also echo the
		// timestamp of a cookie we sent its peer (the half of the cookie
		// the sequence number does not enter): it is then the challenge
		// ACK (RFC 5961 §4) such a client sends past ISN+1 when a SYN-ACK
		// it did not ask for reaches its 4-tuple, as a same-source SYN
		// flood's do several times a second. Any other bare ACK gets
		// its RST.
		if l.inCookieMode() {
			switch {
			case len(seg.payload) > 0 || seg.has(header.TCPFlagFIN):
				t.st.cookiesDataDropped.Add(1)
				t.st.listenDrops.Add(1)
				return
			case seg.opts.HasTS && t.cookies.EchoesCookieTS(tuple(seg.k), seg.opts.TSEcr, t.clock()):
				t.st.cookiesACKDropped.Add(1)
				t.st.listenDrops.Add(1)
				return
			}
		}
		t.st.listenBadACK.Add(1)
		t.sendRST(seg.p.Queue, seg.k, seg.ack, 0, false)
		return
	}
	l.acceptCookie(seg, p)
}

// acceptCookie makes the connection of seg, an ACK that passed the cookie
// check with parameters p, and hands it its data.
func (l *Listener) acceptCookie(seg *segment, p syncookie.Params) {
	t := l.t
	if l.acceptFull() {
		t.st.listenOverflows.Add(1)
		t.st.listenDrops.Add(1)
		return
	}
	t.st.cookiesRecv.Add(1)
	c := newConn(t, seg.k, seg.p.Queue)
	c.l = l
	c.iss = seg.ack.Add(^seqnum.Size(0))
	c.irs = seg.seq.Add(^seqnum.Size(0))
	c.rcvNxt = seg.seq
	c.sndUna, c.sndNxt, c.sndHigh = seg.ack, seg.ack, seg.ack
	c.mss = min(max(int(p.MSS), minMSS), t.ourMSS())
	if p.HasTS && seg.opts.HasTS {
		c.tsOK = true
		c.tsRecent = seg.opts.TSVal
		c.tsOffset = t.cookies.TSOffset(tuple(seg.k)) // the cookie's TSval included it: stay monotonic
		if p.HasWScale {
			c.sndWScale, c.rcvWScale = p.WScale, rcvWScaleFor(t.opts.RcvBuf)
		}
		c.sackOK = p.SACKPermitted
	}
	c.sndWnd = uint32(seg.wnd) << c.sndWScale
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = seg.seq, seg.ack
	c.rcvAdvRight = c.rcvNxt.Add(seqnum.Size(min(t.opts.RcvBuf, 0xffff)))
	c.state = StateSynReceived
	if !t.addConn(c) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.completePassiveOpen(seg) {
		c.processData(seg)
		if c.ackNow {
			c.sendACK()
		}
	}
}
