package rxpath_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/ipv4/fragment"
	"github.com/rxpath/rxpath/stack/udp"
)

// openNode starts rxpath with the stack on the lab's DUT end and checks,
// at cleanup, that it closes cleanly with every frame back in its ledger.
func openNode(t *testing.T, l *lab.Lab, cfg rxpath.Config) *rxpath.Node {
	t.Helper()
	cfg.Interface = l.DUTIf
	cfg.Addr = netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits())
	var n *rxpath.Node
	if err := lab.InNS(l.DUTNS, func() (err error) {
		n, err = rxpath.Open(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		for _, q := range n.Final().Queues {
			if b := q.Driver.Buffers; b.Free != b.Total || b.BadRelease != 0 || b.Foreign != 0 {
				t.Errorf("queue %d ledger after close: %+v", q.Queue, b)
			}
		}
	})
	return n
}

func TestPing(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	n := openNode(t, l, rxpath.Config{})
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-c", "20", "-i", "0.02", "-W", "2"}, 20},
		{[]string{"-c", "5", "-i", "0.05", "-W", "2", "-s", "8000"}, 5},
	} {
		args := append(tc.args, l.DUTAddr.String())
		out, err := lab.Exec(l.PeerNS, "ping", args...)
		if err != nil {
			t.Fatalf("ping %v: %v\n%s", args, err, out)
		}
		m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(string(out))
		if m == nil || m[1] != fmt.Sprint(tc.want) {
			t.Fatalf("ping %v: want %d replies:\n%s", args, tc.want, out)
		}
	}
	// The stack counts a reply after handing it to the driver, so the
	// peer may hold the last reply a moment before it is counted.
	labtest.WaitFor(t, "the counters of the last reply", func() bool {
		st := n.IPv4.Stats()
		return st.ICMPEchoReplies >= 25 && st.SentFrags >= 5*6
	})
	st := n.IPv4.Stats()
	if st.Reassembled != 5 || st.ICMPEchoReplies != 25 || st.SentFrags != 5*6 {
		t.Fatalf("ipv4 stats: reassembled %d, echo replies %d, fragments sent %d", st.Reassembled, st.ICMPEchoReplies, st.SentFrags)
	}
	if s := n.Stack.Stats(); s.ARPRequests == 0 {
		t.Fatal("the peer's kernel never asked for our MAC: was a static neighbour used?")
	}
}

// payload fills buf with datagram seq: the sequence number, then a
// pattern derived from it.
func payload(buf []byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(buf, seq)
	for i := 8; i < len(buf); i++ {
		buf[i] = byte(seq*31) + byte(i)
	}
	return buf
}

func sizeOf(seq uint64) int { return 64 + int(seq*97%(1400-64+1)) }

// check verifies a received datagram and records it.
type checker struct {
	seen    []atomic.Uint32
	count   atomic.Uint64
	corrupt atomic.Uint64
}

func (c *checker) check(p []byte, size func(uint64) int) {
	if len(p) < 8 {
		c.corrupt.Add(1)
		return
	}
	seq := binary.BigEndian.Uint64(p)
	if seq >= uint64(len(c.seen)) || len(p) != size(seq) {
		c.corrupt.Add(1)
		return
	}
	for i := 8; i < len(p); i++ {
		if p[i] != byte(seq*31)+byte(i) {
			c.corrupt.Add(1)
			return
		}
	}
	c.seen[seq].Add(1)
	c.count.Add(1)
}

func (c *checker) verify(t *testing.T, n int) {
	t.Helper()
	missing, dups := 0, 0
	for i := range c.seen {
		switch v := c.seen[i].Load(); {
		case v == 0:
			missing++
		case v > 1:
			dups++
		}
	}
	if c.count.Load() != uint64(n) || missing != 0 || dups != 0 || c.corrupt.Load() != 0 {
		t.Fatalf("received %d of %d: missing %d, duplicated %d, corrupt %d", c.count.Load(), n, missing, dups, c.corrupt.Load())
	}
}

// resolve makes the peer's kernel resolve our MAC (with one ping) so that
// no datagram waits in, or overflows, its ARP queue.
func resolve(t *testing.T, l *lab.Lab) {
	t.Helper()
	if out, err := lab.Exec(l.PeerNS, "ping", "-c", "1", "-W", "2", l.DUTAddr.String()); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
}

