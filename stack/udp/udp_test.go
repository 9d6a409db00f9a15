package udp_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/channel"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/udp"
)

var (
	ourMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	peerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	ourIP   = netip.MustParseAddr("10.99.0.2")
	peerIP  = netip.MustParseAddr("10.99.0.1")
)

// rig is a stack on a channel driver, driven by a real poller.
type rig struct {
	q  *channel.Queue
	s  *stack.Stack
	ip *ipv4.IPv4
	u  *udp.UDP
	p  *poller.Poller
}

func newRig(t *testing.T, uo udp.Options) *rig {
	t.Helper()
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{q: channel.New(0, 256, 1024), s: s}
	r.ip = ipv4.New(s, ipv4.Options{})
	r.u = udp.New(r.ip, uo)
	rxpath.AttachQueues(s, r.q)
	// Drain the gratuitous ARP.
	if f, ok := r.q.ReadOutbound(time.Second); !ok || len(f) < 42 {
		t.Fatal("no gratuitous ARP at attach")
	}
	r.p = poller.New(r.q, rxpath.StackHandler(s), poller.Options{IdleSpin: time.Microsecond, PollTimeout: 10 * time.Millisecond})
	if err := r.p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.p.Stop()
		r.q.Close()
		if err := r.q.Check(); err != nil {
			t.Errorf("ledger: %v", err)
		}
	})
	return r
}

// learnPeer has the peer ask for our address, as a kernel would before
// sending, so the stack learns the peer's MAC; it consumes our reply.
func (r *rig) learnPeer(t *testing.T) {
	t.Helper()
	r.q.Inject(labtest.Serialize(t, &layers.Ethernet{SrcMAC: peerMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: peerMAC, SourceProtAddress: peerIP.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: ourIP.AsSlice()}))
	f, ok := r.q.ReadOutbound(time.Second)
	if !ok {
		t.Fatal("no ARP reply")
	}
	arp, _ := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeARP).(*layers.ARP)
	if arp == nil || arp.Operation != layers.ARPReply || !bytes.Equal(arp.SourceHwAddress, ourMAC) || !bytes.Equal(arp.DstHwAddress, peerMAC) {
		t.Fatalf("bad ARP reply %x", f)
	}
}

func udpFrame(t *testing.T, sport, dport uint16, payload []byte) []byte {
	eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: peerIP.AsSlice(), DstIP: ourIP.AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return labtest.Serialize(t, eth, ip, u, gopacket.Payload(payload))
}

func TestReadFromAndBatch(t *testing.T) {
	r := newRig(t, udp.Options{})
	c, err := r.u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000), udp.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 10; i++ {
		r.q.Inject(udpFrame(t, 5555, 9000, []byte{byte(i), 1, 2, 3}))
	}
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil || n != 4 || buf[0] != 0 || from != netip.AddrPortFrom(peerIP, 5555) {
		t.Fatalf("ReadFrom = %d %v %v %v", n, from, err, buf[:n])
	}
	msgs := make([]udp.Message, 16)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2)
	}
	got := 1
	for got < 10 {
		k, err := c.ReadBatch(msgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs[:k] {
			if m.Buf[0] != byte(got) || !m.Truncated || m.N != 2 {
				t.Fatalf("message %d: %+v", got, m)
			}
			got++
		}
	}
	// Deadline: nothing more arrives.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	var ne net.Error
	if _, _, err := c.ReadFrom(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("deadline error is not a net.Error timeout: %v", err)
	}
}

func TestCloseWakesReader(t *testing.T) {
	r := newRig(t, udp.Options{})
	c, _ := r.u.Listen(netip.AddrPortFrom(ourIP, 9001), udp.SocketOptions{})
	done := make(chan error)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDemuxAndErrors(t *testing.T) {
	r := newRig(t, udp.Options{PortUnreachable: true, RcvBuf: 1024})
	r.learnPeer(t)
	wild, _ := r.u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 7000), udp.SocketOptions{})
	if _, err := r.u.Listen(netip.AddrPortFrom(ourIP, 7000), udp.SocketOptions{}); !errors.Is(err, udp.ErrAddrInUse) {
		t.Fatalf("bind over a wildcard: %v", err)
	}
	if _, err := r.u.Listen(netip.MustParseAddrPort("10.1.1.1:7001"), udp.SocketOptions{}); !errors.Is(err, udp.ErrAddrNotLocal) {
		t.Fatalf("bind a foreign address: %v", err)
	}
	var mu sync.Mutex
	var seen [][]byte
	wild.SetHandler(func(d udp.Datagram) {
		mu.Lock()
		seen = append(seen, append([]byte(nil), d.Payload...))
		mu.Unlock()
	})
	good := udpFrame(t, 1, 7000, []byte("hello"))
	bad := append([]byte(nil), good...)
	bad[14+20+8+4] ^= 0xff // payload changed, checksum now wrong (the frame is padded to 60 bytes)
	noCsum := append([]byte(nil), good...)
	noCsum[14+20+6], noCsum[14+20+7] = 0, 0 // checksum "not computed"
	r.q.Inject(good)
	r.q.Inject(bad)
	r.q.Inject(noCsum)
	r.q.Inject(udpFrame(t, 1, 7002, []byte("closed port")))
	// Wait until all four frames are accounted for: datagrams delivered
	// by a batching loop are counted at the end of its batch, after the
	// closed port's NoPorts, so waiting on NoPorts alone races.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := r.u.Stats(); st.InDatagrams+st.NoPorts+st.CsumErrors >= 4 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	st := r.u.Stats()
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if n != 2 || st.CsumErrors != 1 || st.NoPorts != 1 || st.InDatagrams != 2 {
		t.Fatalf("handler saw %d, stats %+v", n, st)
	}
	// The closed port got an ICMP port unreachable quoting the datagram.
	var icmp []byte
	for f, ok := r.q.ReadOutbound(time.Second); ok; f, ok = r.q.ReadOutbound(100 * time.Millisecond) {
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if l, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && l.TypeCode.Type() == layers.ICMPv4TypeDestinationUnreachable {
			icmp = f
		}
	}
	if icmp == nil {
		t.Fatal("no ICMP port unreachable sent")
	}
}

