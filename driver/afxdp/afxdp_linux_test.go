package afxdp_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/lab"
	"github.com/rxpath/rxpath/internal/lab/labtest"
	"github.com/rxpath/rxpath/poller"
)

// open binds the DUT end of l inside its namespace and registers a cleanup
// that closes the device, checks every queue's ledger and checks that no
// XDP program is left on the interface.
func open(t *testing.T, l *lab.Lab, opts afxdp.Options) *afxdp.Device {
	t.Helper()
	var d *afxdp.Device
	err := lab.InNS(l.DUTNS, func() (err error) {
		d, err = afxdp.Open(l.DUTIf, opts)
		return err
	})
	if err != nil {
		t.Fatalf("open %s: %v", l.DUTIf, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		checkLedgers(t, d)
		checkNoXDP(t, l)
	})
	return d
}

func checkLedgers(t *testing.T, d *afxdp.Device) {
	t.Helper()
	for _, q := range d.Queues() {
		u := q.UMEM()
		if err := u.Check(); err != nil {
			t.Errorf("queue %d: %v", q.ID(), err)
		}
		if s := u.Stats(); s.Free != s.Frames || s.BadRelease != 0 || s.Foreign != 0 {
			t.Errorf("queue %d ledger after close: %+v, want every frame free and no errors", q.ID(), s)
		}
	}
}

func checkNoXDP(t *testing.T, l *lab.Lab) {
	t.Helper()
	out, err := lab.Exec(l.DUTNS, "ip", "link", "show", "dev", l.DUTIf)
	if err != nil {
		t.Errorf("ip link show: %v", err)
		return
	}
	if strings.Contains(string(out), "xdp") {
		t.Errorf("an XDP program is still attached:\n%s", out)
	}
}

