package header

// Cross-checks of our views against gopacket's decoders, shared by the
// differential tests (gopacket_test.go) and the fuzz targets (fuzz_test.go).
//
// Each check decodes the same bytes with the gopacket layer's DecodeFromBytes
// and with our view, requires the validity decisions to agree where they are
// comparable, and compares every field when both accept. Deliberate
// differences, where gopacket accepts what we drop:
//
//   - IPv4: gopacket does not check the version nibble; it accepts a total
//     length of 0 (TCP segmentation offload: it uses the buffer length); and
//     it accepts a total length beyond the buffer as long as the header
//     fits (it marks the packet truncated). We drop all three, since a
//     receive path must not hand up bytes that are not there. Our Validate
//     does not look at options; ParseIPv4Options fails exactly where
//     gopacket's option decoding fails.
//   - UDP: gopacket accepts a length field of 0 (IPv6 jumbograms) and a
//     length beyond the buffer (truncated). We drop both.
//   - ARP: gopacket decodes any hardware and protocol sizes and any
//     operation; we accept only IPv4 over Ethernet requests and replies.
//   - TCP options: gopacket never fails a segment for options; it stops at
//     the first malformed one. It also checks MPTCP (kind 30) subtypes,
//     which we skip by length. It does not check the lengths of MSS,
//     window scale, SACK-permitted, timestamps or SACK; we reject wrong ones.
//   - Ethernet: gopacket turns EtherType values below 0x0600 into an 802.3
//     length and trims the payload to it; we report the raw field.

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// checkEthernet compares Ethernet decoding and returns our view and whether
// it is valid.
func checkEthernet(t testing.TB, data []byte) (Ethernet, bool) {
	t.Helper()
	e := Ethernet(data)
	var gp layers.Ethernet
	err := gp.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if got, want := e.IsValid(), err == nil; got != want {
		t.Fatalf("Ethernet %x: IsValid() = %v, gopacket err = %v", data, got, err)
	}
	if !e.IsValid() {
		return e, false
	}
	if !bytes.Equal(gp.DstMAC, e.Dst().slice()) || !bytes.Equal(gp.SrcMAC, e.Src().slice()) {
		t.Errorf("Ethernet: Dst/Src = %v/%v, gopacket %v/%v", e.Dst(), e.Src(), gp.DstMAC, gp.SrcMAC)
	}
	if typ := e.Type(); typ >= 0x0600 {
		if uint16(gp.EthernetType) != typ {
			t.Errorf("Ethernet: Type() = %#04x, gopacket %#04x", typ, uint16(gp.EthernetType))
		}
		if !bytes.Equal(gp.Payload, e.Payload()) {
			t.Errorf("Ethernet: Payload differs")
		}
	} else if gp.Length != typ {
		t.Errorf("Ethernet: Type() = %#04x, gopacket 802.3 length %d", typ, gp.Length)
	}
	return e, true
}

func (m MAC) slice() []byte { return m[:] }

func checkARP(t testing.TB, data []byte) {
	t.Helper()
	a := ARP(data)
	var gp layers.ARP
	err := gp.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	want := err == nil && gp.AddrType == layers.LinkTypeEthernet && gp.Protocol == layers.EthernetTypeIPv4 &&
		gp.HwAddressSize == 6 && gp.ProtAddressSize == 4 && (gp.Operation == ARPRequest || gp.Operation == ARPReply)
	if got := a.IsValid(); got != want {
		t.Fatalf("ARP %x: IsValid() = %v, gopacket err %v fields %+v", data, got, err, gp)
	}
	if !want {
		return
	}
	sip, tip := a.SenderIP(), a.TargetIP()
	if uint16(a.HardwareType()) != uint16(gp.AddrType) || a.ProtocolType() != uint16(gp.Protocol) ||
		a.HardwareLen() != gp.HwAddressSize || a.ProtocolLen() != gp.ProtAddressSize || a.Op() != gp.Operation ||
		!bytes.Equal(a.SenderMAC().slice(), gp.SourceHwAddress) || !bytes.Equal(sip[:], gp.SourceProtAddress) ||
		!bytes.Equal(a.TargetMAC().slice(), gp.DstHwAddress) || !bytes.Equal(tip[:], gp.DstProtAddress) {
		t.Errorf("ARP fields differ: ours %d %#x %d %d %d %v %v %v %v, gopacket %+v",
			a.HardwareType(), a.ProtocolType(), a.HardwareLen(), a.ProtocolLen(), a.Op(),
			a.SenderMAC(), sip, a.TargetMAC(), tip, gp)
	}
}

