package replay_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/driver/replay"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	ipA  = netip.MustParseAddr("192.0.2.1")
	ipB  = netip.MustParseAddr("192.0.2.2")
	t0   = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
)

// frameSpec describes a crafted frame.
type frameSpec struct {
	proto    layers.IPProtocol // UDP or TCP
	vlan     bool
	payload  []byte
	zeroUDP  bool // clear the UDP checksum after serializing
	flags    layers.IPv4Flag
	fragOff  uint16 // in 8-byte units; non-zero: a later fragment, payload raw
	ipID     uint16
	srcPort  uint16
	dst      netip.Addr // default ipB
	tcpFlags func(*layers.TCP)
}

// craft serializes a frame with correct lengths and checksums.
func craft(t testing.TB, s frameSpec) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: s.ipID, Flags: s.flags, FragOffset: s.fragOff,
		SrcIP: ipA.AsSlice(), DstIP: ipB.AsSlice(), Protocol: s.proto}
	if s.dst.IsValid() {
		ip.DstIP = s.dst.AsSlice()
	}
	ls := []gopacket.SerializableLayer{eth}
	if s.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4})
	}
	ls = append(ls, ip)
	sport := s.srcPort
	if sport == 0 {
		sport = 40000
	}
	switch {
	case s.fragOff != 0:
		// a later fragment: the payload is raw datagram bytes
	case s.proto == layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 9}
		u.SetNetworkLayerForChecksum(ip)
		ls = append(ls, u)
	case s.proto == layers.IPProtocolTCP:
		tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 512}
		if s.tcpFlags != nil {
			s.tcpFlags(tc)
		}
		tc.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tc)
	}
	ls = append(ls, gopacket.Payload(s.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	b := buf.Bytes()
	if s.zeroUDP {
		off := 14 + 20 + 6
		if s.vlan {
			off += 4
		}
		binary.BigEndian.PutUint16(b[off:], 0)
	}
	return b
}

// seqFrames returns n UDP frames whose payload starts with their index, 1ms
// apart.
func seqFrames(t testing.TB, n int) []replay.Packet {
	t.Helper()
	pkts := make([]replay.Packet, n)
	for i := range pkts {
		pkts[i].Data = craft(t, frameSpec{proto: layers.IPProtocolUDP, payload: []byte{byte(i), byte(i >> 8), 0xee, 0xff}, ipID: uint16(i)})
		pkts[i].Time = t0.Add(time.Duration(i) * time.Millisecond)
	}
	return pkts
}

// seqOf returns the index that seqFrames wrote into a frame.
func seqOf(b []byte) int {
	p := b[14+20+8:]
	return int(p[0]) | int(p[1])<<8
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sum16 is the one's complement sum of b (RFC 1071), folded, starting
// from initial.
func sum16(b []byte, initial uint32) uint32 {
	s := initial
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return s
}

// checkIPv4 verifies, independently of the code under test and of
// gopacket, the IPv4 header checksum and (for a whole unfragmented or
// first-fragment datagram) the UDP or TCP checksum of an Ethernet frame.
// It returns the transport checksum field.
func checkIPv4(t *testing.T, frame []byte, l4Whole bool) (l4csum uint16) {
	t.Helper()
	off := 14
	if binary.BigEndian.Uint16(frame[12:]) == 0x8100 {
		off += 4
	}
	ip := frame[off:]
	ihl := int(ip[0]&0xf) * 4
	if s := sum16(ip[:ihl], 0); s != 0xffff {
		t.Errorf("IPv4 header checksum does not verify: sum %#04x", s)
	}
	if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 || !l4Whole {
		return 0
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	seg := ip[ihl:total]
	pseudo := sum16(ip[12:20], 0) + uint32(ip[9]) + uint32(len(seg))
	switch ip[9] {
	case 17:
		l4csum = binary.BigEndian.Uint16(seg[6:])
		if l4csum == 0 {
			return 0
		}
	case 6:
		l4csum = binary.BigEndian.Uint16(seg[16:])
	}
	if s := sum16(seg, pseudo); s != 0xffff {
		t.Errorf("protocol %d checksum %#04x does not verify: sum %#04x", ip[9], l4csum, s)
	}
	return l4csum
}