// send sends n sequenced datagrams from the peer's kernel, keeping at
// most window in flight beyond what the receiver has counted. The sender
// runs pinned to CPU 0, away from the poller (on veth the kernel's receive
// work runs on the sending CPU).
func send(t *testing.T, l *lab.Lab, port, n int, size func(uint64) int, rcvd func() uint64, window uint64) {
	t.Helper()
	resolve(t, l)
	c := labtest.UDPSender(t, l, port)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := affinity.Pin(0); err != nil {
			errc <- err
			return
		}
		buf := make([]byte, 65536)
		deadline := time.Now().Add(90 * time.Second)
		for i := 0; i < n; i++ {
			for uint64(i) > rcvd()+window {
				if time.Now().After(deadline) {
					errc <- fmt.Errorf("receiver stalled at %d of %d sent", rcvd(), i)
					return
				}
				runtime.Gosched()
			}
			if _, err := c.Write(payload(buf[:size(uint64(i))], uint64(i))); err != nil {
				errc <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUDP100k(t *testing.T) {
	const n = 100_000
	l := labtest.New(t, lab.Config{})
	node := openNode(t, l, rxpath.Config{CPUs: []int{1}})
	t.Run("ReadFrom", func(t *testing.T) {
		c, err := node.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ck := &checker{seen: make([]atomic.Uint32, n)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 2048)
			for ck.count.Load()+ck.corrupt.Load() < n {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				k, _, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				ck.check(buf[:k], sizeOf)
			}
		}()
		send(t, l, 9000, n, sizeOf, ck.count.Load, 256)
		<-done
		ck.verify(t, n)
	})
	t.Run("handler", func(t *testing.T) {
		c, err := node.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 9001))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ck := &checker{seen: make([]atomic.Uint32, n)}
		c.SetHandler(func(d udp.Datagram) { ck.check(d.Payload, sizeOf) })
		send(t, l, 9001, n, sizeOf, ck.count.Load, 1024)
		wait(t, "every datagram", func() bool { return ck.count.Load()+ck.corrupt.Load() >= n })
		ck.verify(t, n)
	})
	if s := node.UDP.Stats(); s.InErrors != 0 || s.NoPorts != 0 {
		t.Fatalf("udp stats %+v", s)
	}
}

func TestUDPFragmented(t *testing.T) {
	const n = 500
	size := func(uint64) int { return 8192 }
	l := labtest.New(t, lab.Config{})
	node := openNode(t, l, rxpath.Config{})
	c, err := node.ListenUDP(netip.AddrPortFrom(l.DUTAddr, 9000))
	if err != nil {
		t.Fatal(err)
	}
	ck := &checker{seen: make([]atomic.Uint32, n)}
	c.SetHandler(func(d udp.Datagram) { ck.check(d.Payload, size) })
	send(t, l, 9000, n, size, ck.count.Load, 16)
	wait(t, "every datagram", func() bool { return ck.count.Load()+ck.corrupt.Load() >= n })
	ck.verify(t, n)
	if st := node.IPv4.Stats(); st.Reassembled != n || st.Fragments != 6*n {
		t.Fatalf("reassembled %d from %d fragments, want %d from %d", st.Reassembled, st.Fragments, n, 6*n)
	}
}

