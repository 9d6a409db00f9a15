package soak

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/internal/sys/affinity"
)

// generatorCPU runs every generator: on veth the receiving side's kernel
// work (XDP, the copy into the UMEM) runs on the sender's CPU, and the
// poller has CPU 1.
const generatorCPU = 0

// pinGenerator locks the calling goroutine to its thread and pins the
// thread to generatorCPU. restore undoes both; a goroutine that exits
// without calling it takes its pinned thread with it.
func pinGenerator() (restore func(), err error) {
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	if err := affinity.Pin(generatorCPU); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

// udpGen sends sequenced datagrams (labtest.Payload) 0, 1, 2, ... at a
// fixed rate until its context ends.
type udpGen struct {
	sent atomic.Uint64
	err  error // read after done
	done chan struct{}
}

func startUDP(ctx context.Context, c *net.UDPConn, rate, size int) *udpGen {
	g := &udpGen{done: make(chan struct{})}
	go func() {
		defer close(g.done)
		if _, err := pinGenerator(); err != nil {
			g.err = err
			return
		}
		buf := make([]byte, size)
		start := time.Now()
		for seq := uint64(0); ctx.Err() == nil; seq++ {
			if d := time.Until(start.Add(time.Duration(seq) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
			}
			if err := writeRetry(ctx, func() error { _, err := c.Write(labtest.Payload(buf, seq)); return err }); err != nil {
				if ctx.Err() == nil {
					g.err = fmt.Errorf("udp datagram %d: %w", seq, err)
				}
				return
			}
			g.sent.Store(seq + 1)
		}
	}()
	return g
}

// writeRetry retries a send the peer kernel refused for want of buffer
// space, for at most 10 seconds.
func writeRetry(ctx context.Context, send func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := send()
		if err == nil || (!errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN)) {
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// tcpClients open connections from the peer namespace one after another,
// each streaming a pseudo-random length of pseudo-random bytes at a fixed
// rate, and record every stream's address, length and SHA-256. A stream
// under way when the context ends is finished: every stream started is
// judged.
type tcpClients struct {
	l       *lab.Lab
	port    int
	rate    float64 // bytes per second per client
	minSize int64
	maxSize int64

	wg      sync.WaitGroup
	mu      sync.Mutex
	streams []Stream
	errs    []error
	bytes   atomic.Uint64
}

func (tc *tcpClients) start(ctx context.Context, n int) {
	for id := range n {
		tc.wg.Add(1)
		go func() {
			defer tc.wg.Done()
			if _, err := pinGenerator(); err != nil {
				tc.fail(err)
				return
			}
			rng := rand.New(rand.NewPCG(uint64(id), 0x50a4))
			for i := 0; ctx.Err() == nil; i++ {
				size := tc.minSize + rng.Int64N(tc.maxSize-tc.minSize+1)
				s, err := tc.stream(size, uint64(id)<<32|uint64(i))
				if err != nil {
					tc.fail(fmt.Errorf("client %d stream %d (%d bytes): %w", id, i, size, err))
					time.Sleep(time.Second)
					continue
				}
				tc.mu.Lock()
				tc.streams = append(tc.streams, s)
				tc.mu.Unlock()
			}
		}()
	}
}

func (tc *tcpClients) fail(err error) {
	tc.mu.Lock()
	tc.errs = append(tc.errs, err)
	tc.mu.Unlock()
}

// stream sends one connection's worth and waits for the sink to close it.
func (tc *tcpClients) stream(size int64, seed uint64) (Stream, error) {
	var c *net.TCPConn
	err := lab.InNS(tc.l.PeerNS, func() error {
		nc, err := net.DialTimeout("tcp", netip.AddrPortFrom(tc.l.DUTAddr, uint16(tc.port)).String(), 10*time.Second)
		if err != nil {
			return err
		}
		c = nc.(*net.TCPConn)
		return nil
	})
	if err != nil {
		return Stream{}, err
	}
	defer c.Close()
	s := Stream{Remote: c.LocalAddr().String(), Bytes: uint64(size)}
	// Generous: a stalled receiver must fail the soak, not hang it.
	paced := time.Duration(float64(size) / tc.rate * float64(time.Second))
	c.SetWriteDeadline(time.Now().Add(4*paced + time.Minute))
	r := labtest.StreamRand(seed)
	h := sha256.New()
	buf := make([]byte, 64<<10)
	start := time.Now()
	for sent := int64(0); sent < size; {
		k := min(int64(len(buf)), size-sent)
		labtest.FillStream(r, buf[:k])
		h.Write(buf[:k])
		if _, err := c.Write(buf[:k]); err != nil {
			return s, err
		}
		sent += k
		tc.bytes.Add(uint64(k))
		if d := time.Until(start.Add(time.Duration(float64(sent) / tc.rate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
	}
	s.SHA256 = hex.EncodeToString(h.Sum(nil))
	if err := c.CloseWrite(); err != nil {
		return s, err
	}
	// The sink closes its end once our FIN is in: EOF here.
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := c.Read(make([]byte, 1)); n > 0 || !errors.Is(err, io.EOF) {
		return s, fmt.Errorf("waiting for the sink to close: read %d bytes, %v", n, err)
	}
	return s, nil
}

// hostile sends the low-rate background of unwanted traffic that the
// test goroutine interleaves with its sampling (labtest.RawSender may
// only be called from it): UDP to closed ports through a kernel socket,
// and crafted frames on the peer's veth end.
type hostile struct {
	l      *lab.Lab
	raw    func([]byte)
	closed *net.UDPConn // unconnected: the ICMP errors it provokes are not reported to it
	rng    *rand.Rand
	start  time.Time
	kinds  []hostileKind
}

type hostileKind struct {
	name  string
	rate  float64 // per second
	sent  uint64
	frame func(h *hostile) []byte // nil: closed-port UDP
}

// The rates, per second.
const (
	closedUDPRate = 100
	fragRate      = 25 // first fragments, and as many last fragments
	arpRate       = 20
	garbageRate   = 50
)

func newHostile(t *testing.T, l *lab.Lab) *hostile {
	return &hostile{
		l:      l,
		raw:    labtest.RawSender(t, l),
		closed: labtest.UDPListener(t, l, 0),
		rng:    rand.New(rand.NewPCG(8, 8)),
		start:  time.Now(),
		kinds: []hostileKind{
			{name: "udp_closed_port", rate: closedUDPRate},
			{name: "frag_first", rate: fragRate, frame: (*hostile).fragFirst},
			{name: "frag_last", rate: fragRate, frame: (*hostile).fragLast},
			{name: "arp_request", rate: arpRate, frame: (*hostile).arpRequest},
			{name: "garbage", rate: garbageRate, frame: (*hostile).garbage},
		},
	}
}

// sendDue sends what each kind's rate has made due by now.
func (h *hostile) sendDue(t *testing.T, now time.Time) {
	t.Helper()
	el := now.Sub(h.start).Seconds()
	for i := range h.kinds {
		k := &h.kinds[i]
		for ; float64(k.sent) < el*k.rate; k.sent++ {
			if k.frame != nil {
				h.raw(k.frame(h))
				continue
			}
			dst := netip.AddrPortFrom(h.l.DUTAddr, uint16(20000+h.rng.IntN(10000)))
			if _, err := h.closed.WriteToUDPAddrPort([]byte("nobody listens here"), dst); err != nil &&
				!errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("udp to closed port %v: %v", dst, err)
			}
		}
	}
}

func (h *hostile) counts() map[string]uint64 {
	m := map[string]uint64{}
	for _, k := range h.kinds {
		m[k.name] = k.sent
	}
	return m
}

func (h *hostile) serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err) // fixed, well-formed layers: a bug here, not a test failure
	}
	return buf.Bytes()
}

func (h *hostile) randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(h.rng.Uint32())
	}
	return b
}

