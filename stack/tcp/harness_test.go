package tcp_test

import (
	"bytes"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/channel"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp"
)

var (
	ourMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	peerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	ourIP   = netip.MustParseAddr("10.99.0.2")
	peerIP  = netip.MustParseAddr("10.99.0.1")
)

// harness is a stack with TCP on a channel driver and a fake clock: the
// test plays the peer, crafting segments with gopacket and reading ours.
type harness struct {
	t *testing.T
	// The wire: inject delivers a frame from the peer, recv returns the
	// next frame we sent (nil when none arrives; wait says whether to wait
	// for one). In-process they are the channel driver; on the lab, raw
	// sockets in the peer namespace.
	inject          func([]byte)
	recv            func(wait bool) []byte
	peerIP, ourIP   netip.Addr
	peerMAC, ourMAC net.HardwareAddr
	q               *channel.Queue
	s               *stack.Stack
	tcp             *tcp.TCP
	now             atomic.Int64 // fake clock, Unix nanoseconds (Dial goroutines read it)
	p               *stack.Packet
}

func newHarness(t *testing.T, o tcp.Options) *harness {
	t.Helper()
	h := &harness{t: t, q: channel.New(0, 64, 4096), p: new(stack.Packet), peerIP: peerIP, ourIP: ourIP, peerMAC: peerMAC, ourMAC: ourMAC}
	h.inject = h.deliverRaw
	h.recv = func(bool) []byte {
		select {
		case f := <-h.q.Outbound():
			return f
		default:
			return nil
		}
	}
	h.now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, h.now.Load()) }
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	ip := ipv4.New(s, ipv4.Options{})
	o.Clock, o.ManualTimers = clock, true
	if o.CookieSecret == nil {
		o.CookieSecret = bytes.Repeat([]byte{7}, 32)
	}
	h.tcp = tcp.New(ip, o)
	rxpath.AttachQueues(s, h.q)
	h.drain() // gratuitous ARP
	h.learnPeer()
	t.Cleanup(func() { h.tcp.Close() })
	return h
}

// learnPeer has the peer ask for our address, so the stack learns its
// MAC and sends to it without resolving first; call it again once the
// fake clock has outrun the neighbour entry.
func (h *harness) learnPeer() {
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: peerMAC, SourceProtAddress: peerIP.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: ourIP.AsSlice()}
	h.deliverRaw(h.ser(&layers.Ethernet{SrcMAC: peerMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}, arp))
	h.drain()
}

func (h *harness) ser(ls ...gopacket.SerializableLayer) []byte {
	h.t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		h.t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func (h *harness) deliverRaw(f []byte) {
	*h.p = stack.Packet{Frame: f}
	h.s.Deliver(h.p)
}

func (h *harness) drain() {
	for {
		select {
		case <-h.q.Outbound():
		default:
			return
		}
	}
}

// advance moves the fake clock and runs the timers due.
func (h *harness) advance(d time.Duration) {
	h.tcp.Advance(time.Unix(0, h.now.Add(int64(d))))
}

// seg describes a segment from the peer.
type seg struct {
	sport, dport uint16
	seq, ack     uint32
	flags        string // any of "SAFRPU"
	win          uint16
	data         []byte
	opts         []layers.TCPOption
	badCsum      bool
}

func (h *harness) send(s seg) {
	h.t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: h.peerIP.AsSlice(), DstIP: h.ourIP.AsSlice()}
	t := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack, Window: s.win, Options: s.opts}
	if s.win == 0 && s.flags != "R" {
		t.Window = 65535
	}
	setFlags(t, s.flags)
	t.SetNetworkLayerForChecksum(ip)
	f := h.ser(&layers.Ethernet{SrcMAC: h.peerMAC, DstMAC: h.ourMAC, EthernetType: layers.EthernetTypeIPv4}, ip, t, gopacket.Payload(s.data))
	if s.badCsum {
		f[14+20+16] ^= 0xff
	}
	h.inject(f)
}

// out returns the TCP segments the stack sent since the last call.
func (h *harness) out() []*layers.TCP {
	h.t.Helper()
	var segs []*layers.TCP
	for f := h.recv(true); f != nil; f = h.recv(false) {
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if l, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			segs = append(segs, l)
		}
	}
	return segs
}

func (h *harness) one() *layers.TCP {
	h.t.Helper()
	segs := h.out()
	if len(segs) != 1 {
		h.t.Fatalf("%d segments sent, want 1: %v", len(segs), describe(segs))
	}
	return segs[0]
}

func (h *harness) none() {
	h.t.Helper()
	if segs := h.out(); len(segs) != 0 {
		h.t.Fatalf("sent %v, want nothing", describe(segs))
	}
}