// TestHostileFrames sends crafted frames from the peer and checks that
// each is dropped and counted where it should be, that nothing crashes,
// and (at cleanup) that the ledger balances.
func TestHostileFrames(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	node := openNode(t, l, rxpath.Config{IPv4: ipv4.Options{
		Reassembly: fragment.Options{HighBytes: 1 << 20, LowBytes: 768 << 10, Timeout: 500 * time.Millisecond},
	}})
	sock, err := node.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000))
	if err != nil {
		t.Fatal(err)
	}
	var delivered atomic.Uint64
	sock.SetHandler(func(udp.Datagram) { delivered.Add(1) })
	raw := labtest.RawSender(t, l)
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: l.PeerMAC, DstMAC: l.DUTMAC, EthernetType: typ}
	}
	ip := func(proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 1, Protocol: proto, SrcIP: l.PeerAddr.Addr().AsSlice(), DstIP: l.DUTAddr.AsSlice()}
	}
	udpFrame := func(id uint16, data []byte) []byte {
		h := ip(layers.IPProtocolUDP)
		h.Id = id
		u := &layers.UDP{SrcPort: 1000, DstPort: 9000}
		u.SetNetworkLayerForChecksum(h)
		return labtest.Serialize(t, eth(layers.EthernetTypeIPv4), h, u, gopacket.Payload(data))
	}
	good := udpFrame(1, []byte("legitimate"))
	fixIP := func(b []byte) []byte {
		h := b[14:]
		h[10], h[11] = 0, 0
		var sum uint32
		for i := 0; i < int(h[0]&0xf)*4 && i+1 < len(h); i += 2 {
			sum += uint32(h[i])<<8 | uint32(h[i+1])
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		c := ^uint16(sum)
		h[10], h[11] = byte(c>>8), byte(c)
		return b
	}
	mut := func(f func(h []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b[14:])
		return b
	}
	frag := func(id uint16, off int, more bool, data []byte) []byte {
		h := ip(layers.IPProtocolUDP)
		h.Id, h.FragOffset = id, uint16(off/8)
		if more {
			h.Flags = layers.IPv4MoreFragments
		}
		return labtest.Serialize(t, eth(layers.EthernetTypeIPv4), h, gopacket.Payload(data))
	}
	ipStat := func(f func(ipv4.Stats) uint64) func() uint64 { return func() uint64 { return f(node.IPv4.Stats()) } }
	cases := []struct {
		name   string
		frames [][]byte
		count  func() uint64
		want   uint64
	}{
		{"bad IP checksum", [][]byte{mut(func(h []byte) { h[10] ^= 0x5a })}, ipStat(func(s ipv4.Stats) uint64 { return s.BadChecksum }), 1},
		{"IHL < 5", [][]byte{fixIP(mut(func(h []byte) { h[0] = 0x43 }))}, ipStat(func(s ipv4.Stats) uint64 { return s.BadIHL }), 1},
		{"total length > frame", [][]byte{fixIP(mut(func(h []byte) { h[2], h[3] = 0x10, 0x00 }))}, ipStat(func(s ipv4.Stats) uint64 { return s.LengthBeyond }), 1},
		{"overlapping fragments", [][]byte{
			frag(100, 0, true, bytes.Repeat([]byte{1}, 64)),
			frag(100, 32, false, bytes.Repeat([]byte{2}, 64)),
		}, ipStat(func(s ipv4.Stats) uint64 { return s.Reassembly.Overlap }), 1},
		{"ping of death", [][]byte{
			frag(101, 0, true, make([]byte, 1480)),
			frag(101, 65528, false, make([]byte, 100)),
		}, ipStat(func(s ipv4.Stats) uint64 { return s.Reassembly.BadOffset }), 1},
		{"malformed ARP", [][]byte{labtest.Serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: 6 /* IEEE 802 */, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: l.PeerMAC, SourceProtAddress: l.PeerAddr.Addr().AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: l.DUTAddr.AsSlice()})}, func() uint64 { return node.Stack.Stats().ARPMalformed }, 1},
		{"UDP bad checksum", [][]byte{func() []byte {
			b := append([]byte(nil), good...)
			b[14+20+8] ^= 0xff
			return b
		}()}, func() uint64 { return node.UDP.Stats().CsumErrors }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.count()
			for _, f := range tc.frames {
				raw(f)
			}
			wait(t, "the drop counter", func() bool { return tc.count()-before >= tc.want })
			if got := tc.count() - before; got != tc.want {
				t.Fatalf("counter moved by %d, want %d", got, tc.want)
			}
			// The stack still works: a legitimate datagram arrives.
			d := delivered.Load()
			raw(good)
			wait(t, "a legitimate datagram after the attack", func() bool { return delivered.Load() > d })
		})
	}
	t.Run("fragment flood", func(t *testing.T) {
		var peak int64
		chunk := make([]byte, 1400)
		for i := 0; i < 3000; i++ { // 4 MiB of first fragments that never complete
			raw(frag(uint16(2000+i), 0, true, chunk))
			if i%100 == 0 {
				peak = max(peak, node.IPv4.Stats().Reassembly.Bytes)
			}
		}
		wait(t, "the flood to be processed", func() bool { return node.IPv4.Stats().Fragments >= 3000 })
		st := node.IPv4.Stats().Reassembly
		peak = max(peak, st.Bytes)
		if peak > 1<<20 || st.Evicted == 0 {
			t.Fatalf("reassembly peaked at %d bytes (cap 1 MiB), evicted %d", peak, st.Evicted)
		}
		time.Sleep(600 * time.Millisecond) // past the 500 ms timeout
		node.IPv4.Expire()
		if st := node.IPv4.Stats().Reassembly; st.Bytes != 0 || st.Datagrams != 0 {
			t.Fatalf("after the timeout reassembly still holds %d bytes in %d datagrams", st.Bytes, st.Datagrams)
		}
		t.Logf("fragment flood: peak %d bytes, evicted %d datagrams", peak, st.Evicted)
	})
}
