package memnic_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/memnic"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/umem"
)

// small are options for quick tests: small rings and a small UMEM, so
// that a slow handler or held frames run them out at once.
func small(o memnic.Options) memnic.Options {
	o.FillSize, o.RxSize, o.TxSize, o.CompSize = 64, 64, 16, 16
	o.UMEM = umem.Options{FrameSize: umem.FrameSize2K, FrameCount: 256, TxFrames: 32}
	return o
}

func newNIC(t *testing.T, o memnic.Options) *memnic.NIC {
	t.Helper()
	n, err := memnic.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// seqChecker checks, on the poller goroutine, that sequence numbers
// arrive in increasing order and counts the gaps.
type seqChecker struct {
	next     uint64
	frames   atomic.Uint64
	gaps     atomic.Uint64 // sequence numbers skipped
	disorder atomic.Uint64
	badFrame atomic.Uint64
	tmpl     []byte
	flows    int
}

func (c *seqChecker) handle(b *poller.Batch) {
	for _, f := range b.Frames {
		seq := binary.BigEndian.Uint64(f.Data[42:])
		switch {
		case seq < c.next:
			c.disorder.Add(1)
		case seq > c.next:
			c.gaps.Add(seq - c.next)
		}
		c.next = seq + 1
		if c.tmpl != nil {
			want := append([]byte(nil), c.tmpl...)
			binary.BigEndian.PutUint64(want[42:], seq)
			if c.flows > 1 {
				port := binary.BigEndian.Uint16(c.tmpl[34:]) + uint16(seq%uint64(c.flows))
				binary.BigEndian.PutUint16(want[34:], port)
			}
			if string(want) != string(f.Data) {
				c.badFrame.Add(1)
			}
		}
	}
	c.frames.Add(uint64(len(b.Frames)))
}

func TestSequence(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    memnic.Options
	}{
		{"default", memnic.Options{Count: 200_000}},
		{"flows", memnic.Options{Count: 50_000, Flows: 7, FirstSeq: 1 << 40}},
		{"small rings", small(memnic.Options{Count: 50_000, Batch: 16})},
		{"2k frames 1514 bytes", memnic.Options{Count: 20_000, UMEM: umem.Options{FrameSize: 2048},
			Frame: mustUDP(t, memnic.UDP{SrcMAC: mac(1), DstMAC: mac(2), Src: ap("10.1.0.1:5"), Dst: ap("10.1.0.2:6"), Len: 1514})}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := newNIC(t, tt.o)
			o := n.Options()
			c := &seqChecker{next: o.FirstSeq, tmpl: o.Frame, flows: o.Flows}
			q := n.Queues()[0]
			p := poller.New(q, c.handle, poller.Options{})
			if err := p.Start(); err != nil { // the first Refill starts the run
				t.Fatal(err)
			}
			select {
			case <-n.Done():
			case <-time.After(30 * time.Second):
				t.Fatalf("run not done after 30s: %+v", n.Stats())
			}
			waitFor(t, 10*time.Second, "every frame", func() bool { return c.frames.Load() == o.Count })
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if err := q.Check(); err != nil {
				t.Fatal(err)
			}
			if c.gaps.Load() != 0 || c.disorder.Load() != 0 || c.badFrame.Load() != 0 {
				t.Errorf("gaps %d, out of order %d, wrong bytes %d", c.gaps.Load(), c.disorder.Load(), c.badFrame.Load())
			}
			if got := n.Sent(); got != o.Count {
				t.Errorf("Sent = %d, want %d", got, o.Count)
			}
			if st.Dropped() != 0 || st.Processed != o.Count || st.Driver.RxFrames != o.Count {
				t.Errorf("poller stats %+v: want %d processed, nothing dropped", st, o.Count)
			}
			b := q.Stats().Buffers
			if b.Free != b.Total || b.BadRelease != 0 || b.Foreign != 0 {
				t.Errorf("after Close buffers %+v, want every frame free", b)
			}
			t.Logf("nic %+v", n.Stats()[0])
		})
	}
}

