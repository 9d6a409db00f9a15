package afpacket_test

import (
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afpacket"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
)

// open opens the DUT end of l inside its namespace and registers a cleanup
// that closes the device and checks every queue's ledger.
func open(t *testing.T, l *lab.Lab, opts afpacket.Options) *afpacket.Device {
	t.Helper()
	var d *afpacket.Device
	err := lab.InNS(l.DUTNS, func() (err error) {
		d, err = afpacket.Open(l.DUTIf, opts)
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
	})
	return d
}

// checkLedgers checks a closed device: every block accounted for and free,
// no bad or foreign releases.
func checkLedgers(t *testing.T, d *afpacket.Device) {
	t.Helper()
	for _, q := range d.Queues() {
		if err := q.Check(); err != nil {
			t.Errorf("queue %d: %v", q.ID(), err)
		}
		b := q.Stats().Buffers
		if b.Free != b.Total || b.Held != 0 || b.Kernel != 0 || b.BadRelease != 0 || b.Foreign != 0 {
			t.Errorf("queue %d ledger after close: %+v, want every block free and no errors", q.ID(), b)
		}
	}
}

func neighbor(t *testing.T, l *lab.Lab) {
	t.Helper()
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
}

// udp returns the destination port and payload of a UDP/IPv4 frame.
func udp(frame []byte) (port uint16, payload []byte, ok bool) {
	if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 || frame[14+9] != 17 {
		return 0, nil, false
	}
	ihl := int(frame[14]&0x0f) * 4
	if len(frame) < 14+ihl+8 {
		return 0, nil, false
	}
	u := frame[14+ihl:]
	return binary.BigEndian.Uint16(u[2:4]), u[8:], true
}

// udpSeq returns the sequence number of a UDP datagram to port, or false.
func udpSeq(frame []byte, port uint16) (uint64, bool) {
	p, pl, ok := udp(frame)
	if !ok || p != port || len(pl) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(pl), true
}

