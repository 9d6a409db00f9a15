package tcp

import (
	"cmp"
	"slices"
)

// This file exposes internal state to FuzzWholeStack (stackfuzz_test.go),
// so that it can check the memory bounds and the bookkeeping that the
// exported API does not show. Nothing here changes state.

// FuzzConnInfo is a snapshot of one connection's bookkeeping.
type FuzzConnInfo struct {
	State            State
	Listener         *Listener // set until the connection is accepted
	Handler          bool      // handler mode
	UserClosed       bool
	RcvBuffered      int // bytes waiting to be read
	SndBuffered      int // bytes queued or in flight
	OOOMem, OOOBytes int // out-of-order queue: memory charged, payload held
	IRS, RcvNxt      uint32
	ISS, SndUna      uint32
	SndNxt, SndMax   uint32
	FinReceived      bool
	FinSent          bool
	Unsent           int
	RcvWnd           uint32
	RcvAdvRight      uint32
	LPort, RPort     uint16
	RAddr            [4]byte
	SynCounted       bool
	SynOutstanding   bool
	FinQueued        bool
	FinEverSent      bool
	Established      bool // buffers set up (past the handshake)
	RetransmitArmed  bool
	DelayedAckArmed  bool
	FinWait2Armed    bool
}

// FuzzInfo returns c's bookkeeping.
func (c *Conn) FuzzInfo() FuzzConnInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	sndMax := c.sndHigh // as sndMax, without updating sndHigh
	if c.sndNxt.GreaterThan(sndMax) {
		sndMax = c.sndNxt
	}
	i := FuzzConnInfo{
		State: c.state, Listener: c.l, Handler: c.handler != nil, UserClosed: c.userClosed,
		RcvBuffered: c.rcv.len(), SndBuffered: c.snd.len(),
		IRS: uint32(c.irs), RcvNxt: uint32(c.rcvNxt), ISS: uint32(c.iss), SndUna: uint32(c.sndUna),
		SndNxt: uint32(c.sndNxt), SndMax: uint32(sndMax), FinReceived: c.finReceived, FinSent: c.finSent,
		RcvWnd: uint32(c.rcvWnd()), RcvAdvRight: uint32(c.rcvAdvRight),
		LPort: c.k.lport, RPort: c.k.rport, RAddr: c.k.raddr, SynOutstanding: c.synOutstanding(),
		FinQueued: c.finQueued, FinEverSent: c.finEverSent, Established: c.shared,
		RetransmitArmed: c.rtxAt != 0, DelayedAckArmed: c.delackAt != 0,
		FinWait2Armed: c.t.timers.Armed(&c.finWait2),
	}
	if c.ofo != nil {
		i.OOOMem, i.OOOBytes = c.ofo.Mem(), c.ofo.Bytes()
	}
	if c.shared {
		i.Unsent = c.unsent()
	}
	if c.l != nil {
		c.l.mu.Lock()
		i.SynCounted = c.synCounted
		c.l.mu.Unlock()
	}
	return i
}

// FuzzConns returns the connections in the table (not TIME_WAIT), ordered
// by their 4-tuple.
func (t *TCP) FuzzConns() []*Conn {
	t.mu.RLock()
	cs := make([]*Conn, 0, len(t.conns))
	for _, c := range t.conns {
		cs = append(cs, c)
	}
	t.mu.RUnlock()
	slices.SortFunc(cs, func(a, b *Conn) int {
		return cmp.Or(cmp.Compare(a.k.lport, b.k.lport), cmp.Compare(a.k.rport, b.k.rport),
			slices.Compare(a.k.raddr[:], b.k.raddr[:]), slices.Compare(a.k.laddr[:], b.k.laddr[:]))
	})
	return cs
}

// FuzzHasConn reports whether c is the table's connection for its 4-tuple.
func (t *TCP) FuzzHasConn(c *Conn) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.conns[c.k] == c
}

// FuzzTimers returns the number of armed timers.
func (t *TCP) FuzzTimers() int { return t.timers.Len() }

// FuzzOptions returns the options with their defaults filled in.
func (t *TCP) FuzzOptions() Options { return t.opts }

// FuzzListenerInfo is a snapshot of a listener's queues.
type FuzzListenerInfo struct {
	Closed                   bool
	SynQ, Half               int
	AcceptQ, Pending         int
	Backlog, SynQueue        int
	HalfConns, AcceptedConns []*Conn
}

// FuzzInfo returns l's queues.
func (l *Listener) FuzzInfo() FuzzListenerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := FuzzListenerInfo{Closed: l.closed, SynQ: l.synq, Half: len(l.half), AcceptQ: len(l.acceptq), Pending: len(l.pending),
		Backlog: l.opts.Backlog, SynQueue: l.opts.SynQueue}
	for c := range l.half {
		i.HalfConns = append(i.HalfConns, c)
	}
	i.AcceptedConns = append(i.AcceptedConns, l.acceptq...)
	return i
}
