package tcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/ipv4"
)

// ConnCost is the Go heap a connection costs, measured by MeasureConnCost.
type ConnCost struct {
	// Conns is how many connections were measured.
	Conns int `json:"conns"`
	// IdleBytes is the heap per idle ESTABLISHED connection: accepted,
	// one request read and one response written and acknowledged, so its
	// buffers have been used and drained.
	IdleBytes float64 `json:"idle_bytes"`
	// TimeWaitBytes is the heap per TIME_WAIT entry, after the server
	// closed every connection and the application dropped its Conns.
	TimeWaitBytes float64 `json:"time_wait_bytes"`
	// RetainedBytes is the heap per connection left once TIME_WAIT has
	// expired: what closing does not give back.
	RetainedBytes float64 `json:"retained_bytes"`
}

// MeasureConnCost measures the Go heap (runtime/metrics
// /memory/classes/heap/objects:bytes after a collection) that n server-side
// connections cost on a private stack driven by an in-memory peer that
// behaves as a Linux client (MSS, SACK, timestamps, window scale): idle in
// ESTABLISHED, then in TIME_WAIT after the server closes, then after
// TIME_WAIT expires. The peer's own bookkeeping is allocated before the
// baseline, so it is not counted. It takes a few seconds for n = 10000 and
// must not run alongside other heap-heavy work of the process, whose
// allocations it would count.
func MeasureConnCost(n int) (ConnCost, error) {
	if n <= 0 || n > 60000 {
		return ConnCost{}, fmt.Errorf("tcp: MeasureConnCost of %d connections: want 1 to 60000", n)
	}
	p, err := newCostPeer(Options{})
	if err != nil {
		return ConnCost{}, err
	}
	defer p.close()
	conns := make([]*Conn, n)
	p.reserve(n)
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return float64(s[0].Value.Uint64())
	}
	base := heap()
	for i := range conns {
		if conns[i], err = p.open(i); err != nil {
			return ConnCost{}, err
		}
		if err := p.exchange(i, conns[i], 100, 200); err != nil {
			return ConnCost{}, err
		}
	}
	idle := heap()
	for i, c := range conns {
		if err := p.activeClose(i, c); err != nil {
			return ConnCost{}, err
		}
		conns[i] = nil
	}
	if got := p.t.TimeWaits(); got != n {
		return ConnCost{}, fmt.Errorf("tcp: MeasureConnCost: %d connections in TIME_WAIT, want %d", got, n)
	}
	tw := heap()
	p.now.Add(int64(p.t.opts.TimeWait + time.Second))
	p.t.Advance(p.clock())
	if got := p.t.TimeWaits(); got != 0 {
		return ConnCost{}, fmt.Errorf("tcp: MeasureConnCost: %d TIME_WAIT entries left after expiry", got)
	}
	after := heap()
	runtime.KeepAlive(conns)
	f := float64(n)
	return ConnCost{Conns: n, IdleBytes: (idle - base) / f, TimeWaitBytes: (tw - base) / f, RetainedBytes: (after - base) / f}, nil
}

// costPeer is a stack with TCP on an in-memory link, and the client side
// of its connections, played by hand-built frames: the driver of
// MeasureConnCost and of the connection-setup benchmark. Each frame is
// delivered as a poll batch of one (Deliver, then EndBatch). Not safe for
// concurrent use.
type costPeer struct {
	s    *stack.Stack
	t    *TCP
	l    *Listener
	now  atomic.Int64
	link costLink
	pkt  stack.Packet
	buf  [2048]byte
	rd   []byte
	// Per connection: the client's next sequence number, and what it has
	// received from us (RCV.NXT) and our last TSval.
	snd, rcv, tsEcr []uint32
	gen             []uint32 // incarnation per port, for TIME_WAIT reuse
	// batchOpen, when set, has send leave the batch open: the caller ends it
	// (Stack.EndBatch) after several segments.
	batchOpen bool
}

var (
	costOurIP   = [4]byte{10, 98, 0, 2}
	costPeerIP  = [4]byte{10, 98, 0, 1}
	costOurMAC  = header.MAC{2, 0, 0, 0, 0x98, 2}
	costPeerMAC = header.MAC{2, 0, 0, 0, 0x98, 1}
)