type optionRecord struct {
	typ  byte
	data []byte
}

// ipv4Options walks the options of a valid header, collecting them.
func ipv4Options(h IPv4) ([]optionRecord, error) {
	var opts []optionRecord
	err := ParseIPv4Options(h.Options(), func(typ byte, data []byte) bool {
		opts = append(opts, optionRecord{typ, data})
		return true
	})
	return opts, err
}

// checkIPv4 compares IPv4 decoding of data, with all of data available. It
// returns our view and whether both the header and its options are valid.
func checkIPv4(t testing.TB, data []byte) (IPv4, bool) {
	t.Helper()
	h := IPv4(data)
	verr := h.Validate(len(data))
	var gp layers.IPv4
	gerr := gp.DecodeFromBytes(data, gopacket.NilDecodeFeedback)

	if verr != IPv4OK {
		// Our reasons map onto gopacket's where gopacket checks the same.
		switch verr {
		case IPv4TooShort, IPv4BadIHL:
			if gerr == nil {
				t.Fatalf("IPv4 %x: Validate = %v, gopacket accepts", data, verr)
			}
		case IPv4BadTotalLength:
			if gerr == nil && h.TotalLength() != 0 {
				t.Fatalf("IPv4 %x: Validate = %v, gopacket accepts", data, verr)
			}
		}
		// The reverse: whatever gopacket accepts within our rules, we accept.
		if gerr == nil && data[0]>>4 == 4 && h.TotalLength() != 0 && int(h.TotalLength()) <= len(data) {
			t.Fatalf("IPv4 %x: Validate = %v, gopacket accepts", data, verr)
		}
		return h, false
	}

	opts, oerr := ipv4Options(h)
	if oerr != nil {
		if gerr == nil {
			t.Fatalf("IPv4 %x: ParseIPv4Options = %v, gopacket accepts", data, oerr)
		}
		return h, false
	}
	if gerr != nil {
		t.Fatalf("IPv4 %x: valid, gopacket err = %v", data, gerr)
	}

	src, dst := h.Src(), h.Dst()
	if gp.Version != 4 || int(gp.IHL)*4 != h.HeaderLength() || gp.TOS != h.TOS() || gp.Length != h.TotalLength() ||
		gp.Id != h.ID() || uint8(gp.Flags) != h.Flags() || uint32(gp.FragOffset)*8 != uint32(h.FragmentOffset()) ||
		gp.TTL != h.TTL() || uint8(gp.Protocol) != h.Protocol() || gp.Checksum != h.HeaderChecksum() ||
		!bytes.Equal(gp.SrcIP, src[:]) || !bytes.Equal(gp.DstIP, dst[:]) {
		t.Errorf("IPv4 fields differ:\n ours hl %d tos %d len %d id %d flags %d off %d ttl %d proto %d csum %#x %v %v\n gopacket %+v",
			h.HeaderLength(), h.TOS(), h.TotalLength(), h.ID(), h.Flags(), h.FragmentOffset(), h.TTL(), h.Protocol(),
			h.HeaderChecksum(), src, dst, gp)
	}
	if got, want := h.More(), gp.Flags&layers.IPv4MoreFragments != 0; got != want {
		t.Errorf("IPv4: More() = %v, gopacket %v", got, want)
	}
	if got, want := h.IsFragment(), gp.NextLayerType() == gopacket.LayerTypeFragment; got != want {
		t.Errorf("IPv4: IsFragment() = %v, gopacket %v", got, want)
	}
	if !bytes.Equal(gp.Contents, data[:h.HeaderLength()]) || !bytes.Equal(gp.Payload, h.Payload()) {
		t.Errorf("IPv4: header or payload bytes differ")
	}
	var gopts []optionRecord
	for _, o := range gp.Options {
		if o.OptionType > IPv4OptionNOP {
			gopts = append(gopts, optionRecord{o.OptionType, o.OptionData})
		}
	}
	if len(gopts) != len(opts) {
		t.Errorf("IPv4 options: ours %v, gopacket %v", opts, gopts)
	} else {
		for i := range opts {
			if opts[i].typ != gopts[i].typ || !bytes.Equal(opts[i].data, gopts[i].data) {
				t.Errorf("IPv4 option %d: ours %v, gopacket %v", i, opts[i], gopts[i])
			}
		}
	}

	hdr := bytes.Clone(data[:h.HeaderLength()])
	if got, want := h.IsChecksumValid(), gopacket.FoldChecksum(gopacket.ComputeChecksum(hdr, 0)) == 0; got != want {
		t.Errorf("IPv4: IsChecksumValid() = %v, gopacket %v", got, want)
	}
	hdr[10], hdr[11] = 0, 0
	if got, want := h.CalculateChecksum(), gopacket.FoldChecksum(gopacket.ComputeChecksum(hdr, 0)); got != want {
		t.Errorf("IPv4: CalculateChecksum() = %#04x, gopacket %#04x", got, want)
	}
	return h, true
}

