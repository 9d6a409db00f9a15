package header

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Differential tests: packets built with gopacket's layers are decoded by
// gopacket and by our views, and every field is compared both with the
// values the packet was built from and with gopacket's decoding. Random and
// mutated frames then go through the layer-by-layer cross-checks of
// gopacket_check_test.go, which also documents where the two decoders
// deliberately differ.

const diffIterations = 300

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randMAC(r *rand.Rand) MAC { return MAC(randBytes(r, 6)) }

// randIPv4Options returns random well-formed options for gopacket, at most
// 40 bytes once padded. Source routes are left out: gopacket then uses the
// last hop, not the header's destination, in transport pseudo headers.
func randIPv4Options(r *rand.Rand) []layers.IPv4Option {
	var opts []layers.IPv4Option
	size := 0
	for r.IntN(3) != 0 {
		var o layers.IPv4Option
		switch r.IntN(5) {
		case 0:
			o = layers.IPv4Option{OptionType: IPv4OptionNOP, OptionLength: 1}
		case 1:
			o = layers.IPv4Option{OptionType: IPv4OptionRouterAlert, OptionLength: 4, OptionData: []byte{0, 0}}
		case 2:
			d := append([]byte{4}, randBytes(r, 4*(1+r.IntN(3)))...)
			o = layers.IPv4Option{OptionType: IPv4OptionRR, OptionLength: uint8(2 + len(d)), OptionData: d}
		case 3:
			d := randBytes(r, 2+4*r.IntN(3))
			o = layers.IPv4Option{OptionType: IPv4OptionTimestamp, OptionLength: uint8(2 + len(d)), OptionData: d}
		default:
			d := randBytes(r, r.IntN(6))
			o = layers.IPv4Option{OptionType: 0x80 | uint8(r.IntN(16)), OptionLength: uint8(2 + len(d)), OptionData: d}
		}
		if size+int(o.OptionLength) > 39 {
			break
		}
		size += int(o.OptionLength)
		opts = append(opts, o)
	}
	if len(opts) > 0 && r.IntN(2) == 0 {
		opts = append(opts, layers.IPv4Option{OptionType: IPv4OptionEOL, OptionLength: 1})
	}
	return opts
}

func randGopacketIPv4(r *rand.Rand, proto layers.IPProtocol, withOptions bool) *layers.IPv4 {
	ip := &layers.IPv4{
		Version:  4,
		TOS:      uint8(r.Uint32()),
		Id:       uint16(r.Uint32()),
		TTL:      uint8(r.Uint32()),
		Protocol: proto,
		SrcIP:    net.IP(randBytes(r, 4)),
		DstIP:    net.IP(randBytes(r, 4)),
	}
	if r.IntN(4) == 0 { // a fragment now and then
		ip.Flags = layers.IPv4Flag(r.IntN(8))
		ip.FragOffset = uint16(r.IntN(0x2000))
	} else {
		ip.Flags = layers.IPv4Flag(r.IntN(8)) &^ layers.IPv4MoreFragments
	}
	if withOptions {
		ip.Options = randIPv4Options(r)
	}
	return ip
}

func randGopacketEthernet(r *rand.Rand, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr(randBytes(r, 6)), DstMAC: net.HardwareAddr(randBytes(r, 6)), EthernetType: typ}
}

// checkBuiltIPv4 compares our view of a serialized IPv4 header with the
// layer it was built from.
func checkBuiltIPv4(t *testing.T, h IPv4, ip *layers.IPv4) {
	t.Helper()
	if !h.IsValid(len(h)) || !h.IsChecksumValid() {
		t.Fatalf("IPv4 %x: IsValid %v IsChecksumValid %v", []byte(h), h.IsValid(len(h)), h.IsChecksumValid())
	}
	if h.TOS() != ip.TOS || h.ID() != ip.Id || h.Flags() != uint8(ip.Flags) || h.FragmentOffset() != ip.FragOffset*8 ||
		h.TTL() != ip.TTL || h.Protocol() != uint8(ip.Protocol) || h.HeaderChecksum() != ip.Checksum ||
		h.Src() != [4]byte(ip.SrcIP) || h.Dst() != [4]byte(ip.DstIP) || h.HeaderLength() != int(ip.IHL)*4 ||
		h.TotalLength() != ip.Length {
		t.Errorf("IPv4 fields differ from built %+v", ip)
	}
	var want []optionRecord
	for _, o := range ip.Options {
		if o.OptionType == IPv4OptionEOL {
			break
		}
		if o.OptionType != IPv4OptionNOP {
			want = append(want, optionRecord{o.OptionType, o.OptionData})
		}
	}
	got, err := ipv4Options(h)
	if err != nil || len(got) != len(want) {
		t.Fatalf("options = %v, %v; built %v", got, err, want)
	}
	for i := range got {
		if got[i].typ != want[i].typ || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("option %d = %v, built %v", i, got[i], want[i])
		}
	}
}