const costPort = 80

func newCostPeer(o Options) (*costPeer, error) {
	p := &costPeer{rd: make([]byte, 4096)}
	p.now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	s, err := stack.New(stack.Options{MAC: costOurMAC[:], Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(costOurIP), 24)},
		Clock: p.clock})
	if err != nil {
		return nil, err
	}
	s.AddStaticNeighbor(costPeerIP, costPeerMAC)
	if err := s.Attach(&p.link); err != nil {
		return nil, err
	}
	o.Clock, o.ManualTimers = p.clock, true
	o.CookieSecret = make([]byte, 32)
	p.s, p.t = s, New(ipv4.New(s, ipv4.Options{}), o)
	if p.l, err = p.t.Listen(netip.AddrPortFrom(netip.AddrFrom4(costOurIP), costPort), ListenOptions{Backlog: 1024}); err != nil {
		p.t.Close()
		return nil, err
	}
	return p, nil
}

func (p *costPeer) clock() time.Time { return time.Unix(0, p.now.Load()) }

func (p *costPeer) close() {
	p.l.Close()
	p.t.Close()
}

func (p *costPeer) reserve(n int) {
	p.snd, p.rcv, p.tsEcr, p.gen = make([]uint32, n), make([]uint32, n), make([]uint32, n), make([]uint32, n)
}

func costSport(i int) uint16 { return uint16(1024 + i) }

// send delivers one segment from client i as a batch of one.
func (p *costPeer) send(i int, flags uint8, seq, ack uint32, data []byte, syn bool) {
	b := p.buf[:]
	var ob [40]byte
	o := header.TCPOptions{HasTS: true, TSVal: uint32(p.now.Load()/1e6) + 1, TSEcr: p.tsEcr[i]}
	if syn {
		o.HasMSS, o.MSS, o.SACKPermitted, o.HasWS, o.WS = true, 1460, true, true, 7
	}
	on := header.EncodeTCPOptions(ob[:], o)
	t := b[header.EthernetSize+header.IPv4MinimumSize:]
	hl := header.EncodeTCP(t, header.TCPFields{SrcPort: costSport(i), DstPort: costPort, Seq: seq, Ack: ack, Flags: flags,
		Window: 65535, Options: ob[:on]})
	n := hl + copy(t[hl:], data)
	th := header.TCP(t[:n])
	th.SetChecksum(header.TCPChecksum(th, costPeerIP, costOurIP))
	header.EncodeIPv4(b[header.EthernetSize:], header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + n), TTL: 64,
		Protocol: ipv4.ProtoTCP, Src: costPeerIP, Dst: costOurIP})
	header.EncodeEthernet(b, costOurMAC, costPeerMAC, header.EtherTypeIPv4)
	p.pkt = stack.Packet{Frame: b[:header.EthernetSize+header.IPv4MinimumSize+n]}
	p.s.Deliver(&p.pkt)
	if !p.batchOpen {
		p.s.EndBatch(0)
	}
	p.pkt = stack.Packet{}
}

// collect takes what the stack sent to client i since the last call: it
// advances the client's RCV.NXT over our data, SYN and FIN, and returns
// the flags seen and the data bytes.
func (p *costPeer) collect(i int) (flags uint8, data int, err error) {
	for _, f := range p.link.take() {
		if header.Ethernet(f).Type() != header.EtherTypeIPv4 {
			continue // the gratuitous ARP of Attach
		}
		t := header.TCP(f[header.EthernetSize+header.IPv4MinimumSize:])
		if t.DstPort() != costSport(i) {
			return 0, 0, fmt.Errorf("tcp: cost peer: segment for port %d, want %d", t.DstPort(), costSport(i))
		}
		fl := t.Flags()
		flags |= fl
		var o header.TCPOptions
		if err := header.ParseTCPOptions(t.Options(), &o); err == nil && o.HasTS {
			p.tsEcr[i] = o.TSVal
		}
		pl := len(t.Payload())
		if fl&header.TCPFlagSYN != 0 {
			p.rcv[i] = t.Seq() + 1
		}
		if end := t.Seq() + uint32(pl); pl > 0 && int32(end-p.rcv[i]) > 0 {
			p.rcv[i] = end
		}
		if fl&header.TCPFlagFIN != 0 {
			p.rcv[i] = t.Seq() + uint32(pl) + 1
		}
		data += pl
	}
	return flags, data, nil
}

