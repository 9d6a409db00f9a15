package ipv4_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/channel"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/ipv4/fragment"
	"github.com/rxpath/rxpath/stack/udp"
)

var (
	ourMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	peerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	ourIP   = netip.MustParseAddr("10.99.0.2")
	peerIP  = netip.MustParseAddr("10.99.0.1")
)

type rig struct {
	q   *channel.Queue
	s   *stack.Stack
	ip  *ipv4.IPv4
	p   *stack.Packet
	now time.Time
}

func newRig(t *testing.T, o ipv4.Options) *rig {
	t.Helper()
	r := &rig{q: channel.New(0, 64, 4096), p: new(stack.Packet), now: time.Unix(1e9, 0)}
	clock := func() time.Time { return r.now }
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	o.Reassembly.Clock = clock
	r.ip = ipv4.New(s, o)
	rxpath.AttachQueues(s, r.q)
	r.q.ReadOutbound(time.Second) // gratuitous ARP
	// Learn the peer as a kernel's ARP request would teach us.
	r.deliver(labtest.Serialize(t, &layers.Ethernet{SrcMAC: peerMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: peerMAC, SourceProtAddress: peerIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: ourIP.AsSlice()}))
	if _, ok := r.q.ReadOutbound(time.Second); !ok {
		t.Fatal("no ARP reply")
	}
	return r
}

func (r *rig) deliver(f []byte) {
	*r.p = stack.Packet{Frame: f}
	r.s.Deliver(r.p)
}

func (r *rig) outbound() [][]byte {
	var out [][]byte
	for {
		select {
		case f := <-r.q.Outbound():
			out = append(out, f)
		default:
			return out
		}
	}
}

func eth() *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: layers.EthernetTypeIPv4}
}

func ipHdr(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 77, Protocol: proto, SrcIP: peerIP.AsSlice(), DstIP: ourIP.AsSlice()}
}

func echo(t *testing.T, seq uint16, payload []byte) []byte {
	return labtest.Serialize(t, eth(), ipHdr(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 42, Seq: seq},
		gopacket.Payload(payload))
}

// fragment splits an IPv4 frame into frames of at most mtu bytes of IP.
func fragmentFrame(t *testing.T, frame []byte, mtu int) [][]byte {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	payload := ip.Payload
	chunk := (mtu - 20) &^ 7
	var out [][]byte
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		h := *ip
		h.Options, h.IHL = nil, 5
		h.FragOffset = uint16(off / 8)
		h.Flags = 0
		if end < len(payload) {
			h.Flags = layers.IPv4MoreFragments
		}
		out = append(out, labtest.Serialize(t, eth(), &h, gopacket.Payload(payload[off:end])))
	}
	return out
}

func TestEcho(t *testing.T) {
	r := newRig(t, ipv4.Options{})
	r.deliver(echo(t, 1, []byte("abcdefgh")))
	out := r.outbound()
	if len(out) != 1 {
		t.Fatalf("%d frames sent, want one echo reply", len(out))
	}
	pkt := gopacket.NewPacket(out[0], layers.LayerTypeEthernet, gopacket.Default)
	ic, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ic == nil || ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply || ic.Seq != 1 || ic.Id != 42 ||
		!bytes.Equal(ic.Payload, []byte("abcdefgh")) || !ip.DstIP.Equal(peerIP.AsSlice()) {
		t.Fatalf("bad reply: %v", pkt)
	}
	// Checksums verified independently: re-serialising must not change them.
	ic2 := *ic
	again := labtest.Serialize(t, pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet), ip, &ic2, gopacket.Payload(ic.Payload))
	if !bytes.Equal(again[:len(out[0])], out[0]) {
		t.Fatalf("checksums differ from gopacket's\n got %x\nwant %x", out[0], again)
	}
}