func TestGopacketEthernetIPv4UDP(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 1))
	for i := range diffIterations {
		eth := randGopacketEthernet(r, layers.EthernetTypeIPv4)
		ip := randGopacketIPv4(r, layers.IPProtocolUDP, i%2 == 1)
		udp := &layers.UDP{SrcPort: layers.UDPPort(r.Uint32()), DstPort: layers.UDPPort(r.Uint32())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		payload := randBytes(r, r.IntN(200))
		frame := serialize(t, eth, ip, udp, gopacket.Payload(payload))
		if r.IntN(3) == 0 {
			frame = append(frame, make([]byte, r.IntN(20))...) // link padding
		}

		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v", el.Error())
		}
		checkFrame(t, frame)

		e := Ethernet(frame)
		if !e.IsValid() || e.Dst() != MAC(eth.DstMAC) || e.Src() != MAC(eth.SrcMAC) || e.Type() != EtherTypeIPv4 {
			t.Fatalf("Ethernet fields differ from built %+v", eth)
		}
		h := IPv4(e.Payload())
		checkBuiltIPv4(t, h, ip)
		if h.IsFragment() {
			if pkt.Layer(gopacket.LayerTypeFragment) == nil {
				t.Errorf("fragment: gopacket has no fragment layer")
			}
			continue
		}
		u := UDP(h.Payload())
		gu, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if gu == nil {
			t.Fatal("gopacket decoded no UDP layer")
		}
		if !u.IsValid() || u.SrcPort() != uint16(udp.SrcPort) || u.DstPort() != uint16(udp.DstPort) ||
			u.Length() != gu.Length || u.Checksum() != udp.Checksum || !bytes.Equal(u.Payload(), payload) {
			t.Errorf("UDP fields differ from built %+v", udp)
		}
		if !u.IsChecksumValid(h.Src(), h.Dst()) || UDPChecksum(u, h.Src(), h.Dst()) != udp.Checksum {
			t.Errorf("UDP checksum %#04x, ours %#04x", udp.Checksum, UDPChecksum(u, h.Src(), h.Dst()))
		}
	}
}

// randTCPOptions returns random options for gopacket and what ParseTCPOptions
// should make of them.
func randTCPOptions(r *rand.Rand) ([]layers.TCPOption, TCPOptions) {
	var opts []layers.TCPOption
	var want TCPOptions
	size := 0
	for r.IntN(4) != 0 {
		var o layers.TCPOption
		var apply func()
		switch r.IntN(7) {
		case 0:
			o = layers.TCPOption{OptionType: layers.TCPOptionKindNop}
		case 1:
			mss := uint16(r.Uint32())
			o = layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: binary.BigEndian.AppendUint16(nil, mss)}
			apply = func() { want.MSS, want.HasMSS = mss, true }
		case 2:
			ws := uint8(r.IntN(16))
			o = layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{ws}}
			apply = func() { want.WS, want.HasWS = ws, true }
		case 3:
			o = layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}
			apply = func() { want.SACKPermitted = true }
		case 4:
			val, ecr := r.Uint32(), r.Uint32()
			d := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, val), ecr)
			o = layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: d}
			apply = func() { want.TSVal, want.TSEcr, want.HasTS = val, ecr, true }
		case 5:
			var blocks [4]SACKBlock
			n := 1 + r.IntN(4)
			var d []byte
			for i := range n {
				blocks[i] = SACKBlock{r.Uint32(), r.Uint32()}
				d = binary.BigEndian.AppendUint32(d, blocks[i].Start)
				d = binary.BigEndian.AppendUint32(d, blocks[i].End)
			}
			o = layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: d}
			apply = func() { want.SACK, want.NumSACK = blocks, n }
		default:
			o = layers.TCPOption{OptionType: layers.TCPOptionKind(200 + r.IntN(50)), OptionData: randBytes(r, r.IntN(5))}
		}
		l := 1
		if o.OptionType > 1 {
			l = 2 + len(o.OptionData)
		}
		if size+l > tcpMaxOptionsSize {
			continue
		}
		size += l
		opts = append(opts, o)
		if apply != nil {
			apply()
		}
	}
	return opts, want
}

