package tcp

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp/internal/cc"
	"github.com/rxpath/rxpath/stack/tcp/internal/ooo"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
	"github.com/rxpath/rxpath/stack/tcp/internal/timer"
)

// State is a connection state of RFC 9293.
type State int

// The connection states.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

// String returns the state's name as RFC 9293 writes it, e.g. "SYN-RECEIVED".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether the state is past the handshake.
func (s State) synchronized() bool { return s >= StateEstablished }

// defaultMSS is what we assume when the peer sends no MSS option (RFC
// 9293 §3.7.1), and minMSS the floor we clamp a peer's MSS to.
const (
	defaultMSS = 536
	minMSS     = 48
)

// Conn is a TCP connection. It implements net.Conn and is safe for
// concurrent use.
type Conn struct {
	t     *TCP
	k     key // the addresses: LocalAddrPort and RemoteAddrPort derive from it
	queue int // the rx queue the connection's segments arrive on; replies go out there
	l     *Listener
	// synCounted: the connection occupies a slot of its listener's SYN
	// queue (guarded by the listener's lock).
	synCounted bool

	mu    sync.Mutex
	state State
	err   error // why the connection ended (reset, timeout), for Read and Write

	// Send side.
	iss, sndUna, sndNxt seqnum.Value
	sndHigh             seqnum.Value // highest SND.NXT before a go-back-N rewind
	sndWnd, maxSndWnd   uint32
	sndWl1, sndWl2      seqnum.Value
	sndWScale           uint8
	rcvWScale           uint8
	mss                 int // our send MSS: the peer's, clamped
	sackOK, tsOK        bool
	tsRecent            uint32
	tsOffset            uint32
	snd                 chunkBuf // data from sndUna on (sent and unsent)
	finQueued, finSent  bool     // FIN requested; FIN in flight (since the last go-back-N rewind)
	finEverSent         bool
	finSeqOut           seqnum.Value // sequence number of our FIN
	rto                 cc.RTO
	nr                  cc.NewReno
	rtx                 timer.Entry
	// rtxAt is the retransmission deadline (Unix ns, 0 for none), and
	// rtxSched the one rtx is scheduled for (0 when it is not): arming
	// and stopping the RTO per ACK is a field write, and the entry
	// moves only when the deadline comes earlier than scheduled.
	rtxAt, rtxSched int64
	retries         int
	rttTiming       bool
	rttSeq          seqnum.Value
	rttStart        time.Time

	// Receive side.
	irs, rcvNxt seqnum.Value
	rcv         chunkBuf
	rcvAdvRight seqnum.Value // right edge of the last advertised window
	ofo         *ooo.Queue   // created by the first out-of-order segment
	shared      bool         // past the handshake: counted in TCP.sharing
	finReceived bool         // the peer's FIN was consumed: reads return EOF
	finPending  bool         // a FIN arrived beyond a hole
	finSeq      seqnum.Value
	delack      timer.Entry
	// delackAt is the delayed ACK's deadline (Unix ns of the TCP clock, 0
	// for none). Arming and disarming it is a write of this field: the
	// timer entry is scheduled only when none is (delackArmed), and its
	// callback sends the ACK or re-arms for a later deadline.
	delackAt    int64
	delackArmed bool
	unackedSegs int
	rcvMSS      int // largest segment received, for the delayed-ACK rule
	ackNow      bool
	lastDupAck  time.Time // challenge and duplicate ACK rate limit
	handler     func(b []byte)
	done        chan struct{}
	doneClosed  bool
	userClosed  bool
	finWait2    timer.Entry

	// Receive batching (batch.go): the loop whose batch holds or last
	// locked the connection (nil outside a batch), whether the connection
	// is on that loop's pending list, whether a reader wake-up waits for
	// the batch end, and whether this segment's ACK may wait for it.
	lp           *rxLoop
	batchPending bool
	wakePending  bool
	ackDefer     bool

	// Blocked readers and writers.
	rwake, wwake   chan struct{}
	rwaits, wwaits int
	rpend, wpend   int // waiters the last wake-up has yet to reach
	rdl, wdl       time.Time
}

func newConn(t *TCP, k key, queue int) *Conn {
	c := &Conn{
		t: t, k: k, queue: queue,
		mss:    defaultMSS,
		rcvMSS: defaultMSS,
		rto:    cc.NewRTO(t.opts.MinRTO, t.opts.MaxRTO, t.opts.InitialRTO),
	}
	t.timers.InitArg(&c.rtx, connRetransmitTimer, c)
	t.timers.InitArg(&c.delack, connDelayedAck, c)
	t.timers.InitArg(&c.finWait2, connFinWait2Timer, c)
	return c
}

