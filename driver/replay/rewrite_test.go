package replay_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/replay"
)

var (
	stackMAC = net.HardwareAddr{0x02, 0x52, 0x58, 0, 0, 0x01}
	peerMAC  = net.HardwareAddr{0x02, 0x52, 0x58, 0, 0, 0x02}
	stackIP  = netip.MustParseAddr("10.99.0.1")
)

// rewritten plays frames through a queue with rw and returns the queue's
// copies.
func rewritten(t *testing.T, rw *replay.Rewrite, frames ...[]byte) ([][]byte, *replay.Queue) {
	t.Helper()
	pkts := make([]replay.Packet, len(frames))
	for i, f := range frames {
		pkts[i] = replay.Packet{Data: f, Time: t0}
	}
	q := replay.New(pkts, replay.Options{Rewrite: rw})
	t.Cleanup(func() { q.Close() })
	fr := make([]driver.Frame, len(frames))
	if k := q.Receive(fr); k != len(frames) {
		t.Fatalf("Receive = %d, want %d", k, len(frames))
	}
	out := make([][]byte, len(frames))
	for i := range fr {
		out[i] = bytes.Clone(fr[i].Data)
	}
	q.Release(fr)
	return out, q
}

// reserialized decodes frame with gopacket and serializes its layers again
// with ComputeChecksums, an independent computation of every checksum.
func reserialized(t *testing.T, frame []byte) []byte {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	var ls []gopacket.SerializableLayer
	var ip *layers.IPv4
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			ip = l
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(ip)
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(ip)
		}
		sl, ok := l.(gopacket.SerializableLayer)
		if !ok {
			t.Fatalf("layer %v is not serializable", l.LayerType())
		}
		ls = append(ls, sl)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func ipv4At(frame []byte) []byte {
	if binary.BigEndian.Uint16(frame[12:]) == 0x8100 {
		return frame[18:]
	}
	return frame[14:]
}