func TestGopacketTCP(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 2))
	for i := range diffIterations {
		eth := randGopacketEthernet(r, layers.EthernetTypeIPv4)
		ip := randGopacketIPv4(r, layers.IPProtocolTCP, i%2 == 1)
		ip.Flags &^= layers.IPv4MoreFragments
		ip.FragOffset = 0
		opts, wantOpts := randTCPOptions(r)
		flags := uint8(r.Uint32())
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
			Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
			FIN: flags&TCPFlagFIN != 0, SYN: flags&TCPFlagSYN != 0, RST: flags&TCPFlagRST != 0, PSH: flags&TCPFlagPSH != 0,
			ACK: flags&TCPFlagACK != 0, URG: flags&TCPFlagURG != 0, ECE: flags&TCPFlagECE != 0, CWR: flags&TCPFlagCWR != 0,
			Options: opts,
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		payload := randBytes(r, r.IntN(100))
		frame := serialize(t, eth, ip, tcp, gopacket.Payload(payload))

		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("gopacket: %v", el.Error())
		}
		if pkt.Layer(layers.LayerTypeTCP) == nil {
			t.Fatal("gopacket decoded no TCP layer")
		}
		checkFrame(t, frame)

		h := IPv4(Ethernet(frame).Payload())
		checkBuiltIPv4(t, h, ip)
		seg := TCP(h.Payload())
		if !seg.IsValid() || seg.SrcPort() != uint16(tcp.SrcPort) || seg.DstPort() != uint16(tcp.DstPort) ||
			seg.Seq() != tcp.Seq || seg.Ack() != tcp.Ack || seg.Flags() != flags || seg.Window() != tcp.Window ||
			seg.Urgent() != tcp.Urgent || seg.Checksum() != tcp.Checksum || seg.DataOffset() != int(tcp.DataOffset)*4 ||
			!bytes.Equal(seg.Payload(), payload) {
			t.Errorf("TCP fields differ from built %+v", tcp)
		}
		if !seg.IsChecksumValid(h.Src(), h.Dst()) || TCPChecksum(seg, h.Src(), h.Dst()) != tcp.Checksum {
			t.Errorf("TCP checksum %#04x, ours %#04x", tcp.Checksum, TCPChecksum(seg, h.Src(), h.Dst()))
		}
		var got TCPOptions
		if err := ParseTCPOptions(seg.Options(), &got); err != nil || got != wantOpts {
			t.Errorf("ParseTCPOptions(%x) = %+v, %v; built %+v", seg.Options(), got, err, wantOpts)
		}
	}
}

func TestGopacketICMPv4Echo(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 3))
	for range diffIterations {
		eth := randGopacketEthernet(r, layers.EthernetTypeIPv4)
		ip := randGopacketIPv4(r, layers.IPProtocolICMPv4, r.IntN(2) == 0)
		ip.Flags &^= layers.IPv4MoreFragments
		ip.FragOffset = 0
		typ := uint8(ICMPv4Echo)
		if r.IntN(2) == 0 {
			typ = ICMPv4EchoReply
		}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: uint16(r.Uint32()), Seq: uint16(r.Uint32())}
		payload := randBytes(r, r.IntN(100))
		frame := serialize(t, eth, ip, icmp, gopacket.Payload(payload))
		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.Layer(layers.LayerTypeICMPv4) == nil {
			t.Fatal("gopacket decoded no ICMPv4 layer")
		}
		checkFrame(t, frame)

		h := IPv4(Ethernet(frame).Payload())
		checkBuiltIPv4(t, h, ip)
		m := ICMPv4(h.Payload())
		if !m.IsValid() || !m.IsChecksumValid() || m.Type() != typ || m.Code() != 0 || m.Ident() != icmp.Id ||
			m.Sequence() != icmp.Seq || m.Checksum() != icmp.Checksum || !bytes.Equal(m.Payload(), payload) {
			t.Errorf("ICMPv4 fields differ from built %+v", icmp)
		}
	}
}