// ourMSS is the MSS we advertise: what fits our MTU.
func (t *TCP) ourMSS() int { return t.s.MTU() - header.IPv4MinimumSize - header.TCPMinimumSize }

// rcvWScaleFor picks our window scale: the smallest shift that can
// advertise the whole receive buffer.
func rcvWScaleFor(buf int) uint8 {
	var ws uint8
	for ws < 14 && 65535<<ws < buf {
		ws++
	}
	return ws
}

// establish finishes the handshake. Buffers come later still: the
// receive and send buffers with the first byte they hold, the
// out-of-order queue with the first hole, so that half-open connections
// (a SYN flood) and idle ones cost little memory.
func (c *Conn) establish() {
	c.state = StateEstablished
	c.setupBuffers()
}

func (c *Conn) setupBuffers() {
	if !c.shared {
		c.shared = true
		c.t.sharing.Add(1) // until removeConn
	}
	c.nr = cc.NewNewReno(c.mss)
}

// synOutstanding reports whether our SYN is sent and not yet
// acknowledged: in SYN-SENT, SYN-RECEIVED, and FIN-WAIT-1 after a CLOSE in
// SYN-RECEIVED, whose FIN waits for that ACK.
func (c *Conn) synOutstanding() bool { return c.sndUna == c.iss }

// msDuration converts a timestamp difference in milliseconds.
func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

// LocalAddr returns our address.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.LocalAddrPort()) }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.RemoteAddrPort()) }

// LocalAddrPort returns our address without allocating.
func (c *Conn) LocalAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(c.k.laddr), c.k.lport)
}

// RemoteAddrPort returns the peer's address without allocating.
func (c *Conn) RemoteAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(c.k.raddr), c.k.rport)
}

// State returns the connection's state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// The timer callbacks, as functions of the connection so that Init
// allocates no closure per connection.
func connRetransmitTimer(c any, now time.Time) { c.(*Conn).onRetransmitTimer(now) }
func connDelayedAck(c any, now time.Time)      { c.(*Conn).onDelayedAck(now) }
func connFinWait2Timer(c any, now time.Time)   { c.(*Conn).onFinWait2Timer(now) }

// closedChan is the Done channel of a connection that ended before anyone
// asked for it.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Done is closed when the peer has finished sending (its FIN arrived) or
// the connection ended. The channel is made on the first call, so that a
// connection nobody watches does not carry it; Done locks the connection,
// so a listener's Handler must not call it.
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.doneClosed {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

func (c *Conn) closeDone() {
	if !c.doneClosed {
		c.doneClosed = true
		if c.done != nil {
			close(c.done)
		}
	}
}

// wakeReaders and wakeWriters wake blocked callers, like sock_def_readable
// and sk_write_space: only if someone waits. A wake channel holds one
// token: a wake-up records how many wait (rpend, wpend) and puts the
// token there, and each woken waiter passes it on until all of them have
// had it (woken). Callers re-check their condition, so a stale token
// costs one spurious pass. The channels are made by the first waiter and
// reused: a blocking Read or Write costs no allocation per wake-up, and a
// connection nobody waits on has none.
func (c *Conn) wakeReaders() {
	if c.rwaits > 0 {
		c.rpend = c.rwaits
		signal(c.rwake)
	}
}

func (c *Conn) wakeWriters() {
	if c.wwaits > 0 {
		c.wpend = c.wwaits
		signal(c.wwake)
	}
}

// woken is a waiter's share of a wake-up (c.mu held): it passes the token
// to the next waiter the wake-up has yet to reach.
func (c *Conn) woken(read bool) {
	ch, pend := c.wwake, &c.wpend
	if read {
		ch, pend = c.rwake, &c.rpend
	}
	if *pend > 0 {
		*pend--
	}
	if *pend > 0 {
		signal(ch)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitChan returns the wake channel of readers (or writers) (c.mu held).
func (c *Conn) waitChan(read bool) chan struct{} {
	p := &c.wwake
	if read {
		p = &c.rwake
	}
	if *p == nil {
		*p = make(chan struct{}, 1)
	}
	return *p
}

// wait blocks (c.mu held on entry and return) until woken or the deadline.
func (c *Conn) wait(read bool) error {
	ch, dl := c.waitChan(read), c.wdl
	waits := &c.wwaits
	if read {
		dl = c.rdl
		waits = &c.rwaits
	}
	*waits++
	defer func() { *waits-- }()
	var tc <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		tc = tm.C
	}
	c.mu.Unlock()
	select {
	case <-ch:
		c.mu.Lock()
		c.woken(read)
	case <-tc:
		c.mu.Lock()
	}
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads stream bytes, blocking until some arrive, the peer's FIN
// (io.EOF), the read deadline, or the end of the connection.
func (c *Conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.userClosed {
			return 0, c.opError("read", net.ErrClosed)
		}
		if c.rcv.len() > 0 {
			if len(b) == 0 {
				return 0, nil
			}
			n := c.rcv.read(b)
			c.maybeWindowUpdate()
			return n, nil
		}
		if c.err != nil {
			return 0, c.opError("read", c.err)
		}
		if c.finReceived || c.state == StateClosed {
			return 0, io.EOF
		}
		if err := c.wait(true); err != nil {
			return 0, c.opError("read", err)
		}
	}
}

// Write queues b on the send buffer, blocking while it is full, and sends
// what the windows allow.
func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	written := 0
	for {
		switch {
		case c.userClosed:
			return written, c.opError("write", net.ErrClosed)
		case c.err != nil:
			return written, c.opError("write", c.err)
		case c.finQueued:
			return written, c.opError("write", ErrWriteAfterShut)
		case c.state != StateEstablished && c.state != StateCloseWait:
			return written, c.opError("write", net.ErrClosed)
		}
		if room := c.t.opts.SndBuf - c.snd.len(); room > 0 && written < len(b) {
			written += c.snd.write(b[written:min(len(b), written+room)])
			c.trySend()
		}
		if written == len(b) {
			return written, nil
		}
		if err := c.wait(false); err != nil {
			return written, c.opError("write", err)
		}
	}
}

// CloseWrite sends a FIN after the queued data: the peer reads EOF, and
// this side can still read.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shutdownLocked()
}