func TestRewrite(t *testing.T) {
	rw := &replay.Rewrite{DstMAC: stackMAC, SrcMAC: peerMAC, DstIP: stackIP}
	big := bytes.Repeat([]byte("rxpath"), 40)
	for _, tc := range []struct {
		name        string
		spec        frameSpec
		reserialize bool // gopacket can recompute every checksum of the frame
		l4Whole     bool // the frame carries the whole datagram
		zeroUDP     bool
	}{
		{"udp", frameSpec{proto: layers.IPProtocolUDP, payload: []byte("hello")}, true, true, false},
		{"udp-odd-length", frameSpec{proto: layers.IPProtocolUDP, payload: []byte("hello!!")}, true, true, false},
		{"udp-zero-checksum", frameSpec{proto: layers.IPProtocolUDP, payload: []byte("no checksum"), zeroUDP: true}, false, true, true},
		{"tcp", frameSpec{proto: layers.IPProtocolTCP, payload: []byte("GET / HTTP/1.0\r\n\r\n")}, true, true, false},
		{"tcp-syn", frameSpec{proto: layers.IPProtocolTCP, tcpFlags: func(tc *layers.TCP) { tc.SYN, tc.ACK, tc.PSH = true, false, false }}, true, true, false},
		{"vlan-udp", frameSpec{proto: layers.IPProtocolUDP, vlan: true, payload: []byte("tagged")}, true, true, false},
		{"vlan-tcp", frameSpec{proto: layers.IPProtocolTCP, vlan: true, payload: big}, true, true, false},
		// The first fragment carries the UDP header, whose checksum
		// covers the whole datagram: it must still be updated.
		{"udp-first-fragment", frameSpec{proto: layers.IPProtocolUDP, flags: layers.IPv4MoreFragments, payload: big}, false, false, false},
		{"udp-later-fragment", frameSpec{proto: layers.IPProtocolUDP, fragOff: 4, payload: big}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := craft(t, tc.spec)
			checkIPv4(t, orig, tc.l4Whole)
			out, q := rewritten(t, rw, orig)
			got := out[0]
			if c := q.Counters(); c.Rewritten != 1 {
				t.Errorf("Rewritten = %d, want 1", c.Rewritten)
			}
			if !bytes.Equal(got[0:6], stackMAC) || !bytes.Equal(got[6:12], peerMAC) {
				t.Errorf("MACs %x, want %x %x", got[:12], stackMAC, peerMAC)
			}
			ip := ipv4At(got)
			if dst, _ := netip.AddrFromSlice(ip[16:20]); dst != stackIP {
				t.Errorf("IPv4 destination %v, want %v", dst, stackIP)
			}
			if src, _ := netip.AddrFromSlice(ip[12:16]); src != ipA {
				t.Errorf("IPv4 source %v changed", src)
			}
			csum := checkIPv4(t, got, tc.l4Whole)
			if tc.zeroUDP && csum != 0 {
				t.Errorf("zero UDP checksum became %#04x", csum)
			}
			if tc.reserialize {
				if want := reserialized(t, got); !bytes.Equal(got, want) {
					t.Errorf("checksums differ from gopacket's:\n got %x\nwant %x", got, want)
				}
			}
			// Only the addresses and checksums may change.
			oip, ihl := ipv4At(orig), int(ipv4At(orig)[0]&0xf)*4
			diff := func(a, b []byte) bool { return !bytes.Equal(a, b) }
			if diff(oip[:10], ip[:10]) || diff(oip[12:16], ip[12:16]) || len(orig) != len(got) {
				t.Error("rewrite changed IPv4 header fields other than the destination and checksum")
			}
			l4, ol4 := ip[ihl:], oip[ihl:]
			switch {
			case tc.spec.fragOff != 0:
				if diff(l4, ol4) {
					t.Error("rewrite touched the payload of a later fragment")
				}
				// It must still be the header's checksum that was
				// fixed: the bytes where a UDP checksum would be
				// are payload.
			case tc.spec.proto == layers.IPProtocolUDP:
				if diff(l4[:6], ol4[:6]) || diff(l4[8:], ol4[8:]) {
					t.Error("rewrite changed UDP bytes other than the checksum")
				}
			case tc.spec.proto == layers.IPProtocolTCP:
				if diff(l4[:16], ol4[:16]) || diff(l4[18:], ol4[18:]) {
					t.Error("rewrite changed TCP bytes other than the checksum")
				}
			}
		})
	}
}

// The first fragment's UDP checksum covers the whole datagram; rewriting
// the first fragment and checking the reassembled datagram proves the
// incremental update.
func TestRewriteFragmentedDatagram(t *testing.T) {
	payload := bytes.Repeat([]byte{0xab, 0xcd, 0x12}, 100)
	whole := craft(t, frameSpec{proto: layers.IPProtocolUDP, payload: payload})
	ip := ipv4At(whole)
	udp := ip[20:] // 8 header bytes + 300 payload bytes
	// Split the datagram at 8+152 = 160 bytes (20 units of 8).
	first := append(bytes.Clone(whole[:14+20]), udp[:160]...)
	later := append(bytes.Clone(whole[:14+20]), udp[160:]...)
	fixIP := func(f []byte, flags, off uint16) {
		h := f[14:34]
		binary.BigEndian.PutUint16(h[2:], uint16(len(f)-14))
		binary.BigEndian.PutUint16(h[6:], flags<<13|off)
		binary.BigEndian.PutUint16(h[10:], 0)
		binary.BigEndian.PutUint16(h[10:], ^uint16(sum16(h, 0)))
	}
	fixIP(first, 1, 0) // MF
	fixIP(later, 0, 20)
	out, _ := rewritten(t, &replay.Rewrite{DstIP: stackIP}, first, later)
	for i, f := range out {
		checkIPv4(t, f, false)
		if !bytes.Equal(f[:12], whole[:12]) {
			t.Errorf("fragment %d: MACs changed without DstMAC/SrcMAC", i)
		}
	}
	// Reassemble and verify the UDP checksum over the whole datagram.
	re := append(bytes.Clone(out[0][:14+20]), out[0][34:]...)
	re = append(re, out[1][34:]...)
	h := re[14:34]
	binary.BigEndian.PutUint16(h[2:], uint16(len(re)-14))
	binary.BigEndian.PutUint16(h[6:], 0)
	binary.BigEndian.PutUint16(h[10:], 0)
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum16(h, 0)))
	if csum := checkIPv4(t, re, true); csum == 0 {
		t.Error("reassembled datagram lost its UDP checksum")
	}
	if got := reserialized(t, re); !bytes.Equal(got, re) {
		t.Errorf("reassembled datagram's checksums differ from gopacket's")
	}
}