func TestGopacketARP(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 4))
	for range diffIterations {
		eth := randGopacketEthernet(r, layers.EthernetTypeARP)
		op := uint16(1 + r.IntN(2))
		arp := &layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, Operation: op,
			SourceHwAddress: randBytes(r, 6), SourceProtAddress: randBytes(r, 4),
			DstHwAddress: randBytes(r, 6), DstProtAddress: randBytes(r, 4),
		}
		frame := serialize(t, eth, arp)
		frame = append(frame, make([]byte, 18)...) // padded to the 60-byte minimum
		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if pkt.Layer(layers.LayerTypeARP) == nil {
			t.Fatal("gopacket decoded no ARP layer")
		}
		checkFrame(t, frame)
		a := ARP(Ethernet(frame).Payload())
		if !a.IsValid() || a.Op() != op || a.SenderMAC() != MAC(arp.SourceHwAddress) || a.SenderIP() != [4]byte(arp.SourceProtAddress) ||
			a.TargetMAC() != MAC(arp.DstHwAddress) || a.TargetIP() != [4]byte(arp.DstProtAddress) {
			t.Errorf("ARP fields differ from built %+v", arp)
		}
	}
}

// TestEncodersDecodedByGopacket goes the other way: frames written by our
// encoders must decode in gopacket to the values we wrote.
func TestEncodersDecodedByGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 5))
	for i := range diffIterations {
		dstMAC, srcMAC := randMAC(r), randMAC(r)
		f := randIPv4Fields(r)
		f.Flags &^= IPv4FlagMoreFragments
		f.FragmentOffset = 0
		if i%2 == 1 {
			f.Options = []byte{IPv4OptionRouterAlert, 4, 0, 0, IPv4OptionNOP, IPv4OptionNOP, IPv4OptionNOP, IPv4OptionEOL}
		}
		hl := IPv4MinimumSize + len(f.Options)
		payload := randBytes(r, r.IntN(64))
		frame := make([]byte, EthernetSize+hl+TCPMinimumSize+tcpMaxOptionsSize+len(payload))
		EncodeEthernet(frame, dstMAC, srcMAC, EtherTypeIPv4)
		ipb := frame[EthernetSize:]

		var decoded []gopacket.LayerType
		var (
			geth layers.Ethernet
			gip  layers.IPv4
			gudp layers.UDP
			gtcp layers.TCP
			gicm layers.ICMPv4
			pl   gopacket.Payload
		)
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &geth, &gip, &gudp, &gtcp, &gicm, &pl)
		parser.IgnoreUnsupported = true

		var n int
		var transport gopacket.LayerType
		switch i % 3 {
		case 0:
			f.Protocol = 17
			n = UDPSize + len(payload)
			EncodeUDP(ipb[hl:], uint16(r.Uint32()), uint16(r.Uint32()), uint16(n))
			copy(ipb[hl+UDPSize:], payload)
			u := UDP(ipb[hl : hl+n])
			u.SetChecksum(UDPChecksum(u, f.Src, f.Dst))
			transport = layers.LayerTypeUDP
		case 1:
			f.Protocol = 6
			var o [tcpMaxOptionsSize]byte
			on := EncodeTCPOptions(o[:], TCPOptions{MSS: 1460, HasMSS: true, HasTS: true, TSVal: r.Uint32(), SACKPermitted: true, HasWS: true, WS: 7})
			thl := EncodeTCP(ipb[hl:], TCPFields{SrcPort: 1, DstPort: 2, Seq: r.Uint32(), Ack: r.Uint32(), Flags: uint8(r.Uint32()), Window: 9, Options: o[:on]})
			n = thl + copy(ipb[hl+thl:], payload)
			seg := TCP(ipb[hl : hl+n])
			seg.SetChecksum(TCPChecksum(seg, f.Src, f.Dst))
			transport = layers.LayerTypeTCP
		default:
			f.Protocol = 1
			EncodeICMPv4(ipb[hl:], ICMPv4Echo, 0, r.Uint32())
			n = ICMPv4MinimumSize + copy(ipb[hl+ICMPv4MinimumSize:], payload)
			m := ICMPv4(ipb[hl : hl+n])
			m.SetChecksum(^Checksum(m, 0))
			transport = layers.LayerTypeICMPv4
		}
		f.TotalLength = uint16(hl + n)
		if got := EncodeIPv4(ipb, f); got != hl {
			t.Fatalf("EncodeIPv4 = %d, want %d", got, hl)
		}
		frame = frame[:EthernetSize+hl+n]

		if err := parser.DecodeLayers(frame, &decoded); err != nil {
			t.Fatalf("DecodeLayers: %v (decoded %v)", err, decoded)
		}
		if len(decoded) < 3 || decoded[2] != transport {
			t.Fatalf("decoded %v, want Ethernet, IPv4, %v", decoded, transport)
		}
		if MAC(geth.DstMAC) != dstMAC || MAC(geth.SrcMAC) != srcMAC || geth.EthernetType != layers.EthernetTypeIPv4 {
			t.Errorf("gopacket Ethernet %+v", geth)
		}
		if gip.TOS != f.TOS || gip.Length != f.TotalLength || gip.Id != f.ID || uint8(gip.Flags) != f.Flags || gip.TTL != f.TTL ||
			uint8(gip.Protocol) != f.Protocol || [4]byte(gip.SrcIP) != f.Src || [4]byte(gip.DstIP) != f.Dst {
			t.Errorf("gopacket IPv4 %+v, encoded %+v", gip, f)
		}
		checkFrame(t, frame)
		// gopacket's own serialization of what it decoded must produce the
		// same checksums we wrote.
		ipl := IPv4(frame[EthernetSize:])
		switch transport {
		case layers.LayerTypeUDP:
			u := UDP(ipl.Payload())
			if want := gopacketUDPChecksum(t, u, f.Src, f.Dst); u.Checksum() != want {
				t.Errorf("UDP checksum %#04x, gopacket %#04x", u.Checksum(), want)
			}
		case layers.LayerTypeTCP:
			if err := gtcp.SetNetworkLayerForChecksum(&gip); err != nil {
				t.Fatal(err)
			}
			if c, err := gtcp.ComputeChecksum(); err != nil || c != 0 {
				t.Errorf("gopacket TCP checksum over our segment = %#04x, %v; want 0", c, err)
			}
		}
	}
}

