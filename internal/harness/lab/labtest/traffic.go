package labtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/poller"
)

// UDPSeq returns the sequence number of a UDP datagram to port in an
// Ethernet/IPv4 frame, or false.
func UDPSeq(frame []byte, port uint16) (uint64, bool) {
	if len(frame) < 14+20+8+8 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return 0, false
	}
	ihl := int(frame[14]&0x0f) * 4
	if frame[14+9] != 17 || len(frame) < 14+ihl+8+8 {
		return 0, false
	}
	udp := frame[14+ihl:]
	if binary.BigEndian.Uint16(udp[2:4]) != port {
		return 0, false
	}
	return binary.BigEndian.Uint64(udp[8:16]), true
}

// Payload fills buf with datagram seq: the number, then a pattern derived
// from it, so that a corrupted copy is caught.
func Payload(buf []byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(buf, seq)
	for i := 8; i < len(buf); i++ {
		buf[i] = byte(seq) + byte(i)
	}
	return buf
}

// PayloadOK checks a payload made by Payload.
func PayloadOK(p []byte, seq uint64) bool {
	for i := 8; i < len(p); i++ {
		if p[i] != byte(seq)+byte(i) {
			return false
		}
	}
	return true
}

// Sink counts sequenced datagrams to one port as a poller handler.
type Sink struct {
	Port     uint16
	seen     []atomic.Uint32
	Count    atomic.Uint64
	Dups     atomic.Uint64
	Corrupt  atomic.Uint64
	Other    atomic.Uint64
	PerQueue [8]atomic.Uint64
	// ByParity counts by the low bit of the sequence number, and
	// ByQueueParity by queue and that bit (senders on two CPUs use even
	// and odd numbers).
	ByParity      [2]atomic.Uint64
	ByQueueParity [2][2]atomic.Uint64
}

// NewSink expects sequence numbers below n.
func NewSink(port uint16, n int) *Sink { return &Sink{Port: port, seen: make([]atomic.Uint32, n)} }

// Handle is a poller.Handler.
func (s *Sink) Handle(b *poller.Batch) {
	for _, f := range b.Frames {
		seq, ok := UDPSeq(f.Data, s.Port)
		if !ok || seq >= uint64(len(s.seen)) {
			s.Other.Add(1)
			continue
		}
		ihl := int(f.Data[14]&0x0f) * 4
		if !PayloadOK(f.Data[14+ihl+8:], seq) {
			s.Corrupt.Add(1)
		}
		if s.seen[seq].Add(1) > 1 {
			s.Dups.Add(1)
		}
		s.Count.Add(1)
		s.PerQueue[b.Queue%8].Add(1)
		s.ByParity[seq&1].Add(1)
		s.ByQueueParity[b.Queue&1][seq&1].Add(1)
	}
}

// Missing counts sequence numbers never seen.
func (s *Sink) Missing() int {
	n := 0
	for i := range s.seen {
		if s.seen[i].Load() == 0 {
			n++
		}
	}
	return n
}

// SendPaced sends n sequenced datagrams of size bytes (first, first+stride,
// ...), keeping at most window beyond what rcvd reports in flight, so that
// a receiver preempted for a moment does not overflow its ring: every
// datagram must arrive.
func SendPaced(t testing.TB, c *net.UDPConn, n, size, window int, rcvd func() uint64, first, stride uint64) {
	t.Helper()
	buf := make([]byte, size)
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < n; i++ {
		for uint64(i) > rcvd()+uint64(window) {
			if time.Now().After(deadline) {
				t.Errorf("receiver stalled at %d of %d sent", rcvd(), i)
				return
			}
			runtime.Gosched()
		}
		seq := first + uint64(i)*stride
		for {
			_, err := c.Write(Payload(buf, seq))
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				t.Errorf("send %d: %v", i, err)
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// WaitFor polls cond for up to 30 seconds.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// UDPFrameToPeer builds a UDP datagram from the DUT to the peer's port
// 7777 carrying Payload(64 bytes, seq), checksums computed.
func UDPFrameToPeer(t testing.TB, l *lab.Lab, seq uint64) []byte {
	eth := &layers.Ethernet{SrcMAC: l.DUTMAC, DstMAC: l.PeerMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: l.DUTAddr.AsSlice(), DstIP: l.PeerAddr.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: 9999, DstPort: 7777}
	udp.SetNetworkLayerForChecksum(ip)
	return Serialize(t, eth, ip, udp, gopacket.Payload(Payload(make([]byte, 64), seq)))
}

// Serialize builds a frame from gopacket layers with lengths and
// checksums computed, failing t if they do not serialize. The frame is
// the caller's (a copy of the serialize buffer).
func Serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// StreamRand returns the pseudo-random source of a test TCP stream: the
// same seed gives the same bytes, so a sender can hash what it sends and
// compare with the receiver's hash.
func StreamRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// FillStream fills buf with the stream's next bytes.
func FillStream(r *rand.Rand, buf []byte) {
	for i := 0; i < len(buf); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(buf); j++ {
			buf[i+j] = byte(v >> (8 * j))
		}
	}
}

// TransmitToPeer sends frames, 64-byte datagrams to ln's port whose first
// 8 bytes are their index (as UDPFrameToPeer builds them), through
// transmit, 32 at a time and at most 64 ahead of a reader on ln that
// checks each arrives once and intact: the peer socket's buffer holds
// only a few hundred, and on two busy CPUs the reader can fall behind any
// fixed pacing (CI once saw 616 of 1000 that way). The test is about the
// transmit path, not the peer's buffer. reap, if not nil, runs after each
// transmit and while it waits for the reader. It fails t, with stats() in
// the message, unless every frame was taken within 10 s and read within
// readFor.
func TransmitToPeer(t testing.TB, l *lab.Lab, ln *net.UDPConn, frames [][]byte, transmit func([][]byte) int, reap func(), readFor time.Duration, stats func() any) {
	t.Helper()
	const window = 64
	n := len(frames)
	var received atomic.Int64
	got := make([]bool, n)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		ln.SetReadDeadline(time.Now().Add(readFor))
		for i := 0; i < n; i++ {
			m, _, err := ln.ReadFrom(buf)
			if err != nil {
				readErr <- fmt.Errorf("peer received %d of %d: %w (peer %s)", i, n, err, PeerUDPStats(l))
				return
			}
			seq := binary.BigEndian.Uint64(buf[:8])
			if m != 64 || seq >= uint64(n) || got[seq] || !PayloadOK(buf[:m], seq) {
				readErr <- fmt.Errorf("bad datagram %d: len %d seq %d", i, m, seq)
				return
			}
			got[seq] = true
			received.Add(1)
		}
		readErr <- nil
	}()
	if reap == nil {
		reap = func() {}
	}
	sent := 0
	deadline := time.Now().Add(10 * time.Second)
	for sent < n && time.Now().Before(deadline) {
		if int64(sent)-received.Load() >= window {
			reap()
			time.Sleep(100 * time.Microsecond)
			continue
		}
		sent += transmit(frames[sent:min(sent+32, n)])
		reap()
	}
	if sent != n {
		t.Fatalf("transmitted %d of %d (peer received %d; tx stats %+v)", sent, n, received.Load(), stats())
	}
	if err := <-readErr; err != nil {
		t.Fatalf("%v (tx stats %+v)", err, stats())
	}
}
