package udp

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/ipv4"
)

// Errors.
var (
	// ErrAddrInUse: another socket is bound to the address and port.
	ErrAddrInUse = errors.New("address already in use")
	// ErrAddrNotLocal: the address to bind is not one of the stack's.
	ErrAddrNotLocal = errors.New("cannot assign requested address")
	// ErrMessageTooLong: the datagram does not fit an IPv4 packet.
	ErrMessageTooLong = errors.New("message too long")
)

// DefaultRcvBuf is the default receive queue size of a socket.
const DefaultRcvBuf = 4 << 20

// DefaultReadSpin is how long a reader polls an empty receive queue
// before it parks, by default.
const DefaultReadSpin = 5 * time.Microsecond

// Options configures the UDP layer.
type Options struct {
	// RcvBuf is the default receive queue size in bytes for sockets
	// (default 4 MiB). Each datagram costs its payload plus 64 bytes.
	// A socket in queue mode allocates RcvBuf bytes for each receive
	// queue that delivers to it, when the first datagram comes.
	RcvBuf int
	// PortUnreachable answers datagrams to closed ports with an ICMP
	// port unreachable, rate limited by the IPv4 layer.
	PortUnreachable bool
	// ReadSpin is how long a reader of an empty socket polls the queue
	// before it parks (default DefaultReadSpin; negative: park at once).
	// Spinning saves the producer a wakeup and the reader a sleep when
	// the next batch comes within the spin; it burns the reader's CPU
	// for that long when it does not.
	ReadSpin time.Duration
	// Ports, if set, learns which local ports have a socket (see
	// PortWatcher).
	Ports PortWatcher
}

// PortWatcher learns which local ports have a socket, for a filter in
// front of the stack that drops datagrams to closed ports early (the XDP
// triage stage). UDP calls PortChanged under its bind lock when a port
// gains its first socket (open) and when it loses its last, so calls for
// one port arrive in order. It must not block or call back into UDP.
type PortWatcher interface {
	PortChanged(port uint16, open bool)
}

// Stats are the UDP counters, named like /proc/net/snmp's.
type Stats struct {
	InDatagrams  uint64 `json:"in_datagrams"` // delivered to a socket
	NoPorts      uint64 `json:"no_ports"`
	InErrors     uint64 `json:"in_errors"` // the three below, summed
	BadLength    uint64 `json:"bad_length"`
	CsumErrors   uint64 `json:"csum_errors"`
	RcvbufErrors uint64 `json:"rcvbuf_errors"`
	OutDatagrams uint64 `json:"out_datagrams"`
	SendErrors   uint64 `json:"send_errors"`
}

// UDP is the UDP layer. Safe for concurrent use.
type UDP struct {
	ip   *ipv4.IPv4
	s    *stack.Stack
	opts Options

	mu sync.Mutex // serialises binds
	// ports is the socket table indexed by local port: a lookup is one
	// atomic load, no hashing (512 KiB per stack).
	ports *[65536]atomic.Pointer[bound]

	inDatagrams, noPorts, badLength, csumErrors, rcvbufErrors, out, sendErrors atomic.Uint64

	// loops are the receive loops of queues 0 to maxLoops-1.
	loops [maxLoops]loop
}

// loop is what UDP keeps for the receive loop of one queue. Until the
// loop first ends a batch (Stack.EndBatch), its queue is unbatched: its
// datagrams go into their lanes under the lane's lock and are published
// at once. From then on the loop owns its lanes, one in each socket it
// delivers to: it pushes without a lock, lists the lanes it touched, and
// publishes each of them, and wakes each socket's parked reader, once at
// the end of the batch.
//
// This relies on the stack's receive loop contract: a loop that ends
// batches for queue q is the only goroutine that delivers q's frames.
// Every field but batched and inPub is the loop's own.
type loop struct {
	batched atomic.Bool
	dirty   []*lane // lanes pushed to in this batch
	in      uint64  // InDatagrams counted by this loop
	inSeen  uint64  // in as last published
	inPub   atomic.Uint64
	// The handler-mode socket the loop delivered to last, and what it
	// delivered to it since: added to the socket's counters when the
	// loop delivers to another socket or ends its batch, so that a run
	// of datagrams to one socket costs two locked adds, not two each.
	conn      *Conn
	connN     uint64
	connBytes uint64
	_         cpu.CacheLinePad
}