// mutate returns a damaged copy of a valid frame: flipped bytes, truncation,
// random header fields or appended garbage.
func mutate(r *rand.Rand, frame []byte) []byte {
	b := bytes.Clone(frame)
	for range 1 + r.IntN(3) {
		switch r.IntN(5) {
		case 0:
			if len(b) > 0 {
				b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
			}
		case 1:
			if len(b) > 0 {
				b[r.IntN(min(len(b), 80))] = byte(r.Uint32())
			}
		case 2:
			b = b[:r.IntN(len(b)+1)]
		case 3:
			b = append(b, randBytes(r, r.IntN(30))...)
		default:
			if len(b) > 17 { // IPv4 total length or IHL
				if r.IntN(2) == 0 {
					binary.BigEndian.PutUint16(b[16:], uint16(r.IntN(len(b)+10)))
				} else {
					b[14] = 0x40 | byte(r.IntN(16))
				}
			}
		}
	}
	return b
}

// TestGopacketRandomFrames feeds random and mutated frames to both
// decoders and requires their decisions and fields to agree layer by layer.
func TestGopacketRandomFrames(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 6))
	seeds := seedFrames(t)
	for i := range 20000 {
		var frame []byte
		switch i % 4 {
		case 0: // random bytes behind a plausible Ethernet header
			frame = randBytes(r, r.IntN(120))
			if len(frame) >= EthernetSize {
				typ := []uint16{EtherTypeIPv4, EtherTypeARP, EtherTypeIPv6, 0x0040}[r.IntN(4)]
				binary.BigEndian.PutUint16(frame[12:], typ)
				if typ == EtherTypeIPv4 && len(frame) > EthernetSize {
					frame[14] = 0x40 | frame[14]&0x0f
				}
			}
		default:
			frame = mutate(r, seeds[r.IntN(len(seeds))])
		}
		checkFrame(t, frame)
		if t.Failed() {
			t.Fatalf("frame %x", frame)
		}
	}
}