func TestRewriteLeavesOthersAlone(t *testing.T) {
	arp := func() []byte {
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
		a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ipA.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: ipB.AsSlice()}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, a); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	udp := craft(t, frameSpec{proto: layers.IPProtocolUDP, payload: []byte("x")})
	short := []byte{1, 2, 3, 4, 5}
	truncated := udp[:14+20+4] // snap length cut the UDP header
	for _, tc := range []struct {
		name      string
		rw        *replay.Rewrite
		in        []byte
		want      func([]byte) []byte
		rewritten uint64
	}{
		{"arp-ip-only", &replay.Rewrite{DstIP: stackIP}, arp, bytes.Clone, 0},
		{"arp-mac", &replay.Rewrite{DstMAC: stackMAC, DstIP: stackIP}, arp, func(b []byte) []byte {
			b = bytes.Clone(b)
			copy(b, stackMAC)
			return b
		}, 0},
		{"udp-mac-only", &replay.Rewrite{DstMAC: stackMAC}, udp, func(b []byte) []byte {
			b = bytes.Clone(b)
			copy(b, stackMAC)
			return b
		}, 0},
		{"same-ip", &replay.Rewrite{DstIP: ipB}, udp, bytes.Clone, 1},
		{"short-frame", &replay.Rewrite{DstMAC: stackMAC, DstIP: stackIP}, short, bytes.Clone, 0},
		{"nil-rewrite", nil, udp, bytes.Clone, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, q := rewritten(t, tc.rw, tc.in)
			if want := tc.want(tc.in); !bytes.Equal(out[0], want) {
				t.Errorf("got  %x\nwant %x", out[0], want)
			}
			if c := q.Counters(); c.Rewritten != tc.rewritten {
				t.Errorf("Rewritten = %d, want %d", c.Rewritten, tc.rewritten)
			}
		})
	}
	t.Run("truncated-udp", func(t *testing.T) {
		out, _ := rewritten(t, &replay.Rewrite{DstIP: stackIP}, truncated)
		checkIPv4(t, out[0], false)
		if !bytes.Equal(out[0][34:], truncated[34:]) {
			t.Error("rewrite touched a cut-off UDP header")
		}
	})
	t.Run("source-untouched", func(t *testing.T) {
		in := bytes.Clone(udp)
		rewritten(t, &replay.Rewrite{DstMAC: stackMAC, DstIP: stackIP}, in)
		if !bytes.Equal(in, udp) {
			t.Error("New modified the caller's packets")
		}
	})
}

