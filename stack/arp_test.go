package stack_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/channel"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
)

var (
	ourMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	ourIP  = [4]byte{10, 99, 0, 2}
)

func newStack(t *testing.T, cache int) (*stack.Stack, *channel.Queue) {
	t.Helper()
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/24")}, ARPCacheSize: cache})
	if err != nil {
		t.Fatal(err)
	}
	q := channel.New(0, 16, 1024)
	s.Attach([]driver.Queue{q})
	f, ok := q.ReadOutbound(time.Second)
	if !ok {
		t.Fatal("no gratuitous ARP")
	}
	a := header.ARP(f[header.EthernetSize:])
	if header.Ethernet(f).Dst() != header.BroadcastMAC || a.Op() != header.ARPRequest || a.SenderIP() != ourIP || a.TargetIP() != ourIP {
		t.Fatalf("gratuitous ARP malformed: %x", f)
	}
	return s, q
}

func arpFrame(op uint16, sha header.MAC, spa [4]byte, tpa [4]byte, ethDst header.MAC) []byte {
	f := make([]byte, header.EthernetSize+header.ARPSize)
	header.EncodeEthernet(f, ethDst, sha, header.EtherTypeARP)
	header.EncodeARP(f[header.EthernetSize:], op, sha, spa, header.MAC{}, tpa)
	return f
}

func deliver(s *stack.Stack, f []byte) {
	p := &stack.Packet{Frame: f}
	s.Deliver(p)
}

func drain(q *channel.Queue) (n int) {
	for {
		select {
		case <-q.Outbound():
			n++
		default:
			return n
		}
	}
}

func TestARPPolicy(t *testing.T) {
	s, q := newStack(t, 4)
	peer := header.MAC{2, 0, 0, 0, 0, 1}
	// A request for another host: ignored, not learned, not answered.
	deliver(s, arpFrame(header.ARPRequest, peer, [4]byte{10, 99, 0, 1}, [4]byte{10, 99, 0, 3}, header.BroadcastMAC))
	// An unsolicited reply: not learned.
	deliver(s, arpFrame(header.ARPReply, peer, [4]byte{10, 99, 0, 1}, ourIP, header.MAC(ourMAC)))
	if st := s.Stats(); st.ARPIgnored != 2 || s.Neighbors() != 0 || drain(q) != 0 {
		t.Fatalf("ignored %d, neighbours %d", st.ARPIgnored, s.Neighbors())
	}
	// A request for us: answered and learned.
	deliver(s, arpFrame(header.ARPRequest, peer, [4]byte{10, 99, 0, 1}, ourIP, header.BroadcastMAC))
	f, ok := q.ReadOutbound(time.Second)
	if !ok {
		t.Fatal("no reply")
	}
	a := header.ARP(f[header.EthernetSize:])
	if a.Op() != header.ARPReply || a.TargetMAC() != peer || a.SenderIP() != ourIP || header.Ethernet(f).Dst() != peer {
		t.Fatalf("bad reply %x", f)
	}
	if s.Neighbors() != 1 {
		t.Fatal("requester not learned")
	}
	// Malformed: wrong hardware type, short, multicast sender, our address.
	bad := arpFrame(header.ARPRequest, peer, [4]byte{10, 99, 0, 1}, ourIP, header.BroadcastMAC)
	bad[header.EthernetSize+1] = 6
	deliver(s, bad)
	deliver(s, arpFrame(header.ARPRequest, peer, [4]byte{10, 99, 0, 1}, ourIP, header.BroadcastMAC)[:30])
	deliver(s, arpFrame(header.ARPRequest, header.MAC{1, 0, 0x5e, 0, 0, 1}, [4]byte{10, 99, 0, 9}, ourIP, header.BroadcastMAC))
	deliver(s, arpFrame(header.ARPRequest, peer, ourIP, ourIP, header.BroadcastMAC))
	if st := s.Stats(); st.ARPMalformed != 4 || drain(q) != 0 {
		t.Fatalf("malformed %d, want 4", st.ARPMalformed)
	}
	// A frame for another MAC never reaches ARP.
	deliver(s, arpFrame(header.ARPRequest, peer, [4]byte{10, 99, 0, 1}, ourIP, header.MAC{2, 9, 9, 9, 9, 9}))
	if st := s.Stats(); st.NotForUs != 1 {
		t.Fatalf("not for us %d", st.NotForUs)
	}
}

func TestARPCacheBounded(t *testing.T) {
	s, q := newStack(t, 16)
	for i := 0; i < 1000; i++ {
		deliver(s, arpFrame(header.ARPRequest, header.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}, [4]byte{10, 98, byte(i >> 8), byte(i)}, ourIP, header.BroadcastMAC))
		drain(q)
	}
	if n := s.Neighbors(); n != 16 {
		t.Fatalf("%d neighbours, want the cap of 16", n)
	}
	if st := s.Stats(); st.ARPCacheFull != 1000-16 {
		t.Fatalf("evictions %d", st.ARPCacheFull)
	}
}

func TestUnknownEtherType(t *testing.T) {
	s, _ := newStack(t, 4)
	f := make([]byte, 60)
	header.EncodeEthernet(f, header.MAC(ourMAC), header.MAC{2, 0, 0, 0, 0, 1}, 0x88b5)
	deliver(s, f)
	deliver(s, f[:10])
	if st := s.Stats(); st.UnknownType != 1 || st.TooShort != 1 {
		t.Fatalf("%+v", st)
	}
	var got int
	s.RegisterNetworkProtocol(0x88b5, func(p *stack.Packet) { got = len(p.Data) })
	deliver(s, f)
	if got != 46 {
		t.Fatalf("registered handler got %d bytes", got)
	}
}