func TestLargeEchoReassembledAndFragmented(t *testing.T) {
	r := newRig(t, ipv4.Options{})
	payload := make([]byte, 8000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	frags := fragmentFrame(t, echo(t, 9, payload), 1500)
	// Deliver out of order.
	for i := len(frags) - 1; i >= 0; i-- {
		r.deliver(frags[i])
	}
	out := r.outbound()
	if len(out) != 6 {
		t.Fatalf("%d reply fragments, want 6 for 8008 bytes at MTU 1500", len(out))
	}
	var got []byte
	for i, f := range out {
		ip := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if len(f)-14 > 1500 || int(ip.FragOffset)*8 != len(got) || (i < 5) != (ip.Flags&layers.IPv4MoreFragments != 0) {
			t.Fatalf("fragment %d: len %d off %d flags %v", i, len(f)-14, ip.FragOffset, ip.Flags)
		}
		got = append(got, ip.Payload...)
	}
	ic := gopacket.NewPacket(got, layers.LayerTypeICMPv4, gopacket.Default).Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic.TypeCode.Type() != layers.ICMPv4TypeEchoReply || !bytes.Equal(ic.Payload, payload) {
		t.Fatal("reassembled reply does not carry the request's data")
	}
	if st := r.ip.Stats(); st.Reassembled != 1 || st.ICMPEchoReplies != 1 || st.SentFrags != 6 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHostile(t *testing.T) {
	good := echo(t, 1, []byte("12345678"))
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b[14:])
		return b
	}
	fix := func(b []byte) { // recompute the header checksum after a change
		b[10], b[11] = 0, 0
		var sum uint32
		for i := 0; i < int(b[0]&0xf)*4; i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		c := ^uint16(sum)
		b[10], b[11] = byte(c>>8), byte(c)
	}
	bigOverlap := make([]byte, 64)
	cases := []struct {
		name  string
		frame [][]byte
		stat  func(ipv4.Stats) uint64
	}{
		{"bad checksum", [][]byte{mut(func(b []byte) { b[10] ^= 1 })}, func(s ipv4.Stats) uint64 { return s.BadChecksum }},
		{"IHL < 5", [][]byte{mut(func(b []byte) { b[0] = 0x44; fix(b) })}, func(s ipv4.Stats) uint64 { return s.BadIHL }},
		{"total length > frame", [][]byte{mut(func(b []byte) { b[2], b[3] = 0x05, 0xdc; fix(b) })}, func(s ipv4.Stats) uint64 { return s.LengthBeyond }},
		{"version 6", [][]byte{mut(func(b []byte) { b[0] = 0x65; fix(b) })}, func(s ipv4.Stats) uint64 { return s.BadVersion }},
		{"loopback source", [][]byte{mut(func(b []byte) { b[12] = 127; fix(b) })}, func(s ipv4.Stats) uint64 { return s.Martian }},
		{"our own source", [][]byte{mut(func(b []byte) { copy(b[12:16], ourIP.AsSlice()); fix(b) })}, func(s ipv4.Stats) uint64 { return s.Martian }},
		{"TTL 0", [][]byte{mut(func(b []byte) { b[8] = 0; fix(b) })}, func(s ipv4.Stats) uint64 { return s.TTLZero }},
		{"not for us", [][]byte{mut(func(b []byte) { b[19] = 9; fix(b) })}, func(s ipv4.Stats) uint64 { return s.NotForUs }},
		{"source route", [][]byte{optionFrame(t, []byte{131, 7, 4, 10, 0, 0, 1, 0})}, func(s ipv4.Stats) uint64 { return s.SourceRoute }},
		{"malformed option", [][]byte{optionFrame(t, []byte{7, 40, 4, 0})}, func(s ipv4.Stats) uint64 { return s.BadOptions }},
		{"overlapping fragments", overlapping(t, bigOverlap), func(s ipv4.Stats) uint64 { return s.Reassembly.Overlap }},
		{"ping of death", [][]byte{pingOfDeath(t)}, func(s ipv4.Stats) uint64 { return s.Reassembly.BadOffset }},
		{"bad ICMP checksum", [][]byte{mut(func(b []byte) { b[20+2] ^= 1 })}, func(s ipv4.Stats) uint64 { return s.ICMPBadChecksum }},
		{"shorter than a header", [][]byte{good[:14+12]}, func(s ipv4.Stats) uint64 { return s.TooShort }},
		{"total length < header", [][]byte{mut(func(b []byte) { b[2], b[3] = 0, 16; fix(b) })}, func(s ipv4.Stats) uint64 { return s.BadTotalLength }},
		{"unknown protocol", [][]byte{mut(func(b []byte) { b[9] = 99; fix(b) })}, func(s ipv4.Stats) uint64 { return s.UnknownProto }},
		{"ICMP shorter than its header", [][]byte{mut(func(b []byte) { b[2], b[3] = 0, 24; fix(b) })}, func(s ipv4.Stats) uint64 { return s.ICMPTooShort }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, ipv4.Options{})
			for _, f := range tc.frame {
				r.deliver(f)
			}
			if got := tc.stat(r.ip.Stats()); got != 1 {
				t.Fatalf("counter = %d, want 1 (stats %+v)", got, r.ip.Stats())
			}
			if out := r.outbound(); len(out) != 0 {
				t.Fatalf("answered a hostile packet with %d frames", len(out))
			}
		})
	}
}