// A UDP checksum whose update comes out as zero must be sent as 0xffff
// (RFC 768), since zero means "no checksum".
func TestRewriteUDPChecksumNeverZero(t *testing.T) {
	// Find the source port for which the datagram, addressed to stackIP,
	// sums to all ones, so that its checksum computes as zero.
	probe := craft(t, frameSpec{proto: layers.IPProtocolUDP, payload: []byte("zz"), dst: stackIP})
	ip := ipv4At(probe)
	seg := ip[20:binary.BigEndian.Uint16(ip[2:])] // without Ethernet padding
	binary.BigEndian.PutUint16(seg[6:], 0)
	port := -1
	for p := 1; p < 65536; p++ {
		binary.BigEndian.PutUint16(seg[0:], uint16(p))
		if sum16(seg, sum16(ip[12:20], 0)+17+uint32(len(seg))) == 0xffff {
			port = p
			break
		}
	}
	if port < 0 {
		t.Fatal("no source port makes the checksum compute as zero")
	}
	orig := craft(t, frameSpec{proto: layers.IPProtocolUDP, payload: []byte("zz"), srcPort: uint16(port)})
	out, _ := rewritten(t, &replay.Rewrite{DstIP: stackIP}, orig)
	if c := binary.BigEndian.Uint16(ipv4At(out[0])[26:]); c != 0xffff {
		t.Errorf("rewritten UDP checksum %#04x, want 0xffff", c)
	}
	checkIPv4(t, out[0], true)
	if want := reserialized(t, out[0]); !bytes.Equal(out[0], want) {
		t.Errorf("differs from gopacket's serialization:\n got %x\nwant %x", out[0], want)
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add(craft(f, frameSpec{proto: layers.IPProtocolUDP, payload: []byte("seed")}), []byte{10, 0, 0, 1})
	f.Add(craft(f, frameSpec{proto: layers.IPProtocolTCP, vlan: true, payload: []byte("seed")}), []byte{255, 255, 255, 255})
	f.Add(craft(f, frameSpec{proto: layers.IPProtocolUDP, zeroUDP: true}), []byte{0, 0, 0, 0})
	f.Add(craft(f, frameSpec{proto: layers.IPProtocolUDP, fragOff: 3, payload: []byte("later")}), []byte{1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, frame, dst []byte) {
		if len(dst) != 4 {
			return
		}
		rw := &replay.Rewrite{DstIP: netip.AddrFrom4([4]byte(dst)), DstMAC: stackMAC}
		headerOK, l4OK, l4Zero := verifies(frame)
		out, _ := rewritten(t, rw, frame)
		if len(out[0]) != len(frame) {
			t.Fatal("length changed")
		}
		h2, l2, z2 := verifies(out[0])
		if headerOK && !h2 {
			t.Error("a verifying IPv4 header checksum stopped verifying")
		}
		if l4OK && !l2 {
			t.Error("a verifying transport checksum stopped verifying")
		}
		if l4Zero != z2 {
			t.Errorf("zero UDP checksum: before %v, after %v", l4Zero, z2)
		}
	})
}

// verifies reports whether frame's IPv4 header checksum and its complete
// UDP or TCP checksum verify, and whether it is UDP without checksum.
func verifies(frame []byte) (header, l4, udpZero bool) {
	if len(frame) < 14 {
		return
	}
	off := 12
	for n := 0; n < 2 && len(frame) >= off+6; n++ {
		if et := binary.BigEndian.Uint16(frame[off:]); et != 0x8100 && et != 0x88a8 && et != 0x9100 {
			break
		}
		off += 4
	}
	if len(frame) < off+2 || binary.BigEndian.Uint16(frame[off:]) != 0x0800 {
		return
	}
	ip := frame[off+2:]
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return
	}
	ihl := int(ip[0]&0xf) * 4
	if ihl < 20 || len(ip) < ihl {
		return
	}
	header = sum16(ip[:ihl], 0) == 0xffff
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 || total < ihl || total > len(ip) {
		return
	}
	seg := ip[ihl:total]
	pseudo := sum16(ip[12:20], 0) + uint32(ip[9]) + uint32(len(seg))
	switch {
	case ip[9] == 17 && len(seg) >= 8:
		if binary.BigEndian.Uint16(seg[6:]) == 0 {
			return header, false, true
		}
	case ip[9] == 6 && len(seg) >= 20:
	default:
		return
	}
	return header, sum16(seg, pseudo) == 0xffff, false
}