func TestRcvbufOverflowCounted(t *testing.T) {
	r := newRig(t, udp.Options{})
	c, _ := r.u.Listen(netip.AddrPortFrom(ourIP, 9100), udp.SocketOptions{RcvBuf: 1000})
	payload := bytes.Repeat([]byte{7}, 200)
	for i := 0; i < 20; i++ {
		r.q.Inject(udpFrame(t, 1, 9100, payload))
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.u.Stats().InDatagrams+r.u.Stats().RcvbufErrors < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st, ss := r.u.Stats(), c.Stats()
	// 1000 bytes hold 3 datagrams of 200+64.
	if st.InDatagrams != 3 || st.RcvbufErrors != 17 || ss.Dropped != 17 || ss.Queued != 3 {
		t.Fatalf("stats %+v socket %+v", st, ss)
	}
}

func TestSendTo(t *testing.T) {
	r := newRig(t, udp.Options{})
	c, _ := r.u.Listen(netip.AddrPortFrom(ourIP, 5353), udp.SocketOptions{})
	// The peer is unresolved: the datagram waits for ARP.
	if _, err := c.WriteToUDPAddrPort([]byte("ping"), netip.AddrPortFrom(peerIP, 5000)); err != nil {
		t.Fatal(err)
	}
	f, ok := r.q.ReadOutbound(time.Second)
	if !ok {
		t.Fatal("no ARP request")
	}
	arp, _ := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeARP).(*layers.ARP)
	if arp == nil || arp.Operation != layers.ARPRequest || !bytes.Equal(arp.DstProtAddress, peerIP.AsSlice()) {
		t.Fatalf("expected an ARP request for the peer, got %x", f)
	}
	reply := labtest.Serialize(t, &layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPReply, SourceHwAddress: peerMAC, SourceProtAddress: peerIP.AsSlice(),
			DstHwAddress: ourMAC, DstProtAddress: ourIP.AsSlice()})
	r.q.Inject(reply)
	f, ok = r.q.ReadOutbound(time.Second)
	if !ok {
		t.Fatal("the queued datagram was not sent after the ARP reply")
	}
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	u, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if u == nil || string(u.Payload) != "ping" || u.DstPort != 5000 || u.SrcPort != 5353 {
		t.Fatalf("sent %v", pkt)
	}
	if err := pkt.ErrorLayer(); err != nil {
		t.Fatalf("decode: %v", err.Error())
	}
	// Verify checksums by recomputing them with gopacket.
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	u.SetNetworkLayerForChecksum(ip)
	want := labtest.Serialize(t, pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet), ip, u, gopacket.Payload(u.Payload))
	// gopacket pads to the 60-byte minimum; we leave padding to the NIC.
	if !bytes.Equal(want[:len(f)], f) || len(bytes.Trim(want[len(f):], "\x00")) != 0 {
		t.Fatalf("checksums differ from gopacket's:\n got %x\nwant %x", f, want)
	}
}

func TestHandlerModeZeroAllocs(t *testing.T) {
	s, _ := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}})
	ip := ipv4.New(s, ipv4.Options{})
	u := udp.New(ip, udp.Options{})
	c, _ := u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000), udp.SocketOptions{})
	var sum int
	c.SetHandler(func(d udp.Datagram) { sum += len(d.Payload) })
	frame := udpFrame(t, 1234, 9000, make([]byte, 18))
	p := new(stack.Packet)
	allocs := testing.AllocsPerRun(1000, func() {
		*p = stack.Packet{Frame: frame}
		s.Deliver(p)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per datagram in handler mode, want 0", allocs)
	}
	if u.Stats().InDatagrams < 1000 {
		t.Fatalf("delivered %d", u.Stats().InDatagrams)
	}
}

func BenchmarkHandlerMode(b *testing.B) {
	s, _ := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}})
	ip := ipv4.New(s, ipv4.Options{})
	u := udp.New(ip, udp.Options{})
	c, _ := u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000), udp.SocketOptions{})
	c.SetHandler(func(d udp.Datagram) {})
	t := &testing.T{}
	frame := udpFrame(t, 1234, 9000, make([]byte, 18))
	p := new(stack.Packet)
	b.ReportAllocs()
	for b.Loop() {
		*p = stack.Packet{Frame: frame}
		s.Deliver(p)
	}
}

// portLog records PortChanged calls.
type portLog []string

func (l *portLog) PortChanged(port uint16, open bool) {
	*l = append(*l, fmt.Sprintf("%d %v", port, open))
}

// TestPortWatcher: the watcher hears a port open with its first socket
// and close with its last, not for sockets in between.
func TestPortWatcher(t *testing.T) {
	s, _ := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}})
	var log portLog
	u := udp.New(ipv4.New(s, ipv4.Options{}), udp.Options{Ports: &log})
	a, err := u.Listen(netip.AddrPortFrom(ourIP, 53), udp.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 53), udp.SocketOptions{}); err == nil {
		t.Fatal("wildcard bind on a taken port succeeded")
	}
	c, err := u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 54), udp.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	c.Close()
	c.Close()
	want := portLog{"53 true", "54 true", "53 false", "54 false"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("PortChanged calls (-want +got):\n%s", diff)
	}
}