func optionFrame(t *testing.T, opt []byte) []byte {
	ip := ipHdr(layers.IPProtocolICMPv4)
	for range opt {
		ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1, OptionLength: 1})
	}
	b := labtest.Serialize(t, eth(), ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0)})
	copy(b[14+20:], opt) // the raw option bytes, then a valid header checksum
	h := b[14:]
	h[10], h[11] = 0, 0
	var sum uint32
	for i := 0; i < int(h[0]&0xf)*4; i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	c := ^uint16(sum)
	h[10], h[11] = byte(c>>8), byte(c)
	return b
}

func overlapping(t *testing.T, data []byte) [][]byte {
	a := ipHdr(layers.IPProtocolUDP)
	a.Flags = layers.IPv4MoreFragments
	b := ipHdr(layers.IPProtocolUDP)
	b.FragOffset = 1 // bytes 8.. overlap the first fragment's 8..63
	other := bytes.Repeat([]byte{0xee}, len(data))
	return [][]byte{labtest.Serialize(t, eth(), a, gopacket.Payload(data)), labtest.Serialize(t, eth(), b, gopacket.Payload(other))}
}

func pingOfDeath(t *testing.T) []byte {
	h := ipHdr(layers.IPProtocolICMPv4)
	h.FragOffset = 65528 / 8
	return labtest.Serialize(t, eth(), h, gopacket.Payload(make([]byte, 100)))
}

func TestBroadcastEchoIgnored(t *testing.T) {
	r := newRig(t, ipv4.Options{})
	ip := ipHdr(layers.IPProtocolICMPv4)
	ip.DstIP = net.IP{10, 99, 0, 255}
	e := eth()
	e.DstMAC = layers.EthernetBroadcast
	r.deliver(labtest.Serialize(t, e, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0)}))
	if st := r.ip.Stats(); st.ICMPEchoIgnored != 1 || len(r.outbound()) != 0 {
		t.Fatalf("broadcast echo: %+v", st)
	}
}

