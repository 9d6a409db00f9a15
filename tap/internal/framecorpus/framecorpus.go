package framecorpus

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frames builds the corpus: TCP, UDP, SCTP, ICMP and IGMP over IPv4 (with
// options, first and later fragments), TCP, UDP and ICMPv6 over IPv6 (with
// and without a fragment header), ARP, RARP, other ethertypes, broadcast
// and multicast addresses, and truncated copies of a sample of them, so
// out-of-bounds loads are exercised as well. The first whole frames are
// complete; the rest are the truncated copies. The frames are the same on
// every call, and each call returns new slices the caller may keep.
func Frames(tb testing.TB) (frames [][]byte, whole int) {
	tb.Helper()
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			tb.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	macA := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macB := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast4 := net.HardwareAddr{0x01, 0x00, 0x5e, 0, 0, 0xfb}
	mcast6 := net.HardwareAddr{0x33, 0x33, 0, 0, 0, 0x01}
	eth := func(src, dst net.HardwareAddr, t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: t}
	}

	var out [][]byte
	hosts := []string{"10.0.0.1", "10.0.0.2", "192.168.1.5", "172.16.3.4"}
	ports := []uint16{22, 53, 80, 443, 1000, 1500, 8080}
	flags := []func(*layers.TCP){
		func(t *layers.TCP) { t.SYN = true },
		func(t *layers.TCP) { t.SYN, t.ACK = true, true },
		func(t *layers.TCP) { t.ACK = true },
		func(t *layers.TCP) { t.FIN, t.ACK = true, true },
		func(t *layers.TCP) { t.RST = true },
		func(t *layers.TCP) { t.PSH, t.ACK = true, true },
	}
	n := 0
	for si, s := range hosts {
		for di, d := range hosts {
			src, dst := net.ParseIP(s).To4(), net.ParseIP(d).To4()
			ip := func(p layers.IPProtocol) *layers.IPv4 {
				return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: src, DstIP: dst}
			}
			for i, sp := range ports {
				dp := ports[(i+si+di)%len(ports)]
				n++
				ip4 := ip(layers.IPProtocolTCP)
				tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Window: 1024}
				flags[n%len(flags)](tcp)
				_ = tcp.SetNetworkLayerForChecksum(ip4)
				out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv4), ip4, tcp, gopacket.Payload("hello")))

				ip4 = ip(layers.IPProtocolUDP)
				udp := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
				_ = udp.SetNetworkLayerForChecksum(ip4)
				out = append(out, ser(eth(macB, macA, layers.EthernetTypeIPv4), ip4, udp, gopacket.Payload("datagram")))

				// SCTP common header: ports, tag, checksum.
				sctp := []byte{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 0, 0, 1, 0, 0, 0, 0}
				out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv4), ip(layers.IPProtocolSCTP), gopacket.Payload(sctp)))
			}
			for _, tc := range []layers.ICMPv4TypeCode{
				layers.CreateICMPv4TypeCode(8, 0), layers.CreateICMPv4TypeCode(0, 0), layers.CreateICMPv4TypeCode(3, 3),
			} {
				out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv4), ip(layers.IPProtocolICMPv4),
					&layers.ICMPv4{TypeCode: tc, Id: 1, Seq: 1}, gopacket.Payload("ping")))
			}
			out = append(out, ser(eth(macA, mcast4, layers.EthernetTypeIPv4), ip(layers.IPProtocolIGMP), gopacket.Payload([]byte{0x16, 0, 0, 0, 224, 0, 0, 251})))

			// Fragments: a first fragment (MF, offset 0) and a later one
			// whose payload looks like ports 80 -> 80.
			first := ip(layers.IPProtocolUDP)
			first.Flags = layers.IPv4MoreFragments
			out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv4), first, gopacket.Payload([]byte{0, 53, 0, 80, 0, 16, 0, 0, 1, 2, 3, 4})))
			later := ip(layers.IPProtocolTCP)
			later.FragOffset = 100
			out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv4), later, gopacket.Payload([]byte{0, 80, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0})))

			// IPv4 options move the transport header (IHL 6).
			opt := ip(layers.IPProtocolTCP)
			opt.IHL = 0
			opt.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			tcp := &layers.TCP{SrcPort: 80, DstPort: 1000, SYN: true, Window: 1}
			_ = tcp.SetNetworkLayerForChecksum(opt)
			out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv4), opt, tcp))

			for _, op := range []uint16{layers.ARPRequest, layers.ARPReply} {
				arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
					Operation: op, SourceHwAddress: macA, SourceProtAddress: src, DstHwAddress: make([]byte, 6), DstProtAddress: dst}
				out = append(out, ser(eth(macA, bcast, layers.EthernetTypeARP), arp))
			}
			rarp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: 3, SourceHwAddress: macB, SourceProtAddress: src, DstHwAddress: macB, DstProtAddress: dst}
			out = append(out, ser(eth(macB, bcast, layers.EthernetType(0x8035)), rarp))
		}
		// Multicast and broadcast IPv4 destinations.
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(s).To4(), DstIP: net.IPv4(224, 0, 0, 251).To4()}
		udp := &layers.UDP{SrcPort: 5353, DstPort: 5353}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		out = append(out, ser(eth(macA, mcast4, layers.EthernetTypeIPv4), ip4, udp, gopacket.Payload("mdns")))
		ip4 = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(s).To4(), DstIP: net.IPv4bcast.To4()}
		udp = &layers.UDP{SrcPort: 68, DstPort: 67}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		out = append(out, ser(eth(macA, bcast, layers.EthernetTypeIPv4), ip4, udp, gopacket.Payload("dhcp")))
	}

	hosts6 := []string{"fe80::1", "fe80::2", "2001:db8::1", "2001:db8:1::5"}
	for si, s := range hosts6 {
		for di, d := range hosts6 {
			src, dst := net.ParseIP(s), net.ParseIP(d)
			ip := func(p layers.IPProtocol) *layers.IPv6 {
				return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: src, DstIP: dst}
			}
			sp, dp := ports[(si+di)%len(ports)], ports[(si+2*di+1)%len(ports)]
			ip6 := ip(layers.IPProtocolTCP)
			tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: si%2 == 0, ACK: true, Window: 1}
			_ = tcp.SetNetworkLayerForChecksum(ip6)
			out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv6), ip6, tcp))
			ip6 = ip(layers.IPProtocolUDP)
			udp := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
			_ = udp.SetNetworkLayerForChecksum(ip6)
			out = append(out, ser(eth(macB, macA, layers.EthernetTypeIPv6), ip6, udp, gopacket.Payload("v6")))
			for _, ty := range []uint8{128, 129, 135} {
				ip6 = ip(layers.IPProtocolICMPv6)
				icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ty, 0)}
				_ = icmp.SetNetworkLayerForChecksum(ip6)
				out = append(out, ser(eth(macA, mcast6, layers.EthernetTypeIPv6), ip6, icmp, gopacket.Payload("12345678")))
			}
			// A fragment header (44) in front of UDP / TCP.
			for _, p := range []byte{byte(layers.IPProtocolUDP), byte(layers.IPProtocolTCP)} {
				frag := []byte{p, 0, 0, 0, 0, 0, 0, 7, byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0}
				out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv6), ip(layers.IPProtocolIPv6Fragment), gopacket.Payload(frag)))
			}
		}
		ip6 := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP(s), DstIP: net.ParseIP("ff02::fb")}
		udp := &layers.UDP{SrcPort: 5353, DstPort: 5353}
		_ = udp.SetNetworkLayerForChecksum(ip6)
		out = append(out, ser(eth(macA, mcast6, layers.EthernetTypeIPv6), ip6, udp, gopacket.Payload("mdns")))
	}

	// Large frames, for greater, less and len.
	{
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 0, 1).To4(), DstIP: net.IPv4(10, 0, 0, 2).To4()}
		udp := &layers.UDP{SrcPort: 4000, DstPort: 53}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		out = append(out, ser(eth(macA, macB, layers.EthernetTypeIPv4), ip4, udp, gopacket.Payload(make([]byte, 200))))
		ip4 = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(10, 0, 0, 2).To4(), DstIP: net.IPv4(192, 168, 1, 5).To4()}
		tcp := &layers.TCP{SrcPort: 443, DstPort: 50000, ACK: true, PSH: true, Window: 100}
		_ = tcp.SetNetworkLayerForChecksum(ip4)
		out = append(out, ser(eth(macB, macA, layers.EthernetTypeIPv4), ip4, tcp, gopacket.Payload(make([]byte, 1400))))
	}

	// Other link-layer traffic: LLDP, an 802.3 length field, a runt.
	out = append(out, ser(eth(macA, net.HardwareAddr{0x01, 0x80, 0xc2, 0, 0, 0x0e}, layers.EthernetType(0x88cc)), gopacket.Payload(make([]byte, 46))))
	out = append(out, ser(eth(macB, bcast, layers.EthernetType(46)), gopacket.Payload(make([]byte, 46))))
	out = append(out, []byte{1, 2, 3})

	// Truncated copies of every fifth frame.
	base := len(out)
	for i := 0; i < base; i += 5 {
		for _, l := range []int{6, 13, 14, 20, 24, 28, 30, 34, 36, 38, 40, 42, 48, 54, 56, 60} {
			if l < len(out[i]) {
				out = append(out, append([]byte(nil), out[i][:l]...))
			}
		}
	}
	return out, base
}