// count counts one datagram of n bytes that the loop handed to c's
// handler.
func (l *loop) count(c *Conn, n int) {
	if l.conn != c {
		l.flushConn()
		l.conn = c
	}
	l.connN++
	l.connBytes += uint64(n)
}

// flushConn adds what the loop counted for its last socket to the
// socket's counters.
func (l *loop) flushConn() {
	if c := l.conn; c != nil {
		c.received.Add(l.connN)
		c.bytes.Add(l.connBytes)
		l.conn, l.connN, l.connBytes = nil, 0, 0
	}
}

// endBatch is the stack's batch-end hook: it publishes what queue q's
// loop pushed in the batch and wakes parked readers, once per socket.
func (u *UDP) endBatch(q int) {
	if uint(q) >= maxLoops {
		return
	}
	l := &u.loops[q]
	if !l.batched.Load() {
		l.batched.Store(true)
	}
	l.flushConn()
	for i, ln := range l.dirty {
		l.dirty[i] = nil
		ln.dirty = false
		ln.publish()
		if ln.c.waiters.Load() > 0 {
			ln.c.signal()
		}
	}
	l.dirty = l.dirty[:0]
	// After the sockets, so that a datagram counted here is readable.
	if l.in != l.inSeen {
		l.inSeen = l.in
		l.inPub.Store(l.in)
	}
}

// bound is the sockets on one port: at most one wildcard, and one per
// specific address.
type bound struct {
	specific []*Conn
	wildcard *Conn
}

// New creates the UDP layer and registers it with ip for protocol 17.
func New(ip *ipv4.IPv4, o Options) *UDP {
	if o.RcvBuf <= 0 {
		o.RcvBuf = DefaultRcvBuf
	}
	if o.ReadSpin == 0 {
		o.ReadSpin = DefaultReadSpin
	}
	u := &UDP{ip: ip, s: ip.Stack(), opts: o, ports: new([65536]atomic.Pointer[bound])}
	ip.RegisterTransport(ipv4.ProtoUDP, u.receive)
	u.s.OnBatchEnd(u.endBatch)
	return u
}

// Stats returns the counters. Datagrams delivered by a receive loop that
// ends its batches are counted at the end of the batch.
func (u *UDP) Stats() Stats {
	in := u.inDatagrams.Load()
	for i := range u.loops {
		in += u.loops[i].inPub.Load()
	}
	s := Stats{
		InDatagrams: in, NoPorts: u.noPorts.Load(), BadLength: u.badLength.Load(),
		CsumErrors: u.csumErrors.Load(), RcvbufErrors: u.rcvbufErrors.Load(), OutDatagrams: u.out.Load(),
		SendErrors: u.sendErrors.Load(),
	}
	s.InErrors = s.BadLength + s.CsumErrors + s.RcvbufErrors
	return s
}

// SocketOptions configures one socket.
type SocketOptions struct {
	// RcvBuf overrides Options.RcvBuf for this socket.
	RcvBuf int
	// ReadSpin overrides Options.ReadSpin for this socket (negative:
	// park at once).
	ReadSpin time.Duration
}