func checkICMPv4(t testing.TB, data []byte) {
	t.Helper()
	m := ICMPv4(data)
	var gp layers.ICMPv4
	err := gp.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if got, want := m.IsValid(), err == nil; got != want {
		t.Fatalf("ICMPv4 %x: IsValid() = %v, gopacket err = %v", data, got, err)
	}
	if !m.IsValid() {
		return
	}
	if m.Type() != gp.TypeCode.Type() || m.Code() != gp.TypeCode.Code() || m.Checksum() != gp.Checksum ||
		m.Ident() != gp.Id || m.Sequence() != gp.Seq || !bytes.Equal(m.Payload(), gp.Payload) {
		t.Errorf("ICMPv4 fields differ: ours %d %d %#x %d %d, gopacket %+v", m.Type(), m.Code(), m.Checksum(), m.Ident(), m.Sequence(), gp)
	}
	if got, want := m.IsChecksumValid(), gopacket.FoldChecksum(gopacket.ComputeChecksum(data, 0)) == 0; got != want {
		t.Errorf("ICMPv4: IsChecksumValid() = %v, gopacket %v", got, want)
	}
}

// gopacketUDPChecksum has gopacket compute the checksum of u by serializing
// it with the payload of u under an IPv4 header from src to dst.
func gopacketUDPChecksum(t testing.TB, u UDP, src, dst [4]byte) uint16 {
	t.Helper()
	ip := &layers.IPv4{Version: 4, Protocol: layers.IPProtocolUDP, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
	udp := &layers.UDP{SrcPort: layers.UDPPort(u.SrcPort()), DstPort: layers.UDPPort(u.DstPort())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, udp, gopacket.Payload(u.Payload())); err != nil {
		t.Fatal(err)
	}
	return udp.Checksum
}

func checkUDP(t testing.TB, data []byte, src, dst [4]byte) {
	t.Helper()
	u := UDP(data)
	var gp layers.UDP
	err := gp.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if !u.IsValid() {
		if err == nil && gp.Length >= UDPSize && int(gp.Length) <= len(data) {
			t.Fatalf("UDP %x: IsValid() = false, gopacket accepts", data)
		}
		return
	}
	if err != nil {
		t.Fatalf("UDP %x: valid, gopacket err = %v", data, err)
	}
	if u.SrcPort() != uint16(gp.SrcPort) || u.DstPort() != uint16(gp.DstPort) || u.Length() != gp.Length ||
		u.Checksum() != gp.Checksum || !bytes.Equal(u.Payload(), gp.Payload) {
		t.Errorf("UDP fields differ: ours %d %d %d %#x, gopacket %+v", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum(), gp)
	}
	want := gopacketUDPChecksum(t, u, src, dst)
	if got := UDPChecksum(u, src, dst); got != want {
		t.Errorf("UDPChecksum = %#04x, gopacket %#04x", got, want)
	}
	if got, want := u.IsChecksumValid(src, dst), u.Checksum() == 0 || u.Checksum() == want; got != want {
		t.Errorf("UDP: IsChecksumValid() = %v, want %v", got, want)
	}
}

func gopacketTCPFlags(gp *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{gp.FIN, gp.SYN, gp.RST, gp.PSH, gp.ACK, gp.URG, gp.ECE, gp.CWR} {
		if set {
			f |= 1 << i
		}
	}
	return f
}

func checkTCP(t testing.TB, data []byte, src, dst [4]byte) {
	t.Helper()
	h := TCP(data)
	var gp layers.TCP
	err := gp.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if got, want := h.IsValid(), err == nil; got != want {
		t.Fatalf("TCP %x: IsValid() = %v, gopacket err = %v", data, got, err)
	}
	if !h.IsValid() {
		return
	}
	if h.SrcPort() != uint16(gp.SrcPort) || h.DstPort() != uint16(gp.DstPort) || h.Seq() != gp.Seq || h.Ack() != gp.Ack ||
		h.DataOffset() != int(gp.DataOffset)*4 || h.Flags() != gopacketTCPFlags(&gp) || h.Window() != gp.Window ||
		h.Checksum() != gp.Checksum || h.Urgent() != gp.Urgent ||
		!bytes.Equal(h.Options(), gp.Contents[TCPMinimumSize:]) || !bytes.Equal(h.Payload(), gp.Payload) {
		t.Errorf("TCP fields differ: ours %d %d %d %d off %d flags %#x win %d csum %#x urg %d, gopacket %+v",
			h.SrcPort(), h.DstPort(), h.Seq(), h.Ack(), h.DataOffset(), h.Flags(), h.Window(), h.Checksum(), h.Urgent(), gp)
	}
	var o TCPOptions
	compareTCPOptions(t, &gp, h.Options(), ParseTCPOptions(h.Options(), &o), o)

	if len(data) > 0xffff {
		return // the pseudo header length would not fit; not a real segment
	}
	ip := &layers.IPv4{Version: 4, SrcIP: net.IP(src[:]), DstIP: net.IP(dst[:])}
	if err := gp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	gc, err := gp.ComputeChecksum() // over the segment as it is, field included
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.IsChecksumValid(src, dst), gc == 0; got != want {
		t.Errorf("TCP: IsChecksumValid() = %v, gopacket %v", got, want)
	}
	zeroed := bytes.Clone(data)
	zeroed[16], zeroed[17] = 0, 0
	var gz layers.TCP
	if err := gz.DecodeFromBytes(zeroed, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if err := gz.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	want, err := gz.ComputeChecksum()
	if err != nil {
		t.Fatal(err)
	}
	if got := TCPChecksum(h, src, dst); got != want {
		t.Errorf("TCPChecksum = %#04x, gopacket %#04x", got, want)
	}
}

// compareTCPOptions checks our parse of opts (result o, error perr) against
// gopacket's decoding of the same options in gp.
func compareTCPOptions(t testing.TB, gp *layers.TCP, opts []byte, perr error, o TCPOptions) {
	t.Helper()
	n := len(gp.Options)
	complete := len(gp.Padding) == 0 || (n > 0 && gp.Options[n-1].OptionType == layers.TCPOptionKindEndList)
	if !complete {
		// gopacket stopped at a malformed option. Unless it was an MPTCP
		// option, whose subtypes gopacket checks and we do not, the
		// option is malformed by our rules too.
		if gp.Padding[0] != byte(layers.TCPOptionKindMultipathTCP) && perr == nil {
			t.Fatalf("TCP options %x: parsed, gopacket stopped at %x", opts, gp.Padding)
		}
		return
	}
	// gopacket decoded every option: we fail exactly when a known option
	// has the wrong length.
	var want TCPOptions
	var wantErr bool
	for _, opt := range gp.Options {
		l := int(opt.OptionLength)
		switch opt.OptionType {
		case TCPOptionMSS:
			if l != tcpOptionMSSLen {
				wantErr = true
				continue
			}
			want.MSS, want.HasMSS = binary.BigEndian.Uint16(opt.OptionData), true
		case TCPOptionWS:
			if l != tcpOptionWSLen {
				wantErr = true
				continue
			}
			want.WS, want.HasWS = opt.OptionData[0], true
		case TCPOptionSACKPermitted:
			if l != tcpOptionSACKPermittedLen {
				wantErr = true
				continue
			}
			want.SACKPermitted = true
		case TCPOptionTS:
			if l != tcpOptionTSLen {
				wantErr = true
				continue
			}
			want.TSVal = binary.BigEndian.Uint32(opt.OptionData[0:4])
			want.TSEcr = binary.BigEndian.Uint32(opt.OptionData[4:8])
			want.HasTS = true
		case TCPOptionSACK:
			d := opt.OptionData
			if len(d)%8 != 0 || len(d) == 0 || len(d) > 32 {
				wantErr = true
				continue
			}
			want.NumSACK = len(d) / 8
			want.SACK = [4]SACKBlock{}
			for i := range want.NumSACK {
				want.SACK[i] = SACKBlock{binary.BigEndian.Uint32(d[i*8:]), binary.BigEndian.Uint32(d[i*8+4:])}
			}
		}
	}
	if (perr != nil) != wantErr {
		t.Fatalf("TCP options %x: err = %v, gopacket options %v", opts, perr, gp.Options)
	}
	if perr == nil && o != want {
		t.Errorf("TCP options %x:\n ours     %+v\n gopacket %+v", opts, o, want)
	}
}

// checkTCPOptions cross-checks ParseTCPOptions on raw option bytes by
// putting them, padded to a multiple of 4, into a TCP header for gopacket.
func checkTCPOptions(t testing.TB, opts []byte) {
	t.Helper()
	var o TCPOptions
	_ = ParseTCPOptions(opts, &o) // must not panic on any length
	if len(opts) > tcpMaxOptionsSize {
		return
	}
	seg := make([]byte, TCPMinimumSize+tcpMaxOptionsSize)
	hl := EncodeTCP(seg, TCPFields{Flags: TCPFlagSYN, Options: opts})
	seg = seg[:hl]
	padded := TCP(seg).Options()
	var gp layers.TCP
	if err := gp.DecodeFromBytes(seg, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("TCP options %x: gopacket err = %v", opts, err)
	}
	perr := ParseTCPOptions(padded, &o)
	compareTCPOptions(t, &gp, padded, perr, o)
	if perr != nil {
		return
	}
	// What parses re-encodes to the same options, less SACK blocks that
	// do not fit next to the others.
	nonSACK := o
	nonSACK.NumSACK = 0
	var buf [tcpMaxOptionsSize]byte
	room := (tcpMaxOptionsSize - EncodeTCPOptions(buf[:], nonSACK) - 4) / tcpOptionSACKBlockLen
	want := o
	want.NumSACK = min(o.NumSACK, room)
	want.SACK = [4]SACKBlock{}
	copy(want.SACK[:], o.SACK[:want.NumSACK])
	var back TCPOptions
	if err := ParseTCPOptions(buf[:EncodeTCPOptions(buf[:], o)], &back); err != nil || back != want {
		t.Errorf("TCP options %x: re-encoded parse = %+v, %v; want %+v", opts, back, err, want)
	}
}

// checkFrame cross-checks a whole Ethernet frame layer by layer, going as
// deep as our views accept.
func checkFrame(t testing.TB, frame []byte) {
	t.Helper()
	e, ok := checkEthernet(t, frame)
	if !ok {
		return
	}
	switch e.Type() {
	case EtherTypeARP:
		checkARP(t, e.Payload())
	case EtherTypeIPv4:
		h, ok := checkIPv4(t, e.Payload())
		if !ok {
			return
		}
		checkTransport(t, h)
	}
}

func checkTransport(t testing.TB, h IPv4) {
	t.Helper()
	switch h.Protocol() {
	case 1:
		checkICMPv4(t, h.Payload())
	case 6:
		checkTCP(t, h.Payload(), h.Src(), h.Dst())
	case 17:
		checkUDP(t, h.Payload(), h.Src(), h.Dst())
	}
}
