package header

import "testing"

// sink keeps results alive so the compiler cannot drop the calls measured
// below.
var sink uint64

func TestZeroAllocs(t *testing.T) {
	var frames [][]byte
	for _, p := range seedPackets(t) {
		if p.target == "FuzzEthernet" {
			frames = append(frames, p.data)
		}
	}
	malformedIPv4Opts := []byte{IPv4OptionRR, 9, 0, 0}
	malformedTCPOpts := []byte{TCPOptionMSS, 3, 0, 0}
	buf := make([]byte, 1500)

	tests := []struct {
		name string
		fn   func()
	}{
		{"ethernet and arp", func() {
			for _, f := range frames {
				e := Ethernet(f)
				if !e.IsValid() {
					continue
				}
				sink += uint64(e.Type()) + uint64(e.Dst()[0]) + uint64(e.Src()[5]) + uint64(len(e.Payload()))
				if e.Dst().IsBroadcast() || e.Dst().IsMulticast() {
					sink++
				}
				if a := ARP(e.Payload()); a.IsValid() {
					sip, tip := a.SenderIP(), a.TargetIP()
					sink += uint64(a.Op()) + uint64(a.SenderMAC()[0]) + uint64(a.TargetMAC()[0]) + uint64(sip[0]) + uint64(tip[3])
				}
			}
		}},
		{"ipv4 and transports", func() {
			for _, f := range frames {
				h := IPv4(Ethernet(f).Payload())
				if h.Validate(len(h)) != IPv4OK || !h.IsChecksumValid() {
					continue
				}
				src, dst := h.Src(), h.Dst()
				sink += uint64(h.TOS()) + uint64(h.ID()) + uint64(h.Flags()) + uint64(h.FragmentOffset()) +
					uint64(h.TTL()) + uint64(h.HeaderChecksum()) + uint64(h.CalculateChecksum()) +
					uint64(len(h.Options())) + uint64(src[0]) + uint64(dst[0])
				if h.IsFragment() || h.More() {
					sink++
				}
				_ = ParseIPv4Options(h.Options(), func(typ byte, data []byte) bool {
					sink += uint64(typ) + uint64(len(data))
					return true
				})
				switch p := h.Payload(); h.Protocol() {
				case 1:
					m := ICMPv4(p)
					if m.IsValid() && m.IsChecksumValid() {
						sink += uint64(m.Type()) + uint64(m.Code()) + uint64(m.Ident()) + uint64(m.Sequence()) + uint64(len(m.Payload()))
					}
				case 6:
					s := TCP(p)
					if s.IsValid() && s.IsChecksumValid(src, dst) {
						var o TCPOptions
						_ = ParseTCPOptions(s.Options(), &o)
						sink += uint64(s.Seq()) + uint64(s.Ack()) + uint64(s.Flags()) + uint64(s.Window()) + uint64(TCPChecksum(s, src, dst)) +
							uint64(s.SrcPort()) + uint64(s.DstPort()) + uint64(s.Urgent()) + uint64(len(s.Payload())) + uint64(o.MSS)
					}
				case 17:
					u := UDP(p)
					if u.IsValid() && u.IsChecksumValid(src, dst) {
						sink += uint64(u.SrcPort()) + uint64(u.DstPort()) + uint64(UDPChecksum(u, src, dst)) + uint64(len(u.Payload()))
					}
				}
			}
		}},
		{"malformed options", func() {
			var o TCPOptions
			if ParseTCPOptions(malformedTCPOpts, &o) != nil {
				sink++
			}
			if ParseIPv4Options(malformedIPv4Opts, func(byte, []byte) bool { return true }) != nil {
				sink++
			}
			if IPv4(malformedTCPOpts).Validate(4) != IPv4OK {
				sink++
			}
		}},
		{"checksum", func() {
			s := Checksum(buf, 0)
			s = ChecksumCombine(s, PseudoHeaderChecksum(6, [4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 1500))
			sink += uint64(ChecksumUpdate16(s, 1, 2))
		}},
		{"encoders", func() {
			EncodeEthernet(buf, BroadcastMAC, MAC{2}, EtherTypeIPv4)
			EncodeARP(buf, ARPRequest, MAC{2}, [4]byte{1}, MAC{}, [4]byte{2})
			hl := EncodeIPv4(buf, IPv4Fields{TotalLength: 40, TTL: 64, Protocol: 6, Options: malformedIPv4Opts})
			var ob [40]byte
			n := EncodeTCPOptions(ob[:], TCPOptions{HasMSS: true, MSS: 1460, HasTS: true, NumSACK: 1})
			hl += EncodeTCP(buf[hl:], TCPFields{Flags: TCPFlagSYN, Options: ob[:n]})
			EncodeUDP(buf, 1, 2, 8)
			EncodeICMPv4(buf, ICMPv4Echo, 0, 1)
			sink += uint64(hl)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
		})
	}
}