// TestCloseWhileRunning closes the NIC under a running poller and a
// generating producer: the poller ends cleanly and the ledger balances.
func TestCloseWhileRunning(t *testing.T) {
	for _, rate := range []float64{0, 1e6} {
		n := newNIC(t, memnic.Options{Rate: rate})
		q := n.Queues()[0]
		var frames atomic.Uint64
		p := poller.New(q, func(b *poller.Batch) { frames.Add(uint64(len(b.Frames))) }, poller.Options{})
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "frames", func() bool { return frames.Load() > 10_000 })
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("poller still running 10s after Close")
		}
		if err := p.Err(); err != nil {
			t.Errorf("poller ended with %v, want nil after Close", err)
		}
		if err := q.Check(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-n.Done():
		default:
			t.Error("Close did not end the run")
		}
		if b := q.Stats().Buffers; b.Free != b.Total {
			t.Errorf("rate %v: buffers %+v after Close, want all free", rate, b)
		}
	}
}

// TestZeroAllocs proves that receiving allocates nothing per frame, on
// both sides: the poller's rounds and the producer thread.
func TestZeroAllocs(t *testing.T) {
	n := newNIC(t, memnic.Options{Manual: true})
	q := n.Queues()[0]
	var frames uint64
	p := poller.New(q, func(b *poller.Batch) { frames += uint64(len(b.Frames)) }, poller.Options{})
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	p.Poll() // warm up
	// AllocsPerRun runs with GOMAXPROCS 1: yield to the producer when
	// the ring is empty.
	allocs := testing.AllocsPerRun(200, func() {
		if p.Poll() == 0 {
			runtime.Gosched()
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Poll, want 0", allocs)
	}
	if frames == 0 {
		t.Fatal("no frames received while measuring")
	}

	// And with the poller on its own thread, over a million frames.
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	start := p.Stats().Processed
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	waitFor(t, 30*time.Second, "a million frames", func() bool { return p.Stats().Processed-start >= 1_000_000 })
	runtime.ReadMemStats(&after)
	got := p.Stats().Processed - start
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// waitFor's sleeps and Stats may allocate a little; per frame it
	// must be nothing.
	per := float64(after.Mallocs-before.Mallocs) / float64(got)
	t.Logf("%d allocations over %d frames", after.Mallocs-before.Mallocs, got)
	if per > 1e-4 {
		t.Errorf("%.6f allocations per frame, want 0", per)
	}
}

func TestWaitWakeClose(t *testing.T) {
	n := newNIC(t, memnic.Options{Manual: true})
	q := n.Queues()[0]
	wait := func(d time.Duration) <-chan error {
		c := make(chan error, 1)
		go func() { c <- q.Wait(d) }()
		return c
	}
	expect := func(what string, c <-chan error, want error) {
		t.Helper()
		select {
		case err := <-c:
			if !errors.Is(err, want) {
				t.Fatalf("%s: Wait returned %v, want %v", what, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Wait still blocked after 10s", what)
		}
	}
	idle := func(what string, c <-chan error) {
		t.Helper()
		select {
		case err := <-c:
			t.Fatalf("%s: Wait returned %v with nothing to wake it", what, err)
		case <-time.After(20 * time.Millisecond):
		}
	}

	if err := q.Wait(0); err != nil {
		t.Fatalf("Wait(0) = %v", err)
	}
	start := time.Now()
	if err := q.Wait(5 * time.Millisecond); err != nil {
		t.Fatalf("Wait(5ms) = %v", err)
	}
	if d := time.Since(start); d < 5*time.Millisecond {
		t.Errorf("Wait(5ms) returned after %v", d)
	}

	c := wait(time.Hour)
	idle("wake", c)
	q.Wake()
	expect("Wake", c, nil)

	// The producer's first post raises the interrupt.
	c = wait(time.Hour)
	idle("interrupt", c)
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	expect("interrupt", c, nil)
	if s := q.Stats(); s.Wakeups != 1 || s.Waits < 3 {
		t.Errorf("waits %d wakeups %d, want 1 wakeup", s.Waits, s.Wakeups)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	var frames [64]driver.Frame
	for k := q.Receive(frames[:]); k > 0; k = q.Receive(frames[:]) {
		q.Release(frames[:k])
	}

	c = wait(-1)
	idle("close", c)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	expect("Close", c, net.ErrClosed)
	expect("after Close", wait(time.Hour), net.ErrClosed)
	if err := n.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("queue Close after NIC Close = %v, want nil", err)
	}
	if err := n.Start(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Start after Close = %v, want net.ErrClosed", err)
	}
	if _, err := n.OpenDevice("x", autoOptions()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("OpenDevice after Close = %v, want net.ErrClosed", err)
	}
	if k := q.Receive(frames[:]); k != 0 {
		t.Errorf("Receive after Close = %d", k)
	}
	if k := q.Refill(); k != 0 {
		t.Errorf("Refill after Close = %d", k)
	}
	if k := q.Transmit([][]byte{make([]byte, 60)}); k != 0 {
		t.Errorf("Transmit after Close = %d", k)
	}
	q.Wake() // must not panic or block
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestLoss paces frames at a rate a slow handler cannot take: the rx ring
// fills and the NIC drops, and every frame is accounted for as delivered
// or dropped, with the gaps in the sequence numbers where the drops were.
func TestLoss(t *testing.T) {
	for _, tt := range []struct {
		name string
		// hold keeps every frame of the first batches, so the free
		// list (and so the fill ring) runs dry.
		hold      bool
		wantField func(driver.KernelStats) uint64
	}{
		{"rx ring full", false, func(k driver.KernelStats) uint64 { return k.RxRingFull }},
		{"fill ring empty", true, func(k driver.KernelStats) uint64 { return k.RxFillRingEmpty }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const count = 20_000
			o := small(memnic.Options{Rate: 200_000, Count: count})
			if !tt.hold {
				// Buffers to spare: the fill ring never runs dry
				// before the rx ring fills.
				o.FillSize, o.UMEM.FrameCount = 256, 512
			}
			n := newNIC(t, o)
			q := n.Queues()[0]
			c := &seqChecker{}
			var held []poller.Held
			h := func(b *poller.Batch) {
				c.handle(b)
				if tt.hold {
					if len(held) < 1000 {
						for i := range b.Frames {
							held = append(held, b.Hold(i))
						}
					}
					return
				}
				time.Sleep(time.Millisecond) // at most 64 frames a millisecond
			}
			p := poller.New(q, h, poller.Options{Weight: 64})
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-n.Done():
			case <-time.After(30 * time.Second):
				t.Fatalf("run not done after 30s: %+v", n.Stats())
			}
			waitFor(t, 10*time.Second, "the rx ring to drain", func() bool { return q.Stats().RxRingLevel == 0 })
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			for _, h := range held {
				h.Release()
			}
			st := p.Stats()
			k := st.Driver.Kernel
			if tt.wantField(k) == 0 {
				t.Errorf("no drops counted where expected: %+v", k)
			}
			if tt.hold && k.RxDropped != k.RxFillRingEmpty {
				t.Errorf("rx_dropped %d, want it to count the %d fill-empty drops as AF_XDP copy mode does", k.RxDropped, k.RxFillRingEmpty)
			}
			if got := st.Processed + st.Dropped(); got != count || n.Sent() != count {
				t.Errorf("delivered %d + dropped %d = %d, Sent %d, want %d", st.Processed, st.Dropped(), got, n.Sent(), count)
			}
			// The last drops may come after the last delivered frame.
			if gaps := c.gaps.Load() + (count - c.next); gaps != st.Dropped() {
				t.Errorf("%d sequence numbers missing, %d frames counted as dropped", gaps, st.Dropped())
			}
			if c.disorder.Load() != 0 {
				t.Errorf("%d frames out of order", c.disorder.Load())
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if err := q.Check(); err != nil {
				t.Fatal(err)
			}
			t.Logf("delivered %d, kernel %+v, nic %+v", st.Processed, k, n.Stats()[0])
		})
	}
}

func TestTransmit(t *testing.T) {
	for _, manual := range []bool{true, false} {
		n := newNIC(t, small(memnic.Options{Manual: manual, Rate: 1000}))
		q := n.Queues()[0]
		q.Refill() // starts the NIC unless manual
		f := make([]byte, 60)
		sent := 0
		for range 100 {
			sent += q.Transmit([][]byte{f, f, f})
			time.Sleep(50 * time.Microsecond)
		}
		big := make([]byte, 4096)
		if k := q.Transmit([][]byte{big}); k != 1 {
			t.Errorf("Transmit(oversize) = %d, want it taken and counted", k)
		}
		waitFor(t, 10*time.Second, "completions", func() bool {
			q.Refill()
			s := q.Stats()
			return s.TxCompleted == s.TxFrames
		})
		s := q.Stats()
		if s.TxFrames != uint64(sent) || s.TxOversize != 1 || s.Buffers.Tx != 0 {
			t.Errorf("manual %v: sent %d, stats tx %d oversize %d buffers %+v", manual, sent, s.TxFrames, s.TxOversize, s.Buffers)
		}
		if ns := n.Stats()[0]; ns.TxFrames != uint64(sent) || ns.TxBytes != uint64(60*sent) {
			t.Errorf("manual %v: NIC took %d frames, %d bytes; want %d, %d", manual, ns.TxFrames, ns.TxBytes, sent, 60*sent)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := q.Check(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartStop(t *testing.T) {
	n := newNIC(t, small(memnic.Options{Manual: true, Rate: 100_000}))
	q := n.Queues()[0]
	done := n.Done()
	if err := n.Stop(); err != nil {
		t.Errorf("Stop before Start = %v", err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); !errors.Is(err, memnic.ErrRunning) {
		t.Errorf("second Start = %v, want ErrRunning", err)
	}
	waitFor(t, 10*time.Second, "frames", func() bool { return n.Sent() > 100 })
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	default:
		t.Fatal("Stop did not end the run")
	}
	sent := n.Sent()
	time.Sleep(20 * time.Millisecond)
	if n.Sent() != sent {
		t.Errorf("Sent went from %d to %d after Stop", sent, n.Sent())
	}
	// A new run continues the sequence numbers.
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if n.Done() == done {
		t.Error("a new run kept the old Done channel")
	}
	waitFor(t, 10*time.Second, "frames", func() bool { return n.Sent() > sent+100 })
	n.Stop()
	c := &seqChecker{}
	var frames [64]driver.Frame
	for {
		q.Refill()
		k := q.Receive(frames[:])
		if k == 0 {
			break
		}
		c.handle(&poller.Batch{Frames: frames[:k]})
		q.Release(frames[:k])
	}
	if c.disorder.Load() != 0 {
		t.Errorf("%d frames out of order across runs", c.disorder.Load())
	}
}

func TestQueues(t *testing.T) {
	const count = 10_000
	n := newNIC(t, memnic.Options{Queues: 3, Count: count})
	d := n.Device()
	if len(d.Queues) != 3 || d.Mode != memnic.Mode || d.Kind != driver.XDP || memnic.FromDevice(d) != n {
		t.Fatalf("device %+v", d)
	}
	var ps []*poller.Poller
	var cs []*seqChecker
	for _, q := range d.Queues {
		c := &seqChecker{}
		p := poller.New(q, c.handle, poller.Options{})
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		ps, cs = append(ps, p), append(cs, c)
	}
	<-n.Done()
	for i, c := range cs {
		waitFor(t, 10*time.Second, "frames", func() bool { return c.frames.Load() == count })
		if c.gaps.Load() != 0 || c.disorder.Load() != 0 {
			t.Errorf("queue %d: gaps %d disorder %d", i, c.gaps.Load(), c.disorder.Load())
		}
		ps[i].Stop()
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, q := range d.Queues {
		if err := q.Check(); err != nil {
			t.Error(err)
		}
	}
	if n.Sent() != 3*count {
		t.Errorf("Sent %d, want %d", n.Sent(), 3*count)
	}
}

func TestOptions(t *testing.T) {
	n := newNIC(t, memnic.Options{})
	o := n.Options()
	d := n.Device()
	if d.Name != "memnic0" || d.MAC.String() != "02:00:00:00:00:02" || len(o.Frame) != 60 || o.SeqOffset != 42 {
		t.Errorf("defaults: name %q MAC %v frame %d bytes, seq at %d", d.Name, d.MAC, len(o.Frame), o.SeqOffset)
	}
	// A template's destination MAC is the device's by default.
	f := mustUDP(t, memnic.UDP{SrcMAC: mac(7), DstMAC: mac(8), Src: ap("1.2.3.4:1"), Dst: ap("5.6.7.8:2")})
	if d := newNIC(t, memnic.Options{Frame: f}).Device(); d.MAC.String() != mac(8).String() {
		t.Errorf("MAC %v, want the frame's destination %v", d.MAC, mac(8))
	}

	for _, tt := range []struct {
		name string
		o    memnic.Options
	}{
		{"ring size", memnic.Options{RxSize: 100}},
		{"short frame", memnic.Options{Frame: make([]byte, 10)}},
		{"seq beyond frame", memnic.Options{SeqOffset: 60}},
		{"frame beyond umem frame", memnic.Options{Frame: make([]byte, 1900), UMEM: umem.Options{FrameSize: 2048}}},
		{"rate", memnic.Options{Rate: -1}},
		{"flows on non-UDP", memnic.Options{Flows: 2, Frame: make([]byte, 60)}},
		{"flows beyond ports", memnic.Options{Flows: 2, Frame: mustUDP(t, memnic.UDP{SrcMAC: mac(1), DstMAC: mac(2), Src: ap("1.1.1.1:65535"), Dst: ap("2.2.2.2:1")})}},
		{"queues", memnic.Options{Queues: -1}},
		{"mac", memnic.Options{MAC: net.HardwareAddr{1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := memnic.New(tt.o)
			if err == nil {
				n.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, memnic.ErrInvalid) && tt.name != "ring size" {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			t.Log(err)
		})
	}
	if _, err := memnic.New(memnic.Options{UMEM: umem.Options{FrameSize: 1000}}); !errors.Is(err, umem.ErrInvalid) {
		t.Errorf("bad UMEM options: %v, want umem.ErrInvalid", err)
	}
}

// TestUDPFrame checks that UDPFrame builds the generators' frame and that
// the NIC stamps it as they do.
func TestUDPFrame(t *testing.T) {
	for _, l := range []int{0, 60, 64, 1514} {
		u := memnic.UDP{SrcMAC: mac(1), DstMAC: mac(2), Src: ap("192.168.1.1:1234"), Dst: ap("192.168.1.2:4321"), Len: l}
		got := mustUDP(t, u)
		want, err := traffic.Frame(traffic.Options{SrcMAC: u.SrcMAC, DstMAC: u.DstMAC, Src: u.Src, Dst: u.Dst, FrameLen: l, Flows: 5})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("len %d: UDPFrame differs from traffic.Frame (-want +got):\n%s", l, diff)
		}
	}
	u := memnic.DefaultUDP()
	o := traffic.Options{SrcMAC: u.SrcMAC, DstMAC: u.DstMAC, Src: u.Src, Dst: u.Dst, Flows: 5}
	tmpl, _ := traffic.Frame(o)
	n := newNIC(t, memnic.Options{Manual: true, Count: 100, Flows: 5, FirstSeq: 3})
	q := n.Queues()[0]
	n.Start()
	<-n.Done()
	var frames [100]driver.Frame
	k := q.Receive(frames[:])
	if k != 100 {
		t.Fatalf("received %d frames, want 100", k)
	}
	for i, f := range frames[:k] {
		want := append([]byte(nil), tmpl...)
		traffic.Stamp(want, o, uint64(3+i))
		if diff := cmp.Diff(want, f.Data); diff != "" {
			t.Fatalf("frame %d differs from traffic.Stamp's (-want +got):\n%s", i, diff)
		}
	}
	q.Release(frames[:k])
}

func mustUDP(t *testing.T, u memnic.UDP) []byte {
	t.Helper()
	f, err := memnic.UDPFrame(u)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mac(b byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, b} }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestRateDuration checks that a paced run offers Rate frames a second and
// ends after Duration.
func TestRateDuration(t *testing.T) {
	const rate, d = 100_000, 200 * time.Millisecond
	n := newNIC(t, memnic.Options{Rate: rate, Duration: d})
	q := n.Queues()[0]
	var frames atomic.Uint64
	p := poller.New(q, func(b *poller.Batch) { frames.Add(uint64(len(b.Frames))) }, poller.Options{})
	start := time.Now()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("run not done 10s after a 200ms Duration")
	}
	el := time.Since(start)
	sent := n.Sent()
	// Never ahead of the clock; behind only if the thread was starved.
	if max := uint64(rate*d.Seconds()) + 64; sent > max || sent < max/2 {
		t.Errorf("sent %d frames in a %v run at %d/s (ended after %v)", sent, d, rate, el)
	}
	if el < d {
		t.Errorf("run ended after %v, before its %v", el, d)
	}
	waitFor(t, 10*time.Second, "every frame", func() bool { return frames.Load()+p.Stats().Dropped() == sent })
}

// TestProcs checks that a NIC lends the runtime a P per producer while it
// is open, and takes them back.
func TestProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	n := newNIC(t, memnic.Options{Queues: 2, Manual: true})
	if got := runtime.GOMAXPROCS(0); got != before+2 {
		t.Errorf("GOMAXPROCS %d with a 2-queue NIC open, want %d", got, before+2)
	}
	k := newNIC(t, memnic.Options{KeepProcs: true, Manual: true})
	if got := runtime.GOMAXPROCS(0); got != before+2 {
		t.Errorf("GOMAXPROCS %d after a KeepProcs NIC, want %d", got, before+2)
	}
	n.Close()
	n.Close()
	k.Close()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d after Close, want %d", got, before)
	}
}