func (h *hostile) ipFragment(offset uint16, more bool, payload int) []byte {
	eth := &layers.Ethernet{SrcMAC: h.l.PeerMAC, DstMAC: h.l.DUTMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Id: uint16(h.rng.Uint32()), FragOffset: offset,
		SrcIP: h.l.PeerAddr.Addr().AsSlice(), DstIP: h.l.DUTAddr.AsSlice()}
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	return h.serialize(eth, ip, gopacket.Payload(h.randBytes(payload)))
}

// fragFirst is bytes 0..511 of a datagram, more to come. fragLast starts
// at byte 1024: even when its random ID matches a first fragment's, bytes
// 512..1023 are missing, so nothing ever completes and reassembly holds
// both until its timeout.
func (h *hostile) fragFirst() []byte { return h.ipFragment(0, true, 512) }
func (h *hostile) fragLast() []byte  { return h.ipFragment(1024/8, false, 256) }

// arpRequest comes from a made-up neighbour (.100 to .249: never the peer
// or the DUT, whose entries it would poison) with a random MAC, asking
// for the DUT three times in four, else for another address.
func (h *hostile) arpRequest() []byte {
	mac := net.HardwareAddr(h.randBytes(6))
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	base := h.l.PeerAddr.Masked().Addr().As4()
	src, target := base, h.l.DUTAddr.As4()
	src[3] = byte(100 + h.rng.IntN(150))
	if h.rng.IntN(4) == 0 {
		target = base
		target[3] = byte(100 + h.rng.IntN(150))
	}
	eth := &layers.Ethernet{SrcMAC: mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: mac, SourceProtAddress: src[:],
		DstHwAddress: make([]byte, 6), DstProtAddress: target[:]}
	return h.serialize(eth, arp)
}

// garbage is 14 to 300 random bytes to the DUT's MAC, with an IPv4, ARP
// or random EtherType.
func (h *hostile) garbage() []byte {
	b := h.randBytes(14 + h.rng.IntN(287))
	copy(b, h.l.DUTMAC)
	switch h.rng.IntN(3) {
	case 0:
		b[12], b[13] = 0x08, 0x00
	case 1:
		b[12], b[13] = 0x08, 0x06
	}
	return b
}
