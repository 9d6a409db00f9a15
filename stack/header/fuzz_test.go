package header

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Fuzz targets. Each one runs our validation on arbitrary bytes (which must
// never panic), exercises the accessors of what validates, and cross-checks
// with gopacket through the helpers in gopacket_check_test.go.
//
// Seed corpora live in testdata/fuzz/FuzzXxx. They are real packets built
// with gopacket; regenerate them with
//
//	go test -run '^TestFuzzCorpus$' -update-corpus ./stack/header/

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// Addresses the transport fuzz targets use for pseudo headers; the seed
// segments carry checksums computed for them.
var (
	fuzzSrc = [4]byte{192, 0, 2, 1}
	fuzzDst = [4]byte{192, 0, 2, 2}
)

func FuzzEthernet(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e := Ethernet(data)
		if e.IsValid() {
			_, _, _ = e.Dst().String(), e.Src().IsMulticast(), e.Type()
			if len(e.Payload()) != len(data)-EthernetSize {
				t.Fatalf("len(Payload()) = %d", len(e.Payload()))
			}
		}
		checkFrame(t, data)
	})
}

func FuzzARP(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		a := ARP(data)
		if a.IsValid() {
			_, _, _, _, _ = a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP()
			b := make([]byte, ARPSize)
			EncodeARP(b, a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
			if !bytes.Equal(b, data[:ARPSize]) {
				t.Fatalf("re-encoded %x, want %x", b, data[:ARPSize])
			}
		}
		checkARP(t, data)
	})
}

func FuzzIPv4(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := IPv4(data)
		// Any pktSize, including ones that disagree with len(data).
		for _, n := range []int{len(data), len(data) - 1, len(data) / 2, len(data) + 7, 0, -1} {
			err := h.Validate(n)
			_ = err.String()
			if err != IPv4OK {
				continue
			}
			hl, tl := h.HeaderLength(), int(h.TotalLength())
			if hl < IPv4MinimumSize || hl > tl || tl > n || tl > len(data) {
				t.Fatalf("Validate(%d) OK with hl %d tl %d len %d", n, hl, tl, len(data))
			}
			if len(h.Options()) != hl-IPv4MinimumSize || len(h.Payload()) != tl-hl {
				t.Fatalf("Options %d bytes, Payload %d bytes; hl %d tl %d", len(h.Options()), len(h.Payload()), hl, tl)
			}
			_ = ParseIPv4Options(h.Options(), func(typ byte, d []byte) bool {
				if typ <= IPv4OptionNOP || len(d) > 38 {
					t.Fatalf("option %d with %d bytes", typ, len(d))
				}
				return true
			})
			_, _, _ = h.IsFragment(), h.More(), h.FragmentOffset()
			// Recomputing the checksum in a copy makes it verify.
			c := IPv4(bytes.Clone(data))
			c.SetChecksum(c.CalculateChecksum())
			if !c.IsChecksumValid() {
				t.Fatalf("IsChecksumValid() = false after SetChecksum(CalculateChecksum())")
			}
			// An incremental TTL decrement agrees with a recomputation.
			oldWord := uint16(c.TTL())<<8 | uint16(c.Protocol())
			c.SetTTL(c.TTL() - 1)
			c.SetChecksum(ChecksumUpdate16(c.HeaderChecksum(), oldWord, uint16(c.TTL())<<8|uint16(c.Protocol())))
			if c.HeaderChecksum() != c.CalculateChecksum() {
				t.Fatalf("ChecksumUpdate16 = %#04x, recomputed %#04x", c.HeaderChecksum(), c.CalculateChecksum())
			}
		}
		if h, ok := checkIPv4(t, data); ok {
			checkTransport(t, h)
		}
	})
}

func FuzzICMPv4(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkICMPv4(t, data)
	})
}

func FuzzUDP(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		u := UDP(data)
		if u.IsValid() && len(u.Payload()) != int(u.Length())-UDPSize {
			t.Fatalf("len(Payload()) = %d, Length() = %d", len(u.Payload()), u.Length())
		}
		checkUDP(t, data, fuzzSrc, fuzzDst)
	})
}

func FuzzTCP(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := TCP(data)
		if s.IsValid() && len(s.Options())+len(s.Payload())+TCPMinimumSize != len(data) {
			t.Fatalf("Options %d + Payload %d bytes, len %d", len(s.Options()), len(s.Payload()), len(data))
		}
		checkTCP(t, data, fuzzSrc, fuzzDst)
	})
}