// open runs the three-way handshake of client i and accepts the
// connection.
func (p *costPeer) open(i int) (*Conn, error) {
	p.gen[i]++
	isn := p.gen[i] << 24
	p.send(i, header.TCPFlagSYN, isn, 0, nil, true)
	if fl, _, err := p.collect(i); err != nil || fl&(header.TCPFlagSYN|header.TCPFlagACK) != header.TCPFlagSYN|header.TCPFlagACK {
		return nil, fmt.Errorf("tcp: cost peer %d: no SYN-ACK (flags %#x): %w", i, fl, err)
	}
	p.snd[i] = isn + 1
	p.send(i, header.TCPFlagACK, p.snd[i], p.rcv[i], nil, false)
	if _, _, err := p.collect(i); err != nil {
		return nil, err
	}
	return p.l.AcceptTCP()
}

var errCostPeer = errors.New("tcp: cost peer: unexpected answer")

// exchange has client i send a request of req bytes, which c reads, and c
// answer with resp bytes, which the client acknowledges.
func (p *costPeer) exchange(i int, c *Conn, req, resp int) error {
	p.send(i, header.TCPFlagACK|header.TCPFlagPSH, p.snd[i], p.rcv[i], p.rd[:req], false)
	p.snd[i] += uint32(req)
	if n, err := c.Read(p.rd); err != nil || n != req {
		return fmt.Errorf("%w: read %d of %d bytes: %v", errCostPeer, n, req, err)
	}
	if _, err := c.Write(p.rd[:resp]); err != nil {
		return err
	}
	if _, n, err := p.collect(i); err != nil || n != resp {
		return fmt.Errorf("%w: client got %d of %d bytes: %v", errCostPeer, n, resp, err)
	}
	p.send(i, header.TCPFlagACK, p.snd[i], p.rcv[i], nil, false)
	_, _, err := p.collect(i)
	return err
}

// activeClose has the server close c first, as an HTTP/1.0 server does:
// its FIN, the client's ACK and FIN, our last ACK, and c is in TIME_WAIT.
func (p *costPeer) activeClose(i int, c *Conn) error {
	if err := c.Close(); err != nil {
		return err
	}
	if fl, _, err := p.collect(i); err != nil || fl&header.TCPFlagFIN == 0 {
		return fmt.Errorf("%w: no FIN after Close (flags %#x): %v", errCostPeer, fl, err)
	}
	p.send(i, header.TCPFlagACK|header.TCPFlagFIN, p.snd[i], p.rcv[i], nil, false)
	p.snd[i]++
	if fl, _, err := p.collect(i); err != nil || fl&header.TCPFlagACK == 0 {
		return fmt.Errorf("%w: FIN not acknowledged (flags %#x): %v", errCostPeer, fl, err)
	}
	return nil
}

// costLink is the in-memory link: it keeps copies of what the stack sends
// in buffers it reuses, so the measurement counts none of them.
type costLink struct {
	frames [8][2048]byte
	lens   [8]int
	n      int
	out    [8][]byte
	calls  int // WritePackets calls
}

var (
	_ stack.LinkEndpoint = (*costLink)(nil)
	_ stack.BatchWriter  = (*costLink)(nil)
)

func (l *costLink) WritePackets(queue int, frames [][]byte) int {
	l.calls++
	for i, f := range frames {
		if !l.WritePacket(queue, f) {
			return i
		}
	}
	return len(frames)
}

func (l *costLink) MAC() net.HardwareAddr { return costOurMAC[:] }
func (l *costLink) MTU() int              { return 1500 }

func (l *costLink) WritePacket(_ int, frame []byte) bool {
	if l.n == len(l.frames) {
		return false
	}
	l.lens[l.n] = copy(l.frames[l.n][:], frame)
	l.n++
	return true
}

// take returns the frames sent since the last call, valid until the next.
func (l *costLink) take() [][]byte {
	out := l.out[:0]
	for i := 0; i < l.n; i++ {
		out = append(out, l.frames[i][:l.lens[i]])
	}
	l.n = 0
	return out
}
