package udp_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/channel"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/ipv4/fragment"
	"github.com/rxpath/rxpath/stack/udp"
)

// frames encodes a frame sequence as the fuzz input: each frame behind a
// 2-byte big-endian length.
func frames(fs ...[]byte) []byte {
	var b []byte
	for _, f := range fs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func seedFrames(t *testing.T) map[string][]byte {
	e := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: typ}
	}
	ip := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Id: 9, Protocol: p, SrcIP: peerIP.AsSlice(), DstIP: ourIP.AsSlice()}
	}
	echo := labtest.Serialize(t, e(layers.EthernetTypeIPv4), ip(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1}, gopacket.Payload("abcdefgh"))
	arp := labtest.Serialize(t, &layers.Ethernet{SrcMAC: peerMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: peerMAC, SourceProtAddress: peerIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: ourIP.AsSlice()})
	f1 := ip(layers.IPProtocolUDP)
	f1.Flags = layers.IPv4MoreFragments
	f2 := ip(layers.IPProtocolUDP)
	f2.FragOffset = 2
	whole := make([]byte, 32) // a UDP header without checksum, then 24 bytes
	binary.BigEndian.PutUint16(whole[0:], 7)
	binary.BigEndian.PutUint16(whole[2:], 9000)
	binary.BigEndian.PutUint16(whole[4:], 32)
	return map[string][]byte{
		"udp":       frames(udpFrame(t, 1, 9000, []byte("0123456789")), udpFrame(t, 1, 9001, []byte("x"))),
		"arp-echo":  frames(arp, echo),
		"fragments": frames(labtest.Serialize(t, e(layers.EthernetTypeIPv4), f1, gopacket.Payload(whole[:16])), labtest.Serialize(t, e(layers.EthernetTypeIPv4), f2, gopacket.Payload(whole[16:]))),
		"closed":    frames(udpFrame(t, 1, 9999, nil)),
	}
}

// TestFuzzStackCorpus writes the committed seed corpus when
// RXPATH_UPDATE_CORPUS is set, and otherwise checks it exists.
func TestFuzzStackCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStack")
	for name, b := range seedFrames(t) {
		path := filepath.Join(dir, name)
		if os.Getenv("RXPATH_UPDATE_CORPUS") != "" {
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(path, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if _, err := os.Stat(path); err != nil {
			t.Fatalf("seed %s missing (regenerate with RXPATH_UPDATE_CORPUS=1): %v", name, err)
		}
	}
}

// FuzzStack feeds frame sequences through a channel driver and the real
// poller into the whole stack (link, ARP, IPv4 with reassembly, ICMP, UDP
// in queue and handler mode) with a fake clock. It must never panic, every
// frame must come back to the driver, reassembly memory must stay under
// its cap, and the layers' counters must agree.
func FuzzStack(f *testing.F) {
	for _, b := range seedFrames(&testing.T{}) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		now := time.Unix(1e9, 0)
		clock := func() time.Time { return now }
		s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}, Clock: clock, ARPCacheSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		const high = 64 << 10
		ip := ipv4.New(s, ipv4.Options{Reassembly: fragment.Options{HighBytes: high, LowBytes: high / 2, Timeout: time.Second, Clock: clock}})
		u := udp.New(ip, udp.Options{PortUnreachable: true, RcvBuf: 4096})
		qc, _ := u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000), udp.SocketOptions{})
		hc, _ := u.Listen(netip.AddrPortFrom(ourIP, 9001), udp.SocketOptions{})
		var handled uint64
		hc.SetHandler(func(d udp.Datagram) { handled++; _ = d.Payload[len(d.Payload):] })
		q := channel.New(0, 64, 256)
		rxpath.AttachQueues(s, q)
		p := poller.New(q, rxpath.StackHandler(s), poller.Options{})
		var injected uint64
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			n = min(n, len(in))
			q.Inject(in[:n])
			injected++
			in = in[n:]
			now = now.Add(100 * time.Millisecond)
			for p.Poll() > 0 {
			}
			if b := ip.Stats().Reassembly.Bytes; b > high {
				t.Fatalf("reassembly holds %d bytes, cap %d", b, high)
			}
		}
		if err := q.Check(); err != nil {
			t.Fatal(err)
		}
		ls, is, us := s.Stats(), ip.Stats(), u.Stats()
		if ls.Frames != injected {
			t.Fatalf("link layer saw %d frames, %d injected", ls.Frames, injected)
		}
		if is.Delivered > is.Received || us.InDatagrams+us.NoPorts+us.InErrors > is.Delivered {
			t.Fatalf("counters disagree: ipv4 %+v udp %+v", is, us)
		}
		if us.InDatagrams != qc.Stats().Received+handled {
			t.Fatalf("udp delivered %d, sockets got %d+%d", us.InDatagrams, qc.Stats().Received, handled)
		}
		now = now.Add(time.Minute)
		ip.Expire()
		if st := ip.Stats().Reassembly; st.Bytes != 0 || st.Datagrams != 0 {
			t.Fatalf("reassembly after expiry: %+v", st)
		}
		qc.Close()
		hc.Close()
	})
}
