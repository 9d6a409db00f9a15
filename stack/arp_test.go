package stack_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rxpath/rxpath"
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
	rxpath.AttachQueues(s, q)
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

// TestARPFloodSparesBusyNeighbors: requests from made-up senders churn
// through the entries only learned from requests and never evict a
// neighbour the stack sends to; with every entry busy a new sender is
// answered but not learned, until a busy entry has gone unused for the
// timeout.
func TestARPFloodSparesBusyNeighbors(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/24")},
		ARPCacheSize: 8, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	q := channel.New(0, 16, 4096)
	rxpath.AttachQueues(s, q)
	drain(q) // gratuitous ARP
	peerIP := func(i int) [4]byte { return [4]byte{10, 99, 0, byte(10 + i)} }
	peerMAC := func(i int) header.MAC { return header.MAC{2, 0, 0, 0, 1, byte(i)} }
	// send writes an IPv4 frame to peer i and reports what went out: the
	// frame itself (to the peer's MAC) or an ARP request for it.
	send := func(i int) (direct bool) {
		t.Helper()
		if err := s.WriteIPv4(0, peerIP(i), make([]byte, header.EthernetSize+20)); err != nil {
			t.Fatalf("send to peer %d: %v", i, err)
		}
		f, ok := q.ReadOutbound(time.Second)
		if !ok {
			t.Fatalf("send to peer %d: nothing went out", i)
		}
		eth := header.Ethernet(f)
		if eth.Type() == header.EtherTypeARP {
			return false
		}
		if eth.Dst() != peerMAC(i) {
			t.Fatalf("send to peer %d went to %v", i, eth.Dst())
		}
		return true
	}
	// Four neighbours we talk to: learned from their requests, then sent to.
	for i := range 4 {
		deliver(s, arpFrame(header.ARPRequest, peerMAC(i), peerIP(i), ourIP, header.BroadcastMAC))
		drain(q)
		if !send(i) {
			t.Fatalf("peer %d learned from its request, yet the send asked for it", i)
		}
	}
	// The flood: 1000 senders, each learned into the four idle slots.
	for i := range 1000 {
		deliver(s, arpFrame(header.ARPRequest, header.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}, [4]byte{10, 98, byte(i >> 8), byte(i)}, ourIP, header.BroadcastMAC))
		if drain(q) != 1 {
			t.Fatalf("flood request %d not answered", i)
		}
	}
	if st := s.Stats(); s.Neighbors() != 8 || st.ARPCacheFull != 1000-4 || st.ARPCacheRefused != 0 {
		t.Fatalf("after the flood: %d neighbours, evicted %d, refused %d; want 8, 996, 0", s.Neighbors(), st.ARPCacheFull, st.ARPCacheRefused)
	}
	for i := range 4 {
		if !send(i) {
			t.Fatalf("the flood pushed out peer %d, which we send to", i)
		}
	}
	// Our own sends may evict anything: four more neighbours fill the
	// cache with busy entries (each asked for, as never heard from).
	for i := 4; i < 8; i++ {
		if send(i) {
			t.Fatalf("peer %d was never learned, yet sent to directly", i)
		}
	}
	// Full of busy entries: a new sender is answered, not learned.
	deliver(s, arpFrame(header.ARPRequest, header.MAC{2, 0, 0, 9, 9, 9}, [4]byte{10, 97, 0, 1}, ourIP, header.BroadcastMAC))
	if st := s.Stats(); drain(q) != 1 || st.ARPCacheRefused != 1 || st.ARPCacheFull != 1000 || s.Neighbors() != 8 {
		t.Fatalf("new sender with a busy cache: refused %d, evicted %d, %d neighbours; want 1, 1000, 8", st.ARPCacheRefused, st.ARPCacheFull, s.Neighbors())
	}
	// Once the least recently used busy entry has gone unused for the
	// timeout (60 s by default) a new sender may take its place.
	now = now.Add(30 * time.Second)
	for i := 1; i < 4; i++ { // peer 0 stays unused
		// Heard from again, so still reachable 31 s on, and sent to.
		deliver(s, arpFrame(header.ARPRequest, peerMAC(i), peerIP(i), ourIP, header.BroadcastMAC))
		drain(q)
		if !send(i) {
			t.Fatalf("peer %d not sent to directly", i)
		}
	}
	now = now.Add(31 * time.Second)
	deliver(s, arpFrame(header.ARPRequest, header.MAC{2, 0, 0, 9, 9, 9}, [4]byte{10, 97, 0, 1}, ourIP, header.BroadcastMAC))
	drain(q)
	if st := s.Stats(); st.ARPCacheRefused != 1 || st.ARPCacheFull != 1001 {
		t.Fatalf("after peer 0 went unused for 61 s: refused %d, evicted %d; want 1, 1001", st.ARPCacheRefused, st.ARPCacheFull)
	}
	if send(0) {
		t.Fatal("peer 0 was evicted, yet sent to directly")
	}
	if !send(1) {
		t.Fatal("peer 1, used 31 s ago, was evicted")
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

// TestARPPendingAndGiveUp: while a neighbour is being resolved at most
// three frames wait for it (arp_queue), a fourth is refused with
// ErrNeighborPending and counted; the request is retried a second apart
// by the timer, with no further send, and after three unanswered ones the
// neighbour is given up and what waited is dropped and counted. A reply
// in time sends what waited, to the MAC it gave.
func TestARPPendingAndGiveUp(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/24")},
		Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	q := channel.New(0, 16, 64)
	rxpath.AttachQueues(s, q)
	drain(q) // gratuitous ARP
	silent, answering := [4]byte{10, 99, 0, 7}, [4]byte{10, 99, 0, 8}
	answeringMAC := header.MAC{2, 0, 0, 0, 0, 8}
	// requests reads what went out and returns how many ARP requests for
	// dst it held; anything else fails the test.
	requests := func(dst [4]byte) int {
		t.Helper()
		n := 0
		for {
			select {
			case f := <-q.Outbound():
				a := header.ARP(f[header.EthernetSize:])
				if header.Ethernet(f).Type() != header.EtherTypeARP || a.Op() != header.ARPRequest || a.TargetIP() != dst {
					t.Fatalf("unexpected frame out: %x", f)
				}
				n++
			default:
				return n
			}
		}
	}
	packet := func(tag byte) []byte {
		f := make([]byte, header.EthernetSize+20)
		f[header.EthernetSize] = tag
		return f
	}
	for i := range 3 {
		if err := s.WriteIPv4(0, silent, packet(byte(i))); err != nil {
			t.Fatalf("send %d to an unresolved neighbour: %v; want it queued", i, err)
		}
	}
	if err := s.WriteIPv4(0, silent, packet(3)); !errors.Is(err, stack.ErrNeighborPending) {
		t.Fatalf("fourth send: %v; want ErrNeighborPending", err)
	}
	if n, st := requests(silent), s.Stats(); n != 1 || st.TxPendingDrop != 1 {
		t.Fatalf("after four sends: %d requests, tx_pending_dropped %d; want 1, 1", n, st.TxPendingDrop)
	}
	// The timer retries only once a second has passed.
	now = now.Add(999 * time.Millisecond)
	s.Expire()
	if n := requests(silent); n != 0 {
		t.Fatalf("%d requests 999 ms on; want 0", n)
	}
	for try := 2; try <= 3; try++ {
		now = now.Add(time.Second)
		s.Expire()
		if n := requests(silent); n != 1 {
			t.Fatalf("try %d: %d requests; want 1", try, n)
		}
	}
	if st := s.Stats(); st.TxPendingDrop != 1 || s.Neighbors() != 1 {
		t.Fatalf("before giving up: tx_pending_dropped %d, %d neighbours; want 1, 1", st.TxPendingDrop, s.Neighbors())
	}
	// A second after the third request, it gives up: no fourth request,
	// the three waiting frames dropped, the entry gone.
	now = now.Add(time.Second)
	s.Expire()
	if n, st := requests(silent), s.Stats(); n != 0 || st.TxPendingDrop != 4 || s.Neighbors() != 0 {
		t.Fatalf("after three unanswered requests: %d more requests, tx_pending_dropped %d, %d neighbours; want 0, 4, 0", n, st.TxPendingDrop, s.Neighbors())
	}
	now = now.Add(10 * time.Second)
	s.Expire()
	if n := requests(silent); n != 0 {
		t.Fatalf("%d requests for a neighbour given up", n)
	}
	// A late reply is not learned: nobody is asking any more.
	deliver(s, arpFrame(header.ARPReply, header.MAC{2, 0, 0, 0, 0, 7}, silent, ourIP, header.MAC(ourMAC)))
	if s.Neighbors() != 0 || s.Stats().ARPIgnored != 1 {
		t.Fatalf("late reply: %d neighbours, arp_ignored %d; want 0, 1", s.Neighbors(), s.Stats().ARPIgnored)
	}
	// A neighbour that answers the second request gets what waited, in
	// order, to the MAC it gave; nothing more is dropped.
	for i := range 2 {
		if err := s.WriteIPv4(0, answering, packet(byte(10+i))); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Second)
	s.Expire()
	if n := requests(answering); n != 2 {
		t.Fatalf("%d requests for the answering neighbour; want 2", n)
	}
	deliver(s, arpFrame(header.ARPReply, answeringMAC, answering, ourIP, header.MAC(ourMAC)))
	for i := range 2 {
		f, ok := q.ReadOutbound(time.Second)
		if !ok {
			t.Fatalf("waiting frame %d not sent after the reply", i)
		}
		if eth := header.Ethernet(f); eth.Type() != header.EtherTypeIPv4 || eth.Dst() != answeringMAC || f[header.EthernetSize] != byte(10+i) {
			t.Fatalf("waiting frame %d went out as %x", i, f)
		}
	}
	now = now.Add(5 * time.Second)
	s.Expire()
	if n, st := requests(answering), s.Stats(); n != 0 || st.TxPendingDrop != 4 || st.ARPReplies != 1 {
		t.Fatalf("after the reply: %d requests, tx_pending_dropped %d, arp_replies %d; want 0, 4, 1", n, st.TxPendingDrop, st.ARPReplies)
	}
}

// TestARPRevalidation: an expired entry keeps carrying frames to the
// address it holds while the stack asks again, a request a second; a
// reply makes it fresh; three unanswered requests make it wait for a
// reply like a new entry (Linux's STALE, PROBE, then FAILED).
func TestARPRevalidation(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/24")},
		ARPTimeout: time.Minute, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	q := channel.New(0, 16, 64)
	rxpath.AttachQueues(s, q)
	drain(q) // gratuitous ARP
	peer, peerMAC := [4]byte{10, 99, 0, 1}, header.MAC{2, 0, 0, 0, 0, 1}
	// out sends one frame to the peer and reports what left: whether
	// the frame went to peerMAC, and how many ARP requests for the peer.
	out := func(tag byte) (sent bool, requests int) {
		t.Helper()
		f := make([]byte, header.EthernetSize+20)
		f[header.EthernetSize] = tag
		if err := s.WriteIPv4(0, peer, f); err != nil {
			t.Fatalf("send %d: %v", tag, err)
		}
		for {
			select {
			case f := <-q.Outbound():
				eth := header.Ethernet(f)
				switch {
				case eth.Type() == header.EtherTypeIPv4 && eth.Dst() == peerMAC && f[header.EthernetSize] == tag:
					sent = true
				case eth.Type() == header.EtherTypeARP && header.ARP(f[header.EthernetSize:]).Op() == header.ARPRequest &&
					header.ARP(f[header.EthernetSize:]).TargetIP() == peer:
					requests++
				default:
					t.Fatalf("unexpected frame out: %x", f)
				}
			default:
				return sent, requests
			}
		}
	}
	// The peer's request teaches us its address.
	deliver(s, arpFrame(header.ARPRequest, peerMAC, peer, ourIP, header.BroadcastMAC))
	drain(q) // our reply
	if sent, n := out(1); !sent || n != 0 {
		t.Fatalf("fresh entry: sent %v, %d requests; want true, 0", sent, n)
	}
	// Expired: frames still go, with one request a second.
	now = now.Add(time.Minute)
	for i, want := range []int{1, 0, 1, 1} {
		if sent, n := out(byte(10 + i)); !sent || n != want {
			t.Fatalf("expired, send %d: sent %v, %d requests; want true, %d", i, sent, n, want)
		}
		if i > 0 {
			now = now.Add(time.Second)
		} else {
			now = now.Add(500 * time.Millisecond)
		}
	}
	if st := s.Stats(); st.ARPProbes != 3 || st.TxPendingDrop != 0 {
		t.Fatalf("probes %d, tx_pending_dropped %d; want 3, 0", st.ARPProbes, st.TxPendingDrop)
	}
	// The reply to a probe makes the entry fresh for another minute.
	deliver(s, arpFrame(header.ARPReply, peerMAC, peer, ourIP, header.MAC(ourMAC)))
	if st := s.Stats(); st.ARPReplies != 1 {
		t.Fatalf("the reply to a probe was not learned: %+v", st)
	}
	now = now.Add(59 * time.Second)
	if sent, n := out(20); !sent || n != 0 {
		t.Fatalf("refreshed entry: sent %v, %d requests; want true, 0", sent, n)
	}
	// Expired again, and the probes go unanswered: after three, the
	// next frame waits for a reply.
	now = now.Add(time.Second)
	for i := range 3 {
		if sent, n := out(byte(30 + i)); !sent || n != 1 {
			t.Fatalf("probe %d: sent %v, %d requests; want true, 1", i, sent, n)
		}
		now = now.Add(time.Second)
	}
	if sent, n := out(40); sent || n != 1 {
		t.Fatalf("after three unanswered probes: sent %v, %d requests; want false (queued), 1", sent, n)
	}
	deliver(s, arpFrame(header.ARPReply, peerMAC, peer, ourIP, header.MAC(ourMAC)))
	if f, ok := q.ReadOutbound(time.Second); !ok || header.Ethernet(f).Dst() != peerMAC || f[header.EthernetSize] != 40 {
		t.Fatalf("the frame that waited did not go out after the reply: %x", f)
	}
}