func (c *Conn) shutdownLocked() error {
	if c.finQueued {
		return nil
	}
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.state = StateFinWait1
	case StateCloseWait:
		c.state = StateLastAck
	default:
		return nil
	}
	c.finQueued = true
	c.trySend()
	return nil
}

// Close closes the connection. Unread data makes it a reset (RFC 2525
// §2.17, as Linux does); otherwise a FIN follows the queued data and the
// connection finishes its close in the background. Idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userClosed {
		return nil
	}
	c.userClosed = true
	defer c.wakeReaders()
	defer c.wakeWriters()
	if c.rcv.len() > 0 && c.state.synchronized() && c.state != StateTimeWait {
		c.t.st.abortOnData.Add(1)
		c.sendRSTLocked()
		c.terminate(net.ErrClosed)
		return nil
	}
	if c.state == StateClosed {
		return nil
	}
	c.shutdownLocked()
	if c.state == StateFinWait2 {
		c.t.timers.Schedule(&c.finWait2, c.t.clock().Add(c.t.opts.FinTimeout))
	}
	return nil
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; blocked readers observe it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl = t
	c.wakeReaders()
	return nil
}

// SetWriteDeadline sets the write deadline; blocked writers observe it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl = t
	c.wakeWriters()
	return nil
}

// Buffered returns the bytes waiting to be read and to be acknowledged.
func (c *Conn) Buffered() (rcv, snd int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rcv.len(), c.snd.len()
}

// terminate ends the connection: no more segments are processed, waiters
// get err (nil for an orderly end), timers stop, buffers are freed.
func (c *Conn) terminate(err error) {
	if c.state == StateClosed {
		return
	}
	if c.err == nil {
		c.err = err
	}
	c.state = StateClosed
	c.t.timers.Stop(&c.rtx) // the wheel must not keep a closed Conn alive
	c.rtxAt, c.rtxSched = 0, 0
	c.t.timers.Stop(&c.delack)
	c.delackAt, c.delackArmed = 0, false
	c.t.timers.Stop(&c.finWait2)
	c.snd.reset()
	if c.userClosed {
		c.rcv.reset()
	}
	if c.ofo != nil {
		c.ofo.Reset()
		c.ofo = nil
	}
	c.t.removeConn(c)
	if c.l != nil {
		c.l.forget(c)
	}
	c.closeDone()
	c.wakeReaders()
	c.wakeWriters()
}
