package tcp

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
	"github.com/rxpath/rxpath/stack/tcp/internal/syncookie"
	"github.com/rxpath/rxpath/stack/tcp/internal/timer"
)

// Errors.
var (
	ErrAddrInUse      = errors.New("address already in use")
	ErrAddrNotLocal   = errors.New("cannot assign requested address")
	ErrConnReset      = errors.New("connection reset by peer")
	ErrConnRefused    = errors.New("connection refused")
	ErrTimeout        = errors.New("connection timed out")
	ErrWriteAfterShut = errors.New("write after CloseWrite")
)

// Options configures the TCP layer. The zero value means the defaults.
type Options struct {
	// RcvBuf and SndBuf are the per-connection buffer sizes (default
	// 4 MiB each). The out-of-order queue is capped at RcvBuf too.
	RcvBuf, SndBuf int
	// RcvMem, if set, is a receive window budget that all connections
	// share, like Linux's tcp_mem: each connection's window is capped at
	// RcvMem divided by the number of connections (never below four
	// segments). Size it to what the rx rings absorb, rx ring frames ×
	// MSS: then a thousand senders bursting at once cannot overflow the
	// ring and sit out backed-off retransmission timeouts. 0 (the
	// default) caps each window at RcvBuf only.
	RcvMem int
	// TimeWait is how long a closed connection stays in TIME_WAIT
	// (default 60 s); MaxTimeWait bounds how many (default 65536; the
	// oldest is dropped beyond it, like tcp_max_tw_buckets).
	TimeWait    time.Duration
	MaxTimeWait int
	// DelayedAck is the longest an ACK waits (default 40 ms).
	DelayedAck time.Duration
	// ChallengeAckInterval rate-limits challenge and duplicate ACKs per
	// connection (default 500 ms).
	ChallengeAckInterval time.Duration
	// MinRTO, MaxRTO and InitialRTO bound the retransmission timer
	// (defaults 200 ms, 120 s, 1 s).
	MinRTO, MaxRTO, InitialRTO time.Duration
	// MaxRetries is how many retransmissions of one segment, or how many
	// unanswered zero-window probes, abort the connection (default 15).
	MaxRetries int
	// FinTimeout is how long an orphaned connection waits in FIN-WAIT-2
	// (default 60 s).
	FinTimeout time.Duration
	// Clock returns the time (default: the stack's clock). With
	// ManualTimers, no timer goroutine runs and the test advances time
	// with Advance.
	Clock        func() time.Time
	ManualTimers bool
	// CookieSecret fixes the ISN and SYN-cookie secret (tests).
	CookieSecret []byte
}

func (o Options) withDefaults(s *stack.Stack) Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.RcvBuf <= 0 {
		o.RcvBuf = 4 << 20
	}
	if o.SndBuf <= 0 {
		o.SndBuf = 4 << 20
	}
	def(&o.TimeWait, 60*time.Second)
	if o.MaxTimeWait <= 0 {
		o.MaxTimeWait = 65536
	}
	def(&o.DelayedAck, 40*time.Millisecond)
	def(&o.ChallengeAckInterval, 500*time.Millisecond)
	def(&o.MinRTO, 200*time.Millisecond)
	def(&o.MaxRTO, 120*time.Second)
	def(&o.InitialRTO, time.Second)
	if o.MaxRetries <= 0 {
		o.MaxRetries = 15
	}
	def(&o.FinTimeout, 60*time.Second)
	if o.Clock == nil {
		o.Clock = s.Now
	}
	return o
}

// key identifies a connection: our address and port, the peer's.
type key struct {
	laddr, raddr [4]byte
	lport, rport uint16
}

// TCP is the TCP layer of a stack. Safe for concurrent use.
type TCP struct {
	ip    *ipv4.IPv4
	s     *stack.Stack
	opts  Options
	clock func() time.Time

	mu        sync.RWMutex
	conns     map[key]*Conn
	connsPeak int // the most connections since conns was made
	listeners map[uint16]*portListeners
	nextPort  uint16

	tw      *timeWaitTable
	timers  *timer.Wheel
	stop    chan struct{}
	closed  atomic.Bool
	cookies *syncookie.Generator
	// sharing counts the connections past the handshake (with receive
	// buffers), among which Options.RcvMem is divided: half-open ones
	// (a SYN flood's) must not shrink real connections' windows.
	sharing atomic.Int64

	// loops are the receive loops of queues 0 to maxLoops-1 (batch.go).
	loops [maxLoops]rxLoop

	st counters
}

type portListeners struct {
	specific []*Listener
	wildcard *Listener
}

