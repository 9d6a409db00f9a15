package traffic

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/stack/header"
)

func testOptions() Options {
	return Options{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddrPort("10.99.0.1:9000"), Dst: netip.MustParseAddrPort("10.99.0.2:9001"),
	}
}

func TestFrameAndStamp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frame  int
		flows  int
		seq    uint64
		wantSP uint16
	}{
		{"minimum, one flow", 60, 0, 7, 9000},
		{"flows cycle the source port", 60, 4, 7, 9003},
		{"full MTU", FrameLenForPayload(1472), 16, 33, 9001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			o.FrameLen, o.Flows = tc.frame, tc.flows
			f, err := Frame(o)
			if err != nil {
				t.Fatal(err)
			}
			Stamp(f, o, tc.seq)
			p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			if el := p.ErrorLayer(); el != nil {
				t.Fatalf("decode: %v", el.Error())
			}
			ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if len(f) != tc.frame || int(ip.Length) != tc.frame-14 || int(udp.Length) != tc.frame-34 {
				t.Errorf("lengths: frame %d, ip %d, udp %d", len(f), ip.Length, udp.Length)
			}
			if uint16(udp.SrcPort) != tc.wantSP || udp.DstPort != 9001 || udp.Checksum != 0 {
				t.Errorf("udp %d -> %d checksum %#x", udp.SrcPort, udp.DstPort, udp.Checksum)
			}
			if got := binary.BigEndian.Uint64(udp.Payload); got != tc.seq {
				t.Errorf("sequence %d, want %d", got, tc.seq)
			}
			// The IPv4 header checksum is unaffected by the stamping.
			if !header.IPv4(f[14:]).IsChecksumValid() {
				t.Error("bad IPv4 header checksum")
			}
		})
	}
}

func TestFrameErrors(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"too short":      func(o *Options) { o.FrameLen = 49 },
		"too long":       func(o *Options) { o.FrameLen = 1515 },
		"ipv6":           func(o *Options) { o.Dst = netip.MustParseAddrPort("[::1]:1") },
		"ports overflow": func(o *Options) { o.Src = netip.MustParseAddrPort("10.0.0.1:65535"); o.Flows = 2 },
		"negative flows": func(o *Options) { o.Flows = -1 },
	} {
		o := testOptions()
		mod(&o)
		if _, err := Frame(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if FrameLenForPayload(0) != 60 || FrameLenForPayload(512) != 554 {
		t.Error("FrameLenForPayload")
	}
}