func TestFilterHooks(t *testing.T) {
	pre, _ := filter.Parse("prerouting drop icmp src 10.99.0.1")
	r := newRig(t, ipv4.Options{Filter: filter.NewTable([]filter.Rule{pre})})
	r.deliver(echo(t, 1, nil))
	if st := r.ip.Stats(); st.FilterPre != 1 || len(r.outbound()) != 0 {
		t.Fatalf("prerouting drop: %+v", st)
	}
	if rs := r.ip.Filter().Stats(); rs[0].Packets != 1 {
		t.Fatalf("rule counters %+v", rs)
	}
	// LOCAL_IN sees what passed PRE_ROUTING and reassembly: a drop there
	// is counted apart, and nothing is answered.
	in, err := filter.Parse("input drop icmp src 10.99.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r = newRig(t, ipv4.Options{Filter: filter.NewTable([]filter.Rule{in})})
	r.deliver(echo(t, 1, nil))
	if st := r.ip.Stats(); st.FilterIn != 1 || st.FilterPre != 0 || st.Delivered != 0 || len(r.outbound()) != 0 {
		t.Fatalf("input drop: %+v", st)
	}
}

func TestFragmentFloodPlateaus(t *testing.T) {
	r := newRig(t, ipv4.Options{Reassembly: fragment.Options{HighBytes: 256 << 10, LowBytes: 192 << 10, Timeout: time.Second}})
	for i := 0; i < 2000; i++ {
		h := ipHdr(layers.IPProtocolUDP)
		h.Id = uint16(i)
		h.Flags = layers.IPv4MoreFragments
		r.deliver(labtest.Serialize(t, eth(), h, gopacket.Payload(make([]byte, 1400))))
		if b := r.ip.Stats().Reassembly.Bytes; b > 256<<10 {
			t.Fatalf("reassembly holds %d bytes, above the 256 KiB cap", b)
		}
	}
	if r.ip.Stats().Reassembly.Evicted == 0 {
		t.Fatal("nothing evicted")
	}
	r.now = r.now.Add(2 * time.Second)
	r.ip.Expire()
	if st := r.ip.Stats().Reassembly; st.Bytes != 0 || st.Datagrams != 0 {
		t.Fatalf("after the timeout: %+v", st)
	}
}

func TestICMPErrorRateLimit(t *testing.T) {
	r := newRig(t, ipv4.Options{ICMPErrorRate: 10, ICMPErrorBurst: 5})
	u := udp.New(r.ip, udp.Options{PortUnreachable: true})
	_ = u
	closed := func() []byte {
		uh := &layers.UDP{SrcPort: 1, DstPort: 2}
		ip := ipHdr(layers.IPProtocolUDP)
		uh.SetNetworkLayerForChecksum(ip)
		return labtest.Serialize(t, eth(), ip, uh)
	}()
	for i := 0; i < 20; i++ {
		r.deliver(closed)
	}
	st := r.ip.Stats()
	if st.ICMPErrorsSent != 5 || st.ICMPRateLimited != 15 {
		t.Fatalf("burst: sent %d, limited %d; want 5 and 15", st.ICMPErrorsSent, st.ICMPRateLimited)
	}
	r.now = r.now.Add(time.Second) // 10 tokens, capped at the burst of 5
	for i := 0; i < 20; i++ {
		r.deliver(closed)
	}
	if st := r.ip.Stats(); st.ICMPErrorsSent != 10 {
		t.Fatalf("after a second: sent %d, want 10", st.ICMPErrorsSent)
	}
	if n := len(r.outbound()); n != 10 {
		t.Fatalf("%d frames sent, want 10 port unreachables", n)
	}
}

// TestExpireEvery: what a fragment flood leaves behind is freed at its
// timeout by the ticker, with no further fragment to trigger the lazy
// expiry.
func TestExpireEvery(t *testing.T) {
	r := newRig(t, ipv4.Options{Reassembly: fragment.Options{Timeout: time.Second}})
	h := ipHdr(layers.IPProtocolUDP)
	h.Flags = layers.IPv4MoreFragments
	r.deliver(labtest.Serialize(t, eth(), h, gopacket.Payload(make([]byte, 1400))))
	if st := r.ip.Stats().Reassembly; st.Datagrams != 1 {
		t.Fatalf("reassembly %+v, want one datagram held", st)
	}
	r.now = r.now.Add(2 * time.Second) // before the ticker starts: no race on r.now
	stop := r.ip.ExpireEvery(time.Millisecond)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for r.ip.Stats().Reassembly.Bytes != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the ticker never expired the datagram: %+v", r.ip.Stats().Reassembly)
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	stop() // idempotent
	if st := r.ip.Stats().Reassembly; st.Timeouts != 1 || st.Datagrams != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}