func FuzzTCPOptions(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkTCPOptions(t, data)
	})
}

// seedPackets are real packets for the seed corpora and the random frame
// test, keyed by fuzz target and name.
type seedPacket struct {
	target, name string
	data         []byte
}

func seedPackets(t testing.TB) []seedPacket {
	t.Helper()
	mac1 := net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	mac2 := net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: typ}
	}
	ip := func(proto layers.IPProtocol, opts ...layers.IPv4Option) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: net.IP(fuzzSrc[:]), DstIP: net.IP(fuzzDst[:]), Options: opts}
	}
	ra := layers.IPv4Option{OptionType: IPv4OptionRouterAlert, OptionLength: 4, OptionData: []byte{0, 0}}
	rr := layers.IPv4Option{OptionType: IPv4OptionRR, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}}
	eol := layers.IPv4Option{OptionType: IPv4OptionEOL, OptionLength: 1}

	udp := func(ipl *layers.IPv4, payload string) []gopacket.SerializableLayer {
		u := &layers.UDP{SrcPort: 40000, DstPort: 53}
		_ = u.SetNetworkLayerForChecksum(ipl)
		return []gopacket.SerializableLayer{u, gopacket.Payload(payload)}
	}
	tcp := func(ipl *layers.IPv4, flags uint8, opts []byte, payload string) []gopacket.SerializableLayer {
		seg := make([]byte, TCPMinimumSize+tcpMaxOptionsSize)
		hl := EncodeTCP(seg, TCPFields{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 2000, Flags: flags, Window: 64240, Options: opts})
		var gp layers.TCP
		if err := gp.DecodeFromBytes(seg[:hl], gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		_ = gp.SetNetworkLayerForChecksum(ipl)
		gp.Padding = nil
		return []gopacket.SerializableLayer{&gp, gopacket.Payload(payload)}
	}
	icmp := func(typ, code uint8, payload string) []gopacket.SerializableLayer {
		return []gopacket.SerializableLayer{
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: 7, Seq: 1},
			gopacket.Payload(payload),
		}
	}
	arp := func(op uint16) *layers.ARP {
		return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, Operation: op,
			SourceHwAddress: mac1, SourceProtAddress: fuzzSrc[:], DstHwAddress: make([]byte, 6), DstProtAddress: fuzzDst[:]}
	}
	var o [tcpMaxOptionsSize]byte
	synOpts := bytes.Clone(o[:EncodeTCPOptions(o[:], TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTS: true, TSVal: 1, HasWS: true, WS: 7})])
	ackOpts := bytes.Clone(o[:EncodeTCPOptions(o[:], TCPOptions{HasTS: true, TSVal: 2, TSEcr: 1, SACK: [4]SACKBlock{{3000, 4000}, {5000, 6000}}, NumSACK: 2})])
	sack4 := bytes.Clone(o[:EncodeTCPOptions(o[:], TCPOptions{SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}, NumSACK: 4})])

	type frame struct {
		name   string
		layers []gopacket.SerializableLayer
	}
	join := func(ls ...any) []gopacket.SerializableLayer {
		var out []gopacket.SerializableLayer
		for _, l := range ls {
			switch l := l.(type) {
			case gopacket.SerializableLayer:
				out = append(out, l)
			case []gopacket.SerializableLayer:
				out = append(out, l...)
			}
		}
		return out
	}
	ipUDP, ipUDPOpts, ipTCP, ipTCPOpts, ipICMP := ip(17), ip(17, ra), ip(6), ip(6, rr, eol), ip(1)
	frames := []frame{
		{"udp_dns", join(eth(layers.EthernetTypeIPv4), ipUDP, udp(ipUDP, "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"))},
		{"udp_ipv4_options", join(eth(layers.EthernetTypeIPv4), ipUDPOpts, udp(ipUDPOpts, "odd"))},
		{"tcp_syn", join(eth(layers.EthernetTypeIPv4), ipTCP, tcp(ipTCP, TCPFlagSYN, synOpts, ""))},
		{"tcp_ack_sack", join(eth(layers.EthernetTypeIPv4), ipTCPOpts, tcp(ipTCPOpts, TCPFlagACK|TCPFlagPSH, ackOpts, "GET / HTTP/1.1\r\n\r\n"))},
		{"icmp_echo", join(eth(layers.EthernetTypeIPv4), ipICMP, icmp(ICMPv4Echo, 0, "abcdefghijklmnopqrstuvwabcdefghi"))},
		{"icmp_port_unreachable", join(eth(layers.EthernetTypeIPv4), ipICMP, icmp(ICMPv4DstUnreachable, ICMPv4PortUnreachable, "\x45\x00\x00\x1c\x00\x00\x00\x00\x40\x11\x00\x00\xc0\x00\x02\x02\xc0\x00\x02\x01\x9c\x40\x00\x35\x00\x08\x00\x00"))},
		{"arp_request", join(eth(layers.EthernetTypeARP), arp(ARPRequest))},
		{"arp_reply", join(eth(layers.EthernetTypeARP), arp(ARPReply))},
	}

	var out []seedPacket
	for _, fr := range frames {
		b := serialize(t, fr.layers...)
		if len(b) < 60 {
			b = append(b, make([]byte, 60-len(b))...) // minimum frame with link padding
		}
		out = append(out, seedPacket{"FuzzEthernet", fr.name, b})
		e := Ethernet(b)
		if e.Type() == EtherTypeARP {
			out = append(out, seedPacket{"FuzzARP", fr.name, e.Payload()})
			continue
		}
		h := IPv4(e.Payload())
		if !h.IsValid(len(h)) {
			t.Fatalf("%s: invalid IPv4 seed", fr.name)
		}
		out = append(out, seedPacket{"FuzzIPv4", fr.name, e.Payload()})
		switch h.Protocol() {
		case 1:
			out = append(out, seedPacket{"FuzzICMPv4", fr.name, h.Payload()})
		case 6:
			out = append(out, seedPacket{"FuzzTCP", fr.name, h.Payload()})
			out = append(out, seedPacket{"FuzzTCPOptions", fr.name, TCP(h.Payload()).Options()})
		case 17:
			out = append(out, seedPacket{"FuzzUDP", fr.name, h.Payload()})
		}
	}
	out = append(out,
		seedPacket{"FuzzEthernet", "vlan", append(bytes.Clone([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0, 5, 0x08, 0x00}), make([]byte, 42)...)},
		seedPacket{"FuzzTCPOptions", "sack4", sack4},
		seedPacket{"FuzzTCPOptions", "mptcp_capable", []byte{30, 12, 0x01, 0x81, 1, 2, 3, 4, 5, 6, 7, 8}},
		seedPacket{"FuzzTCPOptions", "bad_mss_length", []byte{2, 3, 5, 1}},
		seedPacket{"FuzzIPv4", "bad_option_length", func() []byte {
			b := make([]byte, 24)
			EncodeIPv4(b, IPv4Fields{TotalLength: 24, TTL: 1, Options: []byte{IPv4OptionRR, 9, 0, 0}})
			return b
		}()},
	)
	return out
}