// sink counts sequenced datagrams to one port and checks their payloads.
type sink struct {
	port          uint16
	seen          []atomic.Uint32
	count         atomic.Uint64
	dups          atomic.Uint64
	corrupt       atomic.Uint64
	other         atomic.Uint64
	perQueue      [8]atomic.Uint64
	byParity      [2]atomic.Uint64
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
		_, pl, _ := udp(f.Data)
		if !labtest.PayloadOK(pl, seq) {
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

func (s *sink) exact(t *testing.T, n int) {
	t.Helper()
	if s.count.Load() != uint64(n) || s.dups.Load() != 0 || s.corrupt.Load() != 0 || s.missing() != 0 {
		t.Fatalf("received %d (dups %d, corrupt %d, missing %d), want %d exactly",
			s.count.Load(), s.dups.Load(), s.corrupt.Load(), s.missing(), n)
	}
}

func startPollers(t *testing.T, d *afpacket.Device, h poller.Handler) []*poller.Poller {
	t.Helper()
	var ps []*poller.Poller
	for i, q := range d.Queues() {
		o := poller.Options{}
		if runtime.NumCPU() > 1 {
			// The sender's kernel work runs on the sending CPU; keep
			// the first poller off CPU 0.
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

// sendPaced sends n sequenced datagrams of size bytes, first, first+stride,
// ..., keeping at most window of them beyond what rcvd reports in flight,
// so that a receiver preempted for a moment does not overflow its ring.
func write(t *testing.T, c *net.UDPConn, b []byte) {
	t.Helper()
	for {
		_, err := c.Write(b)
		if err == nil {
			return
		}
		if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("send: %v", err)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func noDrops(t *testing.T, ps []*poller.Poller) {
	t.Helper()
	for _, p := range ps {
		st := p.Stats()
		if st.Dropped() != 0 || st.Driver.RxTrunc != 0 || st.Driver.Kernel.RxFrozen != 0 {
			t.Errorf("queue %d dropped: %+v", st.Queue, st.Driver)
		}
	}
}

func TestParseFanout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want afpacket.FanoutMode
		ok   bool
	}{{"", afpacket.FanoutHash, true}, {"hash", afpacket.FanoutHash, true}, {"cpu", afpacket.FanoutCPU, true},
		{"lb", afpacket.FanoutLB, true}, {"qm", 0, false}} {
		got, err := afpacket.ParseFanout(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseFanout(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestReceive20k(t *testing.T) {
	const n = 20_000
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	d := open(t, l, afpacket.Options{})
	if _, grouped := d.FanoutGroup(); len(d.Queues()) != 1 || grouped {
		t.Fatalf("%d sockets, in a fanout group %v; want one socket in no group", len(d.Queues()), grouped)
	}
	s := newSink(9000, n)
	ps := startPollers(t, d, s.handle)
	c := labtest.UDPSender(t, l, 9000)
	labtest.SendPaced(t, c, n, 64, 1024, s.count.Load, 0, 1)
	labtest.WaitFor(t, "every datagram", func() bool { return s.count.Load() >= n })
	time.Sleep(20 * time.Millisecond) // let duplicates, if any, show
	s.exact(t, n)
	noDrops(t, ps)
	t.Logf("%+v", ps[0].Stats())
}

// udpPortFilter accepts unfragmented UDP/IPv4 frames to port.
func udpPortFilter(t *testing.T, port uint32) []bpf.RawInstruction {
	t.Helper()
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: 8},
		bpf.LoadAbsolute{Off: 23, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: 6},
		bpf.LoadAbsolute{Off: 20, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4},
		bpf.LoadMemShift{Off: 14},
		bpf.LoadIndirect{Off: 16, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: port, SkipTrue: 1},
		bpf.RetConstant{Val: 1 << 18},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestSocketFilter(t *testing.T) {
	const n = 2000
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	d := open(t, l, afpacket.Options{SocketFilter: udpPortFilter(t, 9001)})
	s := newSink(9001, n)
	var to9000 atomic.Uint64
	startPollers(t, d, func(b *poller.Batch) {
		for _, f := range b.Frames {
			if p, _, ok := udp(f.Data); ok && p == 9000 {
				to9000.Add(1)
			}
		}
		s.handle(b)
	})
	c0, c1 := labtest.UDPSender(t, l, 9000), labtest.UDPSender(t, l, 9001)
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		for uint64(i) > s.count.Load()+512 {
			runtime.Gosched()
		}
		write(t, c0, labtest.Payload(buf, uint64(i)))
		write(t, c1, labtest.Payload(buf, uint64(i)))
	}
	labtest.WaitFor(t, "every datagram to 9001", func() bool { return s.count.Load() >= n })
	time.Sleep(20 * time.Millisecond)
	s.exact(t, n)
	if to9000.Load() != 0 || s.other.Load() != 0 {
		t.Fatalf("the filter let through %d datagrams to 9000 and %d other frames", to9000.Load(), s.other.Load())
	}
	if st := d.Queues()[0].Stats(); st.RxFrames != n {
		t.Fatalf("ring delivered %d frames, want the %d that match", st.RxFrames, n)
	}
}

func TestFanoutCPU(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs to send from")
	}
	const perCPU = 10_000
	l := labtest.New(t, lab.Config{Queues: 2})
	neighbor(t, l)
	d := open(t, l, afpacket.Options{Queues: 2, Fanout: afpacket.FanoutCPU})
	group, grouped := d.FanoutGroup()
	if len(d.Queues()) != 2 || !grouped {
		t.Fatalf("%d sockets, in a fanout group %v; want 2 in a group", len(d.Queues()), grouped)
	}
	checkGroup(t, d, group, unix.PACKET_FANOUT_CPU)
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
			labtest.SendPaced(t, c, perCPU, 64, 512, s.byParity[cpu].Load, uint64(cpu), 2)
		}()
	}
	wg.Wait()
	labtest.WaitFor(t, "every datagram", func() bool { return s.count.Load() >= 2*perCPU })
	time.Sleep(20 * time.Millisecond)
	q0, q1 := s.perQueue[0].Load(), s.perQueue[1].Load()
	t.Logf("socket 0: %d, socket 1: %d (fanout group %d)", q0, q1, group)
	s.exact(t, 2*perCPU)
	noDrops(t, ps)
	if q0 == 0 || q1 == 0 {
		t.Fatalf("each socket should get traffic: %d and %d", q0, q1)
	}
	// veth receives on the sending CPU, and PACKET_FANOUT_CPU picks
	// socket cpu % 2: each CPU's traffic lands on its own socket.
	for q := 0; q < 2; q++ {
		if got := s.byQueueParity[q][q].Load(); got != perCPU {
			t.Errorf("socket %d got %d of the %d datagrams sent from CPU %d (and %d from the other CPU)",
				q, got, perCPU, q, s.byQueueParity[q][1-q].Load())
		}
	}
}

// checkGroup checks that every socket is in fanout group id with mode.
func checkGroup(t *testing.T, d *afpacket.Device, id uint16, mode int) {
	t.Helper()
	for _, q := range d.Queues() {
		v, err := unix.GetsockoptInt(q.FD(), unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			t.Fatal(err)
		}
		if uint16(v) != id || v>>16&0xff != mode {
			t.Fatalf("socket %d is in fanout group %d mode %d, want group %d mode %d", q.ID(), uint16(v), v>>16&0xff, id, mode)
		}
	}
}

// TestFanoutLB joins a group with a chosen id in round-robin mode.
func TestFanoutLB(t *testing.T) {
	const n = 10_000
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	d := open(t, l, afpacket.Options{Queues: 3, Fanout: afpacket.FanoutLB, FanoutGroup: 0x4242})
	if id, ok := d.FanoutGroup(); !ok || id != 0x4242 {
		t.Fatalf("fanout group %#x %v, want 0x4242", id, ok)
	}
	checkGroup(t, d, 0x4242, unix.PACKET_FANOUT_LB)
	s := newSink(9000, n)
	ps := startPollers(t, d, s.handle)
	c := labtest.UDPSender(t, l, 9000)
	labtest.SendPaced(t, c, n, 64, 512, s.count.Load, 0, 1)
	labtest.WaitFor(t, "every datagram", func() bool { return s.count.Load() >= n })
	time.Sleep(20 * time.Millisecond)
	s.exact(t, n)
	noDrops(t, ps)
	for q := range 3 {
		// Round robin: each socket gets a third, give or take.
		if got := s.perQueue[q].Load(); got < n/3-10 || got > n/3+10 {
			t.Errorf("socket %d got %d of %d", q, got, n)
		}
	}
}

func udpFrame(t *testing.T, l *lab.Lab, seq uint64, size int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: l.DUTMAC, DstMAC: l.PeerMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: l.DUTAddr.AsSlice(), DstIP: l.PeerAddr.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: 9999, DstPort: 7777}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, u, gopacket.Payload(labtest.Payload(make([]byte, size), seq)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTransmit sends crafted frames to a kernel UDP socket in the peer
// namespace, and checks that the sockets do not receive them back.
func TestTransmit(t *testing.T) {
	const n = 1000
	l := labtest.New(t, lab.Config{})
	d := open(t, l, afpacket.Options{})
	ln := labtest.UDPListener(t, l, 7777)
	q := d.Queues()[0]
	var echoed atomic.Uint64
	startPollers(t, d, func(b *poller.Batch) {
		for _, f := range b.Frames {
			if p, _, ok := udp(f.Data); ok && p == 7777 {
				echoed.Add(1)
			}
		}
	})
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = udpFrame(t, l, uint64(i), 64)
	}
	labtest.TransmitToPeer(t, l, ln, frames, q.Transmit, nil, 10*time.Second, func() any { return q.Stats() })
	// An oversize frame is taken and counted, and the frames around it
	// still go out.
	big := udpFrame(t, l, 0, 1500)
	if k := q.Transmit([][]byte{frames[0], big, frames[1]}); k != 3 {
		t.Fatalf("Transmit took %d of 3 frames", k)
	}
	time.Sleep(20 * time.Millisecond)
	s := q.Stats()
	if s.TxFrames != n+2 || s.TxOversize != 1 || s.TxBytes != uint64(n+2)*uint64(len(frames[0])) || s.TxKickError != 0 {
		t.Fatalf("tx stats %+v", s)
	}
	if echoed.Load() != 0 {
		t.Fatalf("%d of our own transmissions came back on the receive ring", echoed.Load())
	}
}

// TestHold keeps a frame past its batch: its block stays held while later
// blocks go back, and returns once the frame is released from another
// goroutine.
func TestHold(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	d := open(t, l, afpacket.Options{})
	q := d.Queues()[0]
	s := newSink(9000, 1000)
	heldc := make(chan poller.Held, 1)
	startPollers(t, d, func(b *poller.Batch) {
		for i, f := range b.Frames {
			if seq, ok := udpSeq(f.Data, 9000); ok && seq == 0 {
				heldc <- b.Hold(i)
			}
		}
		s.handle(b)
	})
	c := labtest.UDPSender(t, l, 9000)
	labtest.SendPaced(t, c, 1, 64, 0, s.count.Load, 0, 1)
	h := <-heldc
	labtest.WaitFor(t, "the first datagram", func() bool { return s.count.Load() == 1 })
	// Later blocks are walked, released and given back; the held one
	// stays out. (Not a full lap: the kernel would freeze at the held
	// block and drop until it comes back.)
	for round := 1; round < 6; round++ {
		labtest.SendPaced(t, c, 40, 64, 20, s.count.Load, uint64(round*40), 1)
		labtest.WaitFor(t, "a round of datagrams", func() bool { return s.count.Load() == uint64(round*40+1) })
		time.Sleep(3 * time.Millisecond) // let the block retire
	}
	labtest.WaitFor(t, "one block held", func() bool { return q.Stats().Buffers.Held == 1 })
	if r := q.Stats().Refilled; r < 5 {
		t.Fatalf("%d blocks given back, want at least one per round", r)
	}
	time.Sleep(10 * time.Millisecond)
	if b := q.Stats().Buffers; b.Held != 1 || b.Kernel != b.Total-1 {
		t.Fatalf("ledger with one frame held: %+v, want exactly one block held", b)
	}
	if seq, ok := udpSeq(h.Data(), 9000); !ok || seq != 0 || !labtest.PayloadOK(h.Data()[14+20+8:], 0) {
		t.Fatalf("held frame changed under us: seq %d ok %v", seq, ok)
	}
	done := make(chan struct{})
	go func() { h.Release(); close(done) }()
	<-done
	labtest.WaitFor(t, "the held block to go back", func() bool { return q.Stats().Buffers.Held == 0 })
	if s.dups.Load() != 0 || s.corrupt.Load() != 0 {
		t.Fatalf("dups %d corrupt %d", s.dups.Load(), s.corrupt.Load())
	}
}

// TestReleaseAfterClose closes the device while the application holds a
// frame: the ring stays mapped until the frame is released, from any
// goroutine, and then the ledger is whole. Bad releases are counted.
func TestReleaseAfterClose(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	var d *afpacket.Device
	if err := lab.InNS(l.DUTNS, func() (err error) {
		d, err = afpacket.Open(l.DUTIf, afpacket.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	q := d.Queues()[0]
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 64)
	for i := 0; i < 3; i++ {
		write(t, c, labtest.Payload(buf, uint64(i)))
	}
	frames := make([]driver.Frame, 8)
	var got []driver.Frame
	labtest.WaitFor(t, "three frames", func() bool {
		if err := q.Wait(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		n := q.Receive(frames)
		got = append(got, frames[:n]...)
		return len(got) >= 3
	})
	q.Release(got[:1])
	q.Release(got[:1])                           // double release
	q.Release([]driver.Frame{{Handle: 1 << 40}}) // no such block
	held := q.Stats().Buffers.Held
	if b := q.Stats().Buffers; b.BadRelease != 1 || b.Foreign != 1 || b.Held < 1 {
		t.Fatalf("ledger %+v, want one bad and one foreign release and a block held", b)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
	if b := q.Stats().Buffers; b.Held != held || b.Free != b.Total-held {
		t.Fatalf("ledger after close with frames held: %+v", b)
	}
	// The views are still valid.
	for i, f := range got[1:] {
		if seq, ok := udpSeq(f.Data, 9000); !ok || seq != uint64(i+1) {
			t.Fatalf("frame %d after close: seq %d ok %v", i+1, seq, ok)
		}
	}
	var wg sync.WaitGroup
	for _, f := range got[1:] {
		wg.Add(1)
		go func() { defer wg.Done(); q.Release([]driver.Frame{f}) }()
	}
	wg.Wait()
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
	if b := q.Stats().Buffers; b.Held != 0 || b.Free != b.Total {
		t.Fatalf("ledger after the last release: %+v", b)
	}
	if err := q.Wait(time.Millisecond); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Wait after Close: %v, want net.ErrClosed", err)
	}
}

// TestWaitSleepsWhileHolding checks that Wait sleeps while the application
// holds a frame and nothing new arrives. poll(2) on the socket reports
// POLLIN all that time (the block before the kernel's current one is
// user-owned), so a level-triggered wait would spin.
func TestWaitSleepsWhileHolding(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	d := open(t, l, afpacket.Options{})
	q := d.Queues()[0]
	write(t, labtest.UDPSender(t, l, 9000), make([]byte, 64))
	frames := make([]driver.Frame, 4)
	var got []driver.Frame
	labtest.WaitFor(t, "a frame", func() bool {
		if err := q.Wait(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		n := q.Receive(frames)
		got = append(got, frames[:n]...)
		return len(got) > 0
	})
	defer q.Release(got)
	fds := []unix.PollFd{{Fd: int32(q.FD()), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 0); n != 1 {
		t.Logf("poll(2) no longer reports the held block (revents %#x)", fds[0].Revents)
	}
	// The block's retirement may still be pending as an edge if the
	// frame was received without sleeping: take it.
	if err := q.Wait(0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		if err := q.Wait(50 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 40*time.Millisecond {
			t.Fatalf("Wait returned after %v with nothing new to receive", took)
		}
	}
}

func TestCloseWhilePolling(t *testing.T) {
	l := labtest.New(t, lab.Config{Queues: 2})
	neighbor(t, l)
	c := labtest.UDPSender(t, l, 9000)
	before := labtest.FDCount(t)
	for round := 0; round < 3; round++ {
		var d *afpacket.Device
		if err := lab.InNS(l.DUTNS, func() (err error) {
			d, err = afpacket.Open(l.DUTIf, afpacket.Options{})
			return err
		}); err != nil {
			t.Fatalf("round %d: open: %v", round, err)
		}
		if len(d.Queues()) != 2 {
			t.Fatalf("default opened %d sockets on a 2-queue interface", len(d.Queues()))
		}
		s := newSink(9000, 100)
		var ps []*poller.Poller
		for _, q := range d.Queues() {
			p := poller.New(q, s.handle, poller.Options{})
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		labtest.SendPaced(t, c, 100, 64, 50, s.count.Load, 0, 1)
		labtest.WaitFor(t, "100 datagrams", func() bool { return s.count.Load() == 100 })
		// Close with the pollers still running: Close must wake them
		// and wait out their current call.
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		for _, p := range ps {
			select {
			case <-p.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("poller still running 5s after Close")
			}
			if err := p.Stop(); err != nil {
				t.Fatalf("poller after Close: %v", err)
			}
		}
		checkLedgers(t, d)
		if after := labtest.FDCount(t); after != before {
			t.Fatalf("round %d: %d fds open, %d before", round, after, before)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	for _, tc := range []struct {
		name, ifname string
		opts         afpacket.Options
		want         string
	}{
		{"missing interface", "rxp-nope0", afpacket.Options{}, "no such network interface"},
		{"block size", l.DUTIf, afpacket.Options{BlockSize: 3 << 12}, "power-of-two"},
		{"frame size", l.DUTIf, afpacket.Options{FrameSize: 1000}, "frame size"},
		{"fanout mode", l.DUTIf, afpacket.Options{Fanout: 7}, "fanout mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := lab.InNS(l.DUTNS, func() error {
				d, err := afpacket.Open(tc.ifname, tc.opts)
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
	t.Run("MTU too large for the block", func(t *testing.T) {
		if err := l.SetMTU(9000); err != nil {
			t.Fatal(err)
		}
		defer l.SetMTU(1500)
		before := labtest.FDCount(t)
		err := lab.InNS(l.DUTNS, func() error {
			d, err := afpacket.Open(l.DUTIf, afpacket.Options{BlockSize: 8 << 10})
			if err == nil {
				d.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "MTU 9000") {
			t.Fatalf("error %v, want one naming the MTU", err)
		}
		if after := labtest.FDCount(t); after != before {
			t.Fatalf("failed Open left %d fds, %d before", after, before)
		}
	})
}

// TestLatency measures how long a frame waits for its block to retire at a
// low rate, where the block timeout, not a full block, hands it over. The
// bound is the design's (the default 1ms timeout), but a machine busy with
// other work can starve the poller or the kernel's softirq for far longer,
// so a run that misses it is repeated, up to three runs.
func TestLatency(t *testing.T) {
	var meds []time.Duration
	for run := 0; run < 3; run++ {
		med := measureLatency(t)
		if med < 2*time.Millisecond {
			return
		}
		meds = append(meds, med)
	}
	t.Fatalf("median latency %v in three runs, want < 2ms", meds)
}

func measureLatency(t *testing.T) time.Duration {
	const (
		rate = 1000
		dur  = 2 * time.Second
		n    = int(rate * dur / time.Second)
	)
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	// At this rate each block retires by timeout with a frame or two in
	// it, so the ring holds BlockCount milliseconds of traffic whatever
	// the block size. Many small blocks let a poller starved of CPU catch
	// up instead of freezing the ring; the latency depends only on the
	// block timeout, which is the default.
	var d *afpacket.Device
	if err := lab.InNS(l.DUTNS, func() (err error) {
		d, err = afpacket.Open(l.DUTIf, afpacket.Options{BlockSize: 16 << 10, BlockCount: 1024})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		checkLedgers(t, d)
	}()
	lat := make([]time.Duration, n)
	var got, recorded atomic.Int64
	p := poller.New(d.Queues()[0], func(b *poller.Batch) {
		now := time.Now().UnixNano()
		for _, f := range b.Frames {
			_, pl, ok := udp(f.Data)
			if !ok || len(pl) < 8 {
				continue
			}
			if i := got.Add(1) - 1; i < int64(n) {
				lat[i] = time.Duration(now - int64(binary.BigEndian.Uint64(pl)))
				recorded.Add(1)
			}
		}
	}, poller.Options{})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		binary.BigEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
		write(t, c, buf)
	}
	var st poller.Stats
	labtest.WaitFor(t, "every datagram to arrive or be counted as dropped", func() bool {
		st = p.Stats()
		return recorded.Load()+int64(st.Dropped()) >= int64(n)
	})
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	m := int(recorded.Load())
	if m < n*9/10 {
		t.Fatalf("only %d of %d datagrams arrived: %+v", m, n, st.Driver)
	}
	lat = lat[:m]
	slices.Sort(lat)
	med := lat[m/2]
	t.Logf("latency at %d pps for %v, block timeout %v: median %v, p90 %v, p99 %v, max %v (%d of %d arrived; %d waits, %d woke with a block)",
		rate, dur, afpacket.DefaultBlockTimeout, med, lat[m*9/10], lat[m*99/100], lat[m-1], m, n, st.Driver.Waits, st.Driver.Wakeups)
	return med
}

// TestPollZeroAllocs checks that the steady-state poll loop over a real
// socket allocates nothing per frame.
func TestPollZeroAllocs(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	// A long block timeout, so that blocks fill by size however slowly
	// the sender writes (the race detector slows it down).
	d := open(t, l, afpacket.Options{BlockTimeout: 50 * time.Millisecond})
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
		write(t, c, labtest.Payload(buf, uint64(i)))
	}
	time.Sleep(100 * time.Millisecond) // let the last block retire
	p.Poll()                           // warm up
	before := frames
	allocs := testing.AllocsPerRun(10, func() { p.Poll() })
	if frames-before < 1000 {
		t.Fatalf("only %d frames processed during the measurement", frames-before)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per poll round of up to 300 frames, want 0", allocs)
	}
	if st := d.Queues()[0].Stats(); st.Kernel.RxDropped != 0 {
		t.Fatalf("kernel dropped %d", st.Kernel.RxDropped)
	}
}

// TestRingFullCounted: with nobody reading, the ring fills, the kernel
// freezes the queue and counts every later frame in tp_drops
// (kernel.rx_dropped) and the freeze in tp_freeze_q_cnt
// (kernel.rx_freeze_q_cnt). Every frame the filter let in is either in
// the ring (the first ones, in order) or counted; once the ring is drained
// receive resumes.
func TestRingFullCounted(t *testing.T) {
	const n = 1000
	const port = 9000
	l := labtest.New(t, lab.Config{})
	neighbor(t, l)
	// A small ring (four 4 KiB blocks, a few dozen frames each), and only
	// our datagrams let in, so that the count is exact.
	d := open(t, l, afpacket.Options{BlockSize: 4096, BlockCount: 4, SocketFilter: udpPortFilter(t, port)})
	q := d.Queues()[0]
	c := labtest.UDPSender(t, l, port)
	// Stay at most 200 datagrams, more than the ring holds, ahead of what
	// the kernel has counted as dropped: the veth's backlog (1000) never
	// overflows, so nothing is lost before the socket.
	dropped := func() uint64 { return q.Stats().Kernel.RxDropped }
	labtest.SendPaced(t, c, n, 64, 200, dropped, 0, 1)
	// Then read the ring, once the last block has retired (1 ms).
	time.Sleep(20 * time.Millisecond)
	var held []uint64
	labtest.WaitFor(t, "every datagram in the ring or dropped", func() bool {
		drainRing(t, q, port, &held)
		return uint64(len(held))+dropped() >= n
	})
	st := q.Stats()
	if uint64(len(held))+st.Kernel.RxDropped != n || st.Kernel.RxDropped == 0 || st.Kernel.RxFrozen == 0 || st.RxInvalid != 0 || st.RxTrunc != 0 {
		t.Fatalf("ring held %d + dropped %d != sent %d, or no drop or freeze counted: %+v", len(held), st.Kernel.RxDropped, n, st)
	}
	// TPACKET_V3 freezes at the first frame that finds no block, and
	// drops everything after until a block comes back: what it held is
	// the first datagrams, in order.
	for i, s := range held {
		if s != uint64(i) {
			t.Fatalf("the ring held %v; want 0..%d in order", held, len(held)-1)
		}
	}
	t.Logf("ring held %d of %d (first %d, last %d); rx_dropped %d, rx_freeze_q_cnt %d",
		len(held), n, held[0], held[len(held)-1], st.Kernel.RxDropped, st.Kernel.RxFrozen)
	// Drained and given back: receive resumes, and nothing more drops.
	var seqs []uint64
	labtest.SendPaced(t, c, 50, 64, 20, func() uint64 { drainRing(t, q, port, &seqs); return uint64(len(seqs)) }, n, 1)
	labtest.WaitFor(t, "the datagrams after the drain", func() bool { drainRing(t, q, port, &seqs); return len(seqs) >= 50 })
	for i, s := range seqs {
		if s != uint64(n+i) {
			t.Fatalf("after the drain got seq %v; want %d.. in order", seqs, n)
		}
	}
	if got := q.Stats().Kernel.RxDropped; got != st.Kernel.RxDropped {
		t.Fatalf("rx_dropped %d after the drain, was %d", got, st.Kernel.RxDropped)
	}
}

// drainRing receives every frame ready on q, checks each is a datagram
// to port, appends its sequence number to seqs and releases it.
func drainRing(t *testing.T, q *afpacket.Queue, port uint16, seqs *[]uint64) {
	t.Helper()
	frames := make([]driver.Frame, 64)
	for {
		k := q.Receive(frames)
		if k == 0 {
			return
		}
		for _, f := range frames[:k] {
			seq, ok := udpSeq(f.Data, port)
			if !ok {
				t.Fatalf("a frame the filter should have refused: %x", f.Data)
			}
			*seqs = append(*seqs, seq)
		}
		q.Release(frames[:k])
		q.Refill()
	}
}