// New creates the TCP layer and registers it with ip for protocol 6.
func New(ip *ipv4.IPv4, o Options) *TCP {
	o = o.withDefaults(ip.Stack())
	t := &TCP{
		ip: ip, s: ip.Stack(), opts: o, clock: o.Clock,
		conns:     make(map[key]*Conn),
		listeners: make(map[uint16]*portListeners),
		nextPort:  32768,
		stop:      make(chan struct{}),
		cookies:   syncookie.New(syncookie.Options{Clock: o.Clock, Secret: o.CookieSecret}),
	}
	t.timers = timer.New(o.Clock)
	t.tw = newTimeWaitTable(t)
	if !o.ManualTimers {
		go t.timers.Run(t.stop)
	}
	ip.RegisterTransport(ipv4.ProtoTCP, t.receive)
	t.s.OnBatchEnd(t.endBatch)
	return t
}

// Close stops the timer goroutine. Connections are not closed.
func (t *TCP) Close() error {
	if t.closed.CompareAndSwap(false, true) {
		close(t.stop)
	}
	return nil
}

// Advance runs the timers due at now (manual-timer mode); it returns how
// many fired.
func (t *TCP) Advance(now time.Time) int { return t.timers.Advance(now) }

// Listen binds a listener to addr ("10.99.0.2:5001", or ":5001" for every
// local address), like the tcp.Listen(stack, addr, opts).
func Listen(t *TCP, addr string, o ListenOptions) (*Listener, error) {
	ap, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	return t.Listen(ap, o)
}

func parseAddr(s string) (netip.AddrPort, error) {
	if len(s) > 0 && s[0] == ':' {
		s = "0.0.0.0" + s
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, fmt.Errorf("tcp: address %q: %w", s, err)
	}
	return ap, nil
}

// Listen binds a listener to addr; an unspecified address listens on every
// local address.
func (t *TCP) Listen(addr netip.AddrPort, o ListenOptions) (*Listener, error) {
	a := addr.Addr()
	if !a.Is4() {
		return nil, fmt.Errorf("tcp listen %v: %w", addr, ErrAddrNotLocal)
	}
	if !a.IsUnspecified() && !t.s.IsLocal(a.As4()) {
		return nil, fmt.Errorf("tcp listen %v: %w", addr, ErrAddrNotLocal)
	}
	l := newListener(t, addr, o)
	t.mu.Lock()
	defer t.mu.Unlock()
	pl := t.listeners[addr.Port()]
	if pl == nil {
		pl = &portListeners{}
		t.listeners[addr.Port()] = pl
	}
	if pl.wildcard != nil || a.IsUnspecified() && len(pl.specific) > 0 {
		return nil, fmt.Errorf("tcp listen %v: %w", addr, ErrAddrInUse)
	}
	for _, s := range pl.specific {
		if s.addr.Addr() == a {
			return nil, fmt.Errorf("tcp listen %v: %w", addr, ErrAddrInUse)
		}
	}
	if a.IsUnspecified() {
		pl.wildcard = l
	} else {
		pl.specific = append(pl.specific, l)
	}
	return l, nil
}

func (t *TCP) removeListener(l *Listener) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pl := t.listeners[l.addr.Port()]
	if pl == nil {
		return
	}
	if pl.wildcard == l {
		pl.wildcard = nil
	}
	for i, s := range pl.specific {
		if s == l {
			pl.specific = append(pl.specific[:i], pl.specific[i+1:]...)
			break
		}
	}
	if pl.wildcard == nil && len(pl.specific) == 0 {
		delete(t.listeners, l.addr.Port())
	}
}

// lookupListener finds the listener for a segment to laddr:lport. Caller
// holds t.mu (read).
func (t *TCP) lookupListener(laddr [4]byte, lport uint16) *Listener {
	pl := t.listeners[lport]
	if pl == nil {
		return nil
	}
	for _, l := range pl.specific {
		if l.addr.Addr().As4() == laddr {
			return l
		}
	}
	return pl.wildcard
}

func (t *TCP) addConn(c *Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.conns[c.k]; ok {
		return false
	}
	t.conns[c.k] = c
	t.connsPeak = max(t.connsPeak, len(t.conns))
	t.st.currEstab.Add(1)
	return true
}

func (t *TCP) removeConn(c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[c.k] == c {
		delete(t.conns, c.k)
		if len(t.conns) == 0 && t.connsPeak >= shrinkPeak {
			t.conns, t.connsPeak = make(map[key]*Conn), 0
		}
		t.st.currEstab.Add(-1)
		if c.shared {
			t.sharing.Add(-1)
		}
	}
}

// shrinkPeak is the size from which a table that empties is made afresh:
// Go maps keep the memory of their peak size, and after a burst of
// connections that is the only memory left behind.
const shrinkPeak = 1024

// Conns returns the number of connections (not counting TIME_WAIT).
func (t *TCP) Conns() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.conns)
}

// TimeWaits returns the number of connections in TIME_WAIT.
func (t *TCP) TimeWaits() int { return t.tw.len() }