// Listen binds a socket to addr. An unspecified address (0.0.0.0) binds
// every local address; port 0 picks a free ephemeral port.
func (u *UDP) Listen(addr netip.AddrPort, o SocketOptions) (*Conn, error) {
	a := addr.Addr()
	if !a.IsValid() {
		a = netip.IPv4Unspecified()
	}
	if !a.Is4() {
		return nil, fmt.Errorf("udp listen %v: not an IPv4 address: %w", addr, ErrAddrNotLocal)
	}
	if !a.IsUnspecified() && !u.s.IsLocal(a.As4()) {
		return nil, fmt.Errorf("udp listen %v: %w", addr, ErrAddrNotLocal)
	}
	if o.RcvBuf <= 0 {
		o.RcvBuf = u.opts.RcvBuf
	}
	if o.ReadSpin == 0 {
		o.ReadSpin = u.opts.ReadSpin
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	port := addr.Port()
	if port == 0 {
		for p := uint16(32768); p < 61000; p++ {
			if u.ports[p].Load() == nil {
				port = p
				break
			}
		}
		if port == 0 {
			return nil, fmt.Errorf("udp listen %v: no free ephemeral port: %w", addr, ErrAddrInUse)
		}
	}
	c := newConn(u, netip.AddrPortFrom(a, port), o.RcvBuf, o.ReadSpin)
	b := u.ports[port].Load()
	nb := &bound{}
	if b != nil {
		nb.specific = append(nb.specific, b.specific...)
		nb.wildcard = b.wildcard
		// Like Linux without SO_REUSEADDR: a wildcard conflicts with
		// any socket on the port, and a specific address with the
		// wildcard or the same address.
		if b.wildcard != nil || a.IsUnspecified() && len(b.specific) > 0 {
			return nil, fmt.Errorf("udp listen %v: %w", addr, ErrAddrInUse)
		}
		for _, s := range b.specific {
			if s.local.Addr() == a {
				return nil, fmt.Errorf("udp listen %v: %w", addr, ErrAddrInUse)
			}
		}
	}
	if a.IsUnspecified() {
		nb.wildcard = c
	} else {
		nb.specific = append(nb.specific, c)
	}
	u.ports[port].Store(nb)
	if b == nil && u.opts.Ports != nil {
		u.opts.Ports.PortChanged(port, true)
	}
	return c, nil
}

// unbind removes c from the port table.
func (u *UDP) unbind(c *Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.ports[c.local.Port()].Load()
	if b == nil {
		return
	}
	nb := &bound{wildcard: b.wildcard}
	if nb.wildcard == c {
		nb.wildcard = nil
	}
	for _, s := range b.specific {
		if s != c {
			nb.specific = append(nb.specific, s)
		}
	}
	if nb.wildcard == nil && len(nb.specific) == 0 {
		nb = nil
	}
	u.ports[c.local.Port()].Store(nb)
	if nb == nil && u.opts.Ports != nil {
		u.opts.Ports.PortChanged(c.local.Port(), false)
	}
}

func (u *UDP) lookup(dst [4]byte, port uint16) *Conn {
	b := u.ports[port].Load()
	if b == nil {
		return nil
	}
	for _, s := range b.specific {
		if s.local.Addr().As4() == dst {
			return s
		}
	}
	return b.wildcard
}

// receive is udp_rcv.
func (u *UDP) receive(p *stack.Packet) {
	h := header.UDP(p.Data)
	if !h.IsValid() {
		u.badLength.Add(1)
		return
	}
	h = h[:h.Length()]
	if h.Checksum() != 0 && !h.IsChecksumValid(p.Src, p.Dst) {
		u.csumErrors.Add(1)
		return
	}
	c := u.lookup(p.Dst, h.DstPort())
	if c == nil {
		u.noPorts.Add(1)
		if u.opts.PortUnreachable {
			u.ip.SendUnreachable(p, header.ICMPv4PortUnreachable)
		}
		return
	}
	d := Datagram{
		Payload: h.Payload(),
		Src:     netip.AddrPortFrom(netip.AddrFrom4(p.Src), h.SrcPort()),
		Dst:     netip.AddrPortFrom(netip.AddrFrom4(p.Dst), h.DstPort()),
		Queue:   p.Queue,
	}
	var l *loop
	if uint(p.Queue) < maxLoops && u.loops[p.Queue].batched.Load() {
		l = &u.loops[p.Queue]
	}
	if c.deliver(d, l) {
		if l != nil {
			l.in++
		} else {
			u.inDatagrams.Add(1)
		}
	} else {
		u.rcvbufErrors.Add(1)
	}
}

// send builds and sends one datagram.
func (u *UDP) send(src, dst netip.AddrPort, payload []byte) (int, error) {
	if len(payload) > header.IPv4MaximumSize-header.IPv4MinimumSize-header.UDPSize {
		u.sendErrors.Add(1)
		return 0, ErrMessageTooLong
	}
	d4 := dst.Addr().As4()
	s4 := src.Addr().As4()
	if src.Addr().IsUnspecified() {
		s4 = u.s.SourceFor(d4)
	}
	tb := u.s.GetTxBuffer()
	defer u.s.PutTxBuffer(tb)
	b := tb.Packet()[header.IPv4MinimumSize:]
	n := header.UDPSize + len(payload)
	header.EncodeUDP(b, src.Port(), dst.Port(), uint16(n))
	copy(b[header.UDPSize:], payload)
	h := header.UDP(b[:n])
	h.SetChecksum(header.UDPChecksum(h, s4, d4))
	if err := u.ip.Send(-1, s4, d4, ipv4.ProtoUDP, tb, n); err != nil {
		u.sendErrors.Add(1)
		return 0, err
	}
	u.out.Add(1)
	return len(payload), nil
}