// udpSeq returns the sequence number of a UDP datagram to port, or false.
func udpSeq(frame []byte, port uint16) (uint64, bool) {
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

// payload is the datagram for sequence number seq: the number, then a
// pattern derived from it, so a corrupted copy is caught.
func payload(buf []byte, seq uint64) []byte {
	binary.BigEndian.PutUint64(buf, seq)
	for i := 8; i < len(buf); i++ {
		buf[i] = byte(seq) + byte(i)
	}
	return buf
}

func payloadOK(p []byte, seq uint64) bool {
	for i := 8; i < len(p); i++ {
		if p[i] != byte(seq)+byte(i) {
			return false
		}
	}
	return true
}

// sink counts datagrams to a port by sequence number.
type sink struct {
	port     uint16
	seen     []atomic.Uint32
	count    atomic.Uint64
	dups     atomic.Uint64
	corrupt  atomic.Uint64
	other    atomic.Uint64
	perQueue [8]atomic.Uint64
	byParity [2]atomic.Uint64 // by the low bit of the sequence number
	// byQueueParity counts by queue and by the low bit of the sequence.
	byQueueParity [2][2]atomic.Uint64
}

func newSink(port uint16, n int) *sink { return &sink{port: port, seen: make([]atomic.Uint32, n)} }

func (s *sink) handle(b *poller.Batch) {
	for _, f := range b.Frames {
		seq, ok := udpSeq(f.Data, s.port)
		if !ok || seq >= uint64(len(s.seen)) {
			s.other.Add(1)
			continue
		}
		if !payloadOK(f.Data[14+20+8:], seq) {
			s.corrupt.Add(1)
		}
		if s.seen[seq].Add(1) > 1 {
			s.dups.Add(1)
		}
		s.count.Add(1)
		s.perQueue[b.Queue%8].Add(1)
		s.byParity[seq&1].Add(1)
		s.byQueueParity[b.Queue&1][seq&1].Add(1)
	}
}

func (s *sink) missing() int {
	n := 0
	for i := range s.seen {
		if s.seen[i].Load() == 0 {
			n++
		}
	}
	return n
}

func startPollers(t *testing.T, d *afxdp.Device, h poller.Handler) []*poller.Poller {
	t.Helper()
	var ps []*poller.Poller
	for i, q := range d.Queues() {
		o := poller.Options{}
		if runtime.NumCPU() > 1 {
			// The generator's kernel work runs on the sending CPU;
			// keep the first poller off CPU 0.
			o.Pin, o.CPU = true, (i+1)%runtime.NumCPU()
		}
		p := poller.New(q, h, o)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	t.Cleanup(func() {
		for _, p := range ps {
			if err := p.Stop(); err != nil {
				t.Errorf("poller: %v", err)
			}
		}
	})
	return ps
}

// sendPaced sends n sequenced datagrams of size bytes, keeping at most
// window datagrams in flight beyond what rcvd reports, so that a receiver
// preempted for a moment does not overflow its ring: every datagram must
// arrive. It returns the number sent.
func sendPaced(t *testing.T, c *net.UDPConn, n, size, window int, rcvd func() uint64, first uint64, stride uint64) {
	t.Helper()
	buf := make([]byte, size)
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < n; i++ {
		for uint64(i)-(rcvd()) > uint64(window) && int(rcvd()) < i {
			if time.Now().After(deadline) {
				t.Fatalf("receiver stalled at %d of %d sent", rcvd(), i)
			}
			runtime.Gosched()
		}
		seq := first + uint64(i)*stride
		for {
			_, err := c.Write(payload(buf, seq))
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("send %d: %v", i, err)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReceive100k(t *testing.T) {
	const n = 100_000
	for _, mode := range []afxdp.AttachMode{afxdp.AttachNative, afxdp.AttachGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			l := labtest.New(t, lab.Config{})
			if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
				t.Fatal(err)
			}
			d := open(t, l, afxdp.Options{Attach: mode})
			if d.Attach() != mode {
				t.Fatalf("attached %v, want %v", d.Attach(), mode)
			}
			if d.ZeroCopy() {
				t.Fatal("veth reported zero-copy")
			}
			s := newSink(9000, n)
			ps := startPollers(t, d, s.handle)
			c := labtest.UDPSender(t, l, 9000)
			sendPaced(t, c, n, 64, 1024, s.count.Load, 0, 1)
			waitFor(t, "every datagram", func() bool { return s.count.Load() >= n })
			time.Sleep(20 * time.Millisecond) // let duplicates, if any, show
			if s.count.Load() != n || s.dups.Load() != 0 || s.corrupt.Load() != 0 || s.missing() != 0 {
				t.Fatalf("received %d (dups %d, corrupt %d, missing %d), want %d exactly",
					s.count.Load(), s.dups.Load(), s.corrupt.Load(), s.missing(), n)
			}
			st := ps[0].Stats()
			t.Logf("%v: %+v", mode, st)
			if st.Dropped() != 0 {
				t.Errorf("drops counted: %+v", st.Driver)
			}
		})
	}
}

func TestTwoQueues(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs to send from")
	}
	const perCPU = 20_000
	l := labtest.New(t, lab.Config{Queues: 2})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	d := open(t, l, afxdp.Options{Attach: afxdp.AttachNative})
	if len(d.Queues()) != 2 {
		t.Fatalf("bound %d queues, want both", len(d.Queues()))
	}
	s := newSink(9000, 2*perCPU)
	ps := startPollers(t, d, s.handle)
	var wg sync.WaitGroup
	for cpu := 0; cpu < 2; cpu++ {
		c := labtest.UDPSender(t, l, 9000)
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				t.Errorf("pin sender: %v", err)
				return
			}
			// Even sequence numbers from CPU 0, odd from CPU 1.
			sendPaced(t, c, perCPU, 64, 512, s.byParity[cpu].Load, uint64(cpu), 2)
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for s.count.Load() < 2*perCPU && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for _, p := range ps {
		if st := p.Stats(); st.Dropped() != 0 {
			t.Errorf("queue %d dropped: %+v", st.Queue, st.Driver)
		}
	}
	q0, q1 := s.perQueue[0].Load(), s.perQueue[1].Load()
	t.Logf("queue 0: %d, queue 1: %d", q0, q1)
	if s.count.Load() != 2*perCPU || s.missing() != 0 || s.dups.Load() != 0 {
		t.Fatalf("received %d (missing %d, dups %d), want %d", s.count.Load(), s.missing(), s.dups.Load(), 2*perCPU)
	}
	if q0 == 0 || q1 == 0 {
		t.Fatalf("traffic from both CPUs should reach both queues: %d and %d", q0, q1)
	}
	// The lab's XPS maps the peer's tx queue i to CPU i, and veth delivers
	// tx queue i to rx queue i: each CPU's traffic lands on its own queue.
	for q := 0; q < 2; q++ {
		if got := s.byQueueParity[q][q].Load(); got != perCPU {
			t.Errorf("queue %d got %d of the %d datagrams sent from CPU %d (and %d from the other CPU)",
				q, got, perCPU, q, s.byQueueParity[q][1-q].Load())
		}
	}
}

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestCloseReleasesEverything(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	c := labtest.UDPSender(t, l, 9000)
	before := fdCount(t)
	for round := 0; round < 3; round++ {
		var d *afxdp.Device
		if err := lab.InNS(l.DUTNS, func() (err error) {
			d, err = afxdp.Open(l.DUTIf, afxdp.Options{})
			return err
		}); err != nil {
			t.Fatalf("round %d: open: %v", round, err)
		}
		s := newSink(9000, 100)
		p := poller.New(d.Queues()[0], s.handle, poller.Options{})
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		sendPaced(t, c, 100, 64, 50, s.count.Load, 0, 1)
		waitFor(t, "100 datagrams", func() bool { return s.count.Load() == 100 })
		// Close with the poller still running: Close must wake it and
		// wait out its current call.
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := p.Stop(); err != nil {
			t.Fatalf("poller after Close: %v", err)
		}
		checkLedgers(t, d)
		checkNoXDP(t, l)
		if after := fdCount(t); after != before {
			t.Fatalf("round %d: %d fds open, %d before", round, after, before)
		}
	}
}

func TestErrors(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	for _, tc := range []struct {
		name, ifname string
		opts         afxdp.Options
		want         string
	}{
		{"missing interface", "rxp-nope0", afxdp.Options{}, "no such network interface"},
		{"ring not power of two", l.DUTIf, afxdp.Options{RxSize: 1000}, "not a power of two"},
		{"queue out of range", l.DUTIf, afxdp.Options{Queues: []int{3}}, "no queue 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := lab.InNS(l.DUTNS, func() error {
				d, err := afxdp.Open(tc.ifname, tc.opts)
				if err == nil {
					d.Close()
				}
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("native MTU too large", func(t *testing.T) {
		if err := l.SetMTU(9000); err != nil {
			t.Fatal(err)
		}
		defer l.SetMTU(1500)
		err := lab.InNS(l.DUTNS, func() error {
			d, err := afxdp.Open(l.DUTIf, afxdp.Options{Attach: afxdp.AttachNative})
			if err == nil {
				d.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "MTU 9000") {
			t.Fatalf("error %v, want one naming the MTU", err)
		}
		// Auto falls back to generic and says why.
		d := open(t, l, afxdp.Options{})
		if d.Attach() != afxdp.AttachGeneric || !strings.Contains(d.Fallback(), "MTU") {
			t.Fatalf("auto attach: %v, fallback %q; want generic with an MTU reason", d.Attach(), d.Fallback())
		}
	})
}

// TestTransmit sends frames through the tx ring to a kernel UDP socket in
// the peer namespace.
func TestTransmit(t *testing.T) {
	const n = 1000
	l := labtest.New(t, lab.Config{})
	d := open(t, l, afxdp.Options{})
	ln := labtest.UDPListener(t, l, 7777)
	q := d.Queues()[0]
	var frames [][]byte
	for i := 0; i < n; i++ {
		frames = append(frames, udpFrame(t, l, uint64(i)))
	}
	// Read concurrently: the peer socket's buffer holds only a few
	// hundred datagrams.
	got := make([]bool, n)
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		ln.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := 0; i < n; i++ {
			m, _, err := ln.ReadFrom(buf)
			if err != nil {
				readErr <- fmt.Errorf("peer received %d of %d: %w", i, n, err)
				return
			}
			seq := binary.BigEndian.Uint64(buf[:8])
			if m != 64 || seq >= n || got[seq] || !payloadOK(buf[:m], seq) {
				readErr <- fmt.Errorf("bad datagram %d: len %d seq %d", i, m, seq)
				return
			}
			got[seq] = true
		}
		readErr <- nil
	}()
	sent := 0
	deadline := time.Now().Add(10 * time.Second)
	for sent < n && time.Now().Before(deadline) {
		k := q.Transmit(frames[sent:min(sent+32, n)])
		sent += k
		q.Refill() // reaps completions
		time.Sleep(100 * time.Microsecond)
	}
	if sent != n {
		t.Fatalf("transmitted %d of %d", sent, n)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("%v (tx stats %+v)", err, q.Stats())
	}
	waitFor(t, fmt.Sprintf("completions %+v", q.Stats()), func() bool { q.Refill(); return q.Stats().TxCompleted == n })
	if s := q.Stats(); s.TxFrames != n || s.Kernel.TxInvalidDescs != 0 {
		t.Fatalf("tx stats %+v", s)
	}
}

func udpFrame(t *testing.T, l *lab.Lab, seq uint64) []byte {
	eth := &layers.Ethernet{SrcMAC: l.DUTMAC, DstMAC: l.PeerMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: l.DUTAddr.AsSlice(), DstIP: l.PeerAddr.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: 9999, DstPort: 7777}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload(make([]byte, 64), seq)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPollZeroAllocs checks the steady-state poll loop over a real socket
// allocates nothing per frame.
func TestPollZeroAllocs(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	d := open(t, l, afxdp.Options{RxSize: 4096, FillSize: 4096})
	var frames uint64
	p := poller.New(d.Queues()[0], func(b *poller.Batch) {
		for _, f := range b.Frames {
			if _, ok := udpSeq(f.Data, 9000); ok {
				frames++
			}
		}
	}, poller.Options{})
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 64)
	for i := 0; i < 4000; i++ {
		c.Write(payload(buf, uint64(i)))
	}
	p.Poll() // warm up
	before := frames
	allocs := testing.AllocsPerRun(10, func() { p.Poll() })
	if frames-before < 1000 {
		t.Fatalf("only %d frames processed during the measurement", frames-before)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per poll round of up to 300 frames, want 0", allocs)
	}
}