// segment is a parsed, validated TCP segment.
type segment struct {
	p       *stack.Packet
	h       header.TCP
	seq     seqnum.Value
	ack     seqnum.Value
	flags   uint8
	wnd     uint16
	payload []byte
	opts    header.TCPOptions
	k       key
	lp      *rxLoop // the receive loop's batch state, nil when unbatched
}

func (s *segment) has(f uint8) bool { return s.flags&f != 0 }

// seqLen is the segment's length in sequence space (SYN and FIN count).
func (s *segment) seqLen() seqnum.Size {
	n := seqnum.Size(len(s.payload))
	if s.has(header.TCPFlagSYN) {
		n++
	}
	if s.has(header.TCPFlagFIN) {
		n++
	}
	return n
}

// receive is tcp_v4_rcv.
func (t *TCP) receive(p *stack.Packet) {
	t.st.inSegs.Add(1)
	h := header.TCP(p.Data)
	if !h.IsValid() {
		t.st.inErrs.Add(1)
		t.st.badHeader.Add(1)
		return
	}
	if !h.IsChecksumValid(p.Src, p.Dst) {
		t.st.inErrs.Add(1)
		t.st.csumErrors.Add(1)
		return
	}
	if p.Broadcast {
		t.st.notUnicast.Add(1)
		return
	}
	var seg segment
	if err := header.ParseTCPOptions(h.Options(), &seg.opts); err != nil {
		t.st.inErrs.Add(1)
		t.st.badOptions.Add(1)
		return
	}
	seg.p, seg.h = p, h
	seg.seq, seg.ack = seqnum.Value(h.Seq()), seqnum.Value(h.Ack())
	seg.flags, seg.wnd, seg.payload = h.Flags(), h.Window(), h.Payload()
	seg.k = key{laddr: p.Dst, raddr: p.Src, lport: h.DstPort(), rport: h.SrcPort()}

	lp := t.loop(p.Queue)
	seg.lp = lp
	if lp != nil && lp.held != nil {
		if c := lp.held; c.k == seg.k && c.state != StateClosed {
			c.handleSegment(&seg) // the batch's next segment: no lookup, no lock
			return
		}
		lp.release()
	}
	t.mu.RLock()
	c := t.conns[seg.k]
	var l *Listener
	if c == nil {
		l = t.lookupListener(seg.k.laddr, seg.k.lport)
	}
	t.mu.RUnlock()
	if c != nil {
		c.mu.Lock()
		if lp == nil {
			c.handleSegment(&seg)
			c.mu.Unlock()
			return
		}
		c.lp = lp
		c.handleSegment(&seg)
		if c.state == StateClosed {
			c.lp = nil
			c.mu.Unlock()
			return
		}
		lp.held = c // keep it locked for the batch's next segment
		return
	}
	if t.tw.handle(&seg) {
		return
	}
	if l != nil {
		l.handleSegment(&seg)
		return
	}
	t.st.noPort.Add(1)
	t.sendResetFor(&seg)
}

// sendResetFor answers a segment for which no connection exists (RFC 9293
// §3.10.7.1), never a RST with a RST.
func (t *TCP) sendResetFor(seg *segment) {
	if seg.has(header.TCPFlagRST) {
		return
	}
	if seg.has(header.TCPFlagACK) {
		t.sendRST(seg.p.Queue, seg.k, seg.ack, 0, false)
	} else {
		t.sendRST(seg.p.Queue, seg.k, 0, seg.seq.Add(seg.seqLen()), true)
	}
}

// sendRST sends a reset with the given sequence (and ACK if withAck).
func (t *TCP) sendRST(queue int, k key, seq, ack seqnum.Value, withAck bool) {
	flags := uint8(header.TCPFlagRST)
	if withAck {
		flags |= header.TCPFlagACK
	}
	t.st.outRsts.Add(1)
	t.sendRaw(queue, k, header.TCPFields{SrcPort: k.lport, DstPort: k.rport, Seq: uint32(seq), Ack: uint32(ack), Flags: flags}, nil)
}

// sendRaw builds and sends one segment from k.laddr to k.raddr.
func (t *TCP) sendRaw(queue int, k key, f header.TCPFields, payload []byte) error {
	tb := t.s.GetTxBuffer()
	defer t.s.PutTxBuffer(tb)
	b := tb.Packet()[header.IPv4MinimumSize:]
	hl := header.EncodeTCP(b, f)
	n := hl + copy(b[hl:], payload)
	seg := header.TCP(b[:n])
	seg.SetChecksum(header.TCPChecksum(seg, k.laddr, k.raddr))
	t.st.outSegs.Add(1)
	return t.ip.Send(queue, k.laddr, k.raddr, ipv4.ProtoTCP, tb, n)
}