// seedFrames returns the Ethernet seed frames.
func seedFrames(t testing.TB) [][]byte {
	var out [][]byte
	for _, p := range seedPackets(t) {
		if p.target == "FuzzEthernet" {
			out = append(out, p.data)
		}
	}
	return out
}

// corpusFile renders b in the "go test fuzz v1" format of a []byte target.
func corpusFile(b []byte) string {
	return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
}

// TestFuzzCorpus checks that the committed seed corpora match what the seed
// builder produces, and rewrites them with -update-corpus.
func TestFuzzCorpus(t *testing.T) {
	for _, p := range seedPackets(t) {
		path := filepath.Join("testdata", "fuzz", p.target, p.name)
		want := corpusFile(p.data)
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run with -update-corpus)", err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s is stale (run with -update-corpus)", path)
		}
	}
	for _, target := range []string{"FuzzEthernet", "FuzzARP", "FuzzIPv4", "FuzzICMPv4", "FuzzUDP", "FuzzTCP", "FuzzTCPOptions"} {
		entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
		if err != nil || len(entries) == 0 {
			t.Errorf("%s: no seed corpus (%v)", target, err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("testdata", "fuzz", target, e.Name()))
			if err != nil || !strings.HasPrefix(string(b), "go test fuzz v1\n") {
				t.Errorf("%s/%s: not a corpus file (%v)", target, e.Name(), err)
			}
		}
	}
}
