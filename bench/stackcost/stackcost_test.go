package stackcost

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/stack/header"
)

func TestMeasure(t *testing.T) {
	frames, err := FrameSet(1024, 60, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		new  func() (Sink, error)
	}{
		{"rxpath", NewRxpath},
		{"gvisor", NewGVisor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reps, err := Measure(frames, tc.new, Options{Packets: 20000, Reps: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 2 {
				t.Fatalf("got %d reps, want 2", len(reps))
			}
			for _, r := range reps {
				if r.Delivered != r.Packets || r.Packets < 20000 {
					t.Errorf("rep %+v: want every replayed packet delivered", r)
				}
				t.Logf("%s: %.1f ns/pkt, %.1f CPU ns/pkt, %.2f allocs/pkt", tc.name, r.NSPerPacket(), r.CPUNSPerPacket(), r.AllocsPerPacket())
			}
		})
	}
}

var tcpSinks = []struct {
	name string
	new  func(*Feed) (TCPSink, error)
}{
	{"rxpath", NewRxpathTCP},
	{"rxpath-handler", NewRxpathTCPHandler},
	{"gvisor", NewGVisorTCP},
}

// TestMeasureTCP streams through each stack and checks that every byte
// reached the application and that the stacks acknowledged.
func TestMeasureTCP(t *testing.T) {
	for _, tc := range tcpSinks {
		t.Run(tc.name, func(t *testing.T) {
			reps, err := MeasureTCP(tc.new, Options{Packets: 5000, Reps: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 2 {
				t.Fatalf("got %d reps, want 2", len(reps))
			}
			for _, r := range reps {
				if r.Packets < 5000 || r.Packets%passFrames != 0 || r.Delivered != r.Packets || r.DeliveredBytes != r.Packets*SegmentPayload {
					t.Errorf("rep %+v: want whole passes, every byte read", r)
				}
				if r.TxFrames == 0 || r.ElapsedNS <= 0 {
					t.Errorf("rep %+v: no ACK sent, or no time measured", r)
				}
				t.Logf("%s: %.1f ns/seg, %.1f CPU ns/seg, %.2f allocs/seg, %.2f frames sent/seg",
					tc.name, r.NSPerPacket(), r.CPUNSPerPacket(), r.AllocsPerPacket(), float64(r.TxFrames)/float64(r.Packets))
			}
		})
	}
}

// TestStamp checks the data frames against gopacket's decoding: the
// sequence numbers advance by the payload, the timestamp by one per
// pass, and the incrementally updated checksums are right.
func TestStamp(t *testing.T) {
	st, err := newStream(0xfffff000, 77) // the stack's ISN near the wrap
	if err != nil {
		t.Fatal(err)
	}
	st.seq = 0xffffffff - 3*SegmentPayload // and ours wraps within the pass
	src, dst := Src.Addr().As4(), Dst.Addr().As4()
	for pass := range 3 {
		seq := st.seq
		frames := st.stamp(8)
		for i, f := range frames {
			pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			tl, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !ok || pkt.ErrorLayer() != nil {
				t.Fatalf("pass %d frame %d does not decode: %v", pass, i, pkt.ErrorLayer())
			}
			want := seq + uint32(i*SegmentPayload)
			if tl.Seq != want || tl.Ack != 0xfffff001 || len(tl.Payload) != SegmentPayload || !tl.ACK || tl.SYN || tl.FIN {
				t.Errorf("pass %d frame %d: seq %d ack %d payload %d, want seq %d ack %d payload %d", pass, i, tl.Seq, tl.Ack, len(tl.Payload), want, 0xfffff001, SegmentPayload)
			}
			var ts uint32
			for _, o := range tl.Options {
				if o.OptionType == layers.TCPOptionKindTimestamps {
					ts = binary.BigEndian.Uint32(o.OptionData)
				}
			}
			if ts != peerTS+2+uint32(pass) {
				t.Errorf("pass %d frame %d: TSval %d, want %d", pass, i, ts, peerTS+2+pass)
			}
			if !header.TCP(f[offTCP:]).IsChecksumValid(src, dst) {
				t.Errorf("pass %d frame %d: bad TCP checksum %#04x", pass, i, tl.Checksum)
			}
		}
	}
}

func TestCsumAdjust(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 64)
	sum := func() uint16 { return header.TCPChecksum(header.TCP(b), [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}) }
	for range 10000 {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		b[12] = 5 << 4 // a valid data offset
		old := binary.BigEndian.Uint32(b[4:])
		c := sum()
		v := r.Uint32()
		switch r.IntN(4) { // the edges: all ones, zero, unchanged
		case 0:
			v = 0xffffffff
		case 1:
			v = 0
		case 2:
			v = old
		}
		binary.BigEndian.PutUint32(b[4:], v)
		if got, want := csumAdjust(c, old, v), sum(); got != want && !(got^want == 0xffff && (got == 0 || want == 0)) {
			t.Fatalf("csumAdjust(%#04x, %#08x, %#08x) = %#04x, want %#04x", c, old, v, got, want)
		}
	}
}

func TestParseSYNACK(t *testing.T) {
	arp, err := serialize(&layers.Ethernet{SrcMAC: DstMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: DstMAC, SourceProtAddress: Dst.Addr().AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: Dst.Addr().AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := parseSYNACK(arp); ok || err != nil {
		t.Errorf("an ARP frame: ok %v err %v, want skipped", ok, err)
	}
	synack := func(ack uint32, opts ...layers.TCPOption) []byte {
		f, err := segment(&layers.TCP{Seq: 42, Ack: ack, SYN: true, ACK: true, Window: 65535, Options: opts}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if isn, ts, ok, err := parseSYNACK(synack(peerISN+1, tsOption(9, peerTS))); !ok || err != nil || isn != 42 || ts != 9 {
		t.Errorf("SYN-ACK: isn %d ts %d ok %v err %v", isn, ts, ok, err)
	}
	if _, _, _, err := parseSYNACK(synack(7, tsOption(9, peerTS))); err == nil {
		t.Error("a SYN-ACK acking the wrong sequence number was accepted")
	}
	if _, _, _, err := parseSYNACK(synack(peerISN + 1)); err == nil {
		t.Error("a SYN-ACK without timestamps was accepted")
	}
}

// BenchmarkStackTCP is one in-order segment through each stack per
// iteration, in passes of 1024, read by the application.
func BenchmarkStackTCP(b *testing.B) {
	for _, tc := range tcpSinks {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			reps, err := MeasureTCP(tc.new, Options{Packets: uint64(max(b.N, 1)), Reps: 1})
			if err != nil {
				b.Fatal(err)
			}
			r := reps[0]
			b.ReportMetric(r.NSPerPacket(), "wall-ns/seg")
			b.ReportMetric(r.CPUNSPerPacket(), "cpu-ns/seg")
			b.ReportMetric(r.AllocsPerPacket(), "allocs/seg")
		})
	}
}