func describe(segs []*layers.TCP) []string {
	var s []string
	for _, t := range segs {
		fl := ""
		for _, f := range []struct {
			on bool
			c  string
		}{{t.SYN, "S"}, {t.ACK, "A"}, {t.FIN, "F"}, {t.RST, "R"}, {t.PSH, "P"}} {
			if f.on {
				fl += f.c
			}
		}
		s = append(s, fl+" seq="+itoa(t.Seq)+" ack="+itoa(t.Ack)+" win="+itoa(uint32(t.Window))+" len="+itoa(uint32(len(t.Payload))))
	}
	return s
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

func opt(kind layers.TCPOptionKind, data ...byte) layers.TCPOption {
	return layers.TCPOption{OptionType: kind, OptionLength: uint8(2 + len(data)), OptionData: data}
}

func tsOpt(val, ecr uint32) layers.TCPOption {
	b := make([]byte, 8)
	b[0], b[1], b[2], b[3] = byte(val>>24), byte(val>>16), byte(val>>8), byte(val)
	b[4], b[5], b[6], b[7] = byte(ecr>>24), byte(ecr>>16), byte(ecr>>8), byte(ecr)
	return opt(layers.TCPOptionKindTimestamps, b...)
}

func findTS(t *layers.TCP) (val, ecr uint32, ok bool) {
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindTimestamps && len(o.OptionData) == 8 {
			d := o.OptionData
			return uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3]),
				uint32(d[4])<<24 | uint32(d[5])<<16 | uint32(d[6])<<8 | uint32(d[7]), true
		}
	}
	return 0, 0, false
}

func sackBlocks(t *layers.TCP) [][2]uint32 {
	var out [][2]uint32
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindSACK {
			for d := o.OptionData; len(d) >= 8; d = d[8:] {
				out = append(out, [2]uint32{uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3]),
					uint32(d[4])<<24 | uint32(d[5])<<16 | uint32(d[6])<<8 | uint32(d[7])})
			}
		}
	}
	return out
}

// conn is an established connection from the peer's point of view.
type conn struct {
	h            *harness
	c            *tcp.Conn
	sport, dport uint16
	sndNxt       uint32 // peer's next sequence number
	rcvNxt       uint32 // what the peer has received from us (our ISN+1...)
	ts           uint32 // peer's TSval clock
	tsEcr        uint32
	useTS        bool
}

// establish runs a three-way handshake from the peer to listener port;
// with useTS the peer offers timestamps (and SACK, WS).
func (h *harness) establish(l *tcp.Listener, port uint16, useTS bool) *conn {
	h.t.Helper()
	return h.establishFrom(l, 40000, port, useTS)
}

// establishFrom is establish from the peer's port sport.
func (h *harness) establishFrom(l *tcp.Listener, sport, port uint16, useTS bool) *conn {
	h.t.Helper()
	pc := &conn{h: h, sport: sport, dport: port, sndNxt: 1000, ts: 100, useTS: useTS}
	opts := []layers.TCPOption{opt(layers.TCPOptionKindMSS, 0x05, 0xb4)}
	if useTS {
		opts = append(opts, opt(layers.TCPOptionKindSACKPermitted), tsOpt(pc.ts, 0), opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindWindowScale, 7))
	}
	h.send(seg{sport: pc.sport, dport: port, seq: pc.sndNxt - 1, flags: "S", opts: opts})
	sa := h.one()
	if !sa.SYN || !sa.ACK || sa.Ack != pc.sndNxt {
		h.t.Fatalf("want SYN-ACK acking %d, got %v", pc.sndNxt, describe([]*layers.TCP{sa}))
	}
	pc.rcvNxt = sa.Seq + 1
	if v, _, ok := findTS(sa); ok {
		pc.tsEcr = v
	} else if useTS {
		h.t.Fatal("SYN-ACK without timestamps")
	}
	pc.ack("")
	h.none()
	done := make(chan *tcp.Conn, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			h.t.Error(err)
		}
		done <- c
	}()
	select {
	case pc.c = <-done:
	case <-time.After(5 * time.Second):
		h.t.Fatal("Accept did not return the established connection")
	}
	if st := pc.c.State(); st != tcp.StateEstablished {
		h.t.Fatalf("state %v", st)
	}
	return pc
}

func (pc *conn) opts() []layers.TCPOption {
	if !pc.useTS {
		return nil
	}
	pc.ts++
	return []layers.TCPOption{opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindNop), tsOpt(pc.ts, pc.tsEcr)}
}

// ack sends a segment with ACK and extra flags at the peer's SND.NXT.
func (pc *conn) ack(flags string, data ...byte) {
	pc.h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt, flags: "A" + flags, data: data, opts: pc.opts(), win: 65535})
	pc.sndNxt += uint32(len(data))
	for _, f := range flags {
		if f == 'F' || f == 'S' {
			pc.sndNxt++
		}
	}
}

// raw sends a segment with explicit sequence numbers from this peer.
func (pc *conn) raw(seq, ack uint32, flags string, data []byte) {
	o := pc.opts()
	pc.h.send(seg{sport: pc.sport, dport: pc.dport, seq: seq, ack: ack, flags: flags, data: data, opts: o, win: 65535})
}

func netipAP(p uint16) netip.AddrPort { return netip.AddrPortFrom(ourIP, p) }

// setFlags sets the TCP flags named in flags, any of "SAFRP"; 'Z' zeroes
// the window.
func setFlags(t *layers.TCP, flags string) {
	for _, f := range flags {
		switch f {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'F':
			t.FIN = true
		case 'R':
			t.RST = true
		case 'P':
			t.PSH = true
		case 'Z':
			t.Window = 0
		}
	}
}
