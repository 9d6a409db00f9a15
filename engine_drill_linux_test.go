package rxpath_test

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/umem"
)

// Fault drills (issue 8, drills 4 to 8): each one runs the engine with the
// AF_XDP driver on the DUT end of a veth lab, its poller pinned to CPU 1,
// with the peer's kernel sending from CPU 0 (on veth the kernel's receive
// work, XDP included, runs on the sending CPU). Each drill drives one
// failure, checks that it is counted where the docs say, that receive
// recovers, and that every UMEM frame is back in the ledger at Close.

const (
	pollerCPU = 1
	senderCPU = 0
)

// xdpDriver selects the AF_XDP driver with options xo.
func xdpDriver(xo afxdp.Options) auto.Options { return auto.Options{Kind: driver.XDP, XDP: xo} }

// startXDP starts the engine on l's DUT end, inside its namespace, with
// the AF_XDP driver and the poller pinned to pollerCPU. A cleanup closes
// it if the test has not (Close is idempotent).
func startXDP(t *testing.T, l *lab.Lab, xo afxdp.Options, o rxpath.Config) *rxpath.Node {
	t.Helper()
	o.Interface = l.DUTIf
	o.Driver = xdpDriver(xo)
	o.CPUs = []int{pollerCPU}
	if o.Handler == nil {
		o.Handler = func(*poller.Batch) {} // count only
	}
	var e *rxpath.Node
	if err := lab.InNS(l.DUTNS, func() (err error) {
		e, err = rxpath.Open(o)
		return err
	}); err != nil {
		t.Fatalf("engine start: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// closeXDP closes e and checks that Close balanced every ledger (every
// frame free, none released twice or foreign) and detached the program.
func closeXDP(t *testing.T, l *lab.Lab, e *rxpath.Node) {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatalf("engine close: %v", err)
	}
	f := e.Final()
	if f.LedgerErr != "" {
		t.Errorf("ledger error at close: %s", f.LedgerErr)
	}
	for _, q := range f.Queues {
		if b := q.Driver.Buffers; b.Free != b.Total || b.BadRelease != 0 || b.Foreign != 0 {
			t.Errorf("queue %d ledger after close: %+v, want every frame free", q.Queue, b)
		}
	}
	if labtest.XDPAttached(t, l) {
		t.Errorf("an XDP program is still attached to %s after close", l.DUTIf)
	}
}

// queueStats returns the only queue's poller and driver counters.
func queueStats(e *rxpath.Node) poller.Stats { return e.Pollers()[0].Stats() }

// checkLedger checks that the ledger accounts for every frame while the
// engine runs: free + kernel + held + tx = total.
func checkLedger(t *testing.T, what string, b driver.Buffers) {
	t.Helper()
	if b.Free+b.Kernel+b.Held+b.Tx != b.Total || b.BadRelease != 0 || b.Foreign != 0 {
		t.Errorf("%s: ledger %+v does not add up", what, b)
	}
}

// peerSender returns a kernel UDP socket on the peer to the DUT's port,
// with a static neighbour entry so that no datagram waits for ARP.
func peerSender(t *testing.T, l *lab.Lab, port int) *net.UDPConn {
	t.Helper()
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	return labtest.UDPSender(t, l, port)
}

// fromPeerCPU runs fn on a thread pinned to senderCPU and waits for it.
func fromPeerCPU(t *testing.T, fn func()) {
	t.Helper()
	if err := labtest.OnCPU(senderCPU, fn)(); err != nil {
		t.Fatalf("pin sender: %v", err)
	}
}

// never is a received count for labtest.SendPaced that never advances:
// with a window of n it sends all n datagrams without waiting.
func never() uint64 { return 0 }

// waitStable waits until v has not changed for 200ms (at most 10 seconds)
// and returns its last value: long enough for a poller preempted by other
// work on a busy machine to come back to a backlog.
func waitStable(v func() uint64) uint64 {
	last, since := v(), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
		if cur := v(); cur != last {
			last, since = cur, time.Now()
		} else if time.Since(since) > 200*time.Millisecond {
			break
		}
	}
	return last
}

// TestDrillFillRingStarved (drill 4): a handler that holds every frame
// exhausts the UMEM. The fill ring runs dry, so the kernel drops what
// follows and counts it in rx_fill_ring_empty_descs; the ledger still
// accounts for every frame. Once the held frames are released, receive
// resumes, and at Close every frame is back.
func TestDrillFillRingStarved(t *testing.T) {
	const (
		port      = 9000
		frames    = 256
		txFrames  = 32
		rxFrames  = frames - txFrames // the receive partition
		starved   = 300               // sent while every frame is held
		recovered = 300               // sent after the release
		size      = 64
	)
	l := labtest.New(t, lab.Config{})
	c := peerSender(t, l, port)
	s := labtest.NewSink(port, rxFrames+starved+recovered)
	var (
		mu   sync.Mutex
		held []poller.Held
		hold atomic.Bool
	)
	hold.Store(true)
	e := startXDP(t, l, afxdp.Options{UMEM: umem.Options{FrameCount: frames, TxFrames: txFrames}}, rxpath.Config{
		Handler: func(b *poller.Batch) {
			s.Handle(b)
			if !hold.Load() {
				return
			}
			mu.Lock()
			for i := range b.Frames {
				held = append(held, b.Hold(i))
			}
			mu.Unlock()
		},
	})

	// Fill the UMEM: every receive frame ends up held.
	fromPeerCPU(t, func() { labtest.SendPaced(t, c, rxFrames, size, rxFrames, never, 0, 1) })
	labtest.WaitFor(t, "every receive frame held", func() bool { return queueStats(e).Driver.Buffers.Held == rxFrames })
	st := queueStats(e)
	b := st.Driver.Buffers
	checkLedger(t, "all held", b)
	if b.Kernel != 0 || b.Free != txFrames || st.Held != rxFrames || s.Count.Load() != rxFrames {
		t.Fatalf("after %d frames: ledger %+v, poller held %d, sink %d; want all %d receive frames held, none with the kernel",
			rxFrames, b, st.Held, s.Count.Load(), rxFrames)
	}
	emptyBefore, droppedBefore := st.Driver.Kernel.RxFillRingEmpty, st.Dropped()
	vethBefore := labtest.PeerTxDropped(t, l)

	// Starve: nothing more can be received; the kernel counts the drops.
	fromPeerCPU(t, func() { labtest.SendPaced(t, c, starved, size, starved, never, rxFrames, 1) })
	empty := waitStable(func() uint64 { return queueStats(e).Driver.Kernel.RxFillRingEmpty })
	st = queueStats(e)
	checkLedger(t, "starved", st.Driver.Buffers)
	fillEmpty, dropped := empty-emptyBefore, st.Dropped()-droppedBefore
	// Frames veth itself dropped (its XDP ring full while softirq was
	// held off) never reached the socket: they are veth's to count.
	veth := labtest.PeerTxDropped(t, l) - vethBefore
	t.Logf("starved: %d sent with all %d receive frames held: rx_fill_ring_empty_descs +%d, rx_dropped %d, Stats.Dropped() +%d, veth drops %d, poller processed %d, ledger %+v",
		starved, rxFrames, fillEmpty, st.Driver.Kernel.RxDropped, dropped, veth, st.Processed, st.Driver.Buffers)
	if s.Count.Load() != rxFrames || st.Processed != rxFrames {
		t.Errorf("received %d (poller %d) while starved, want still %d", s.Count.Load(), st.Processed, rxFrames)
	}
	if fillEmpty == 0 || fillEmpty+veth != starved {
		t.Errorf("rx_fill_ring_empty_descs rose by %d (veth dropped %d), want %d: one per frame dropped for want of a fill entry",
			fillEmpty, veth, starved)
	}
	// Copy mode counts each of these drops in rx_dropped too; the
	// poller's total must count each lost frame once.
	if dropped != fillEmpty {
		t.Errorf("poller Stats.Dropped() rose by %d for %d frames dropped on an empty fill ring: want each counted once", dropped, fillEmpty)
	}

	// Release everything (from this goroutine, not the poller's): the
	// poller takes the frames back and refills.
	hold.Store(false)
	mu.Lock()
	released := len(held)
	rel := time.Now()
	for _, h := range held {
		h.Release()
	}
	held = nil
	mu.Unlock()
	if released != rxFrames {
		t.Fatalf("held %d frames, want %d", released, rxFrames)
	}
	labtest.WaitFor(t, "held frames back and posted to the fill ring", func() bool {
		b := queueStats(e).Driver.Buffers
		return b.Held == 0 && b.Kernel > 0
	})
	refill := time.Since(rel)
	checkLedger(t, "released", queueStats(e).Driver.Buffers)

	// Receive resumes: every frame sent now arrives.
	base := s.Count.Load()
	fromPeerCPU(t, func() {
		labtest.SendPaced(t, c, recovered, size, 64, func() uint64 { return s.Count.Load() - base }, rxFrames+starved, 1)
	})
	labtest.WaitFor(t, "frames after the release", func() bool { return s.Count.Load() == base+recovered })
	st = queueStats(e)
	t.Logf("recovered: %d released, back in the fill ring after %v; %d of %d sent afterwards received; rx_fill_ring_empty_descs total %d",
		released, refill.Round(time.Microsecond), s.Count.Load()-base, recovered, st.Driver.Kernel.RxFillRingEmpty)
	// Exactly the starved frames are missing.
	if s.Missing() != starved || s.Dups.Load() != 0 || s.Corrupt.Load() != 0 || s.Other.Load() != 0 {
		t.Errorf("sink: missing %d (want %d), dups %d, corrupt %d, other %d",
			s.Missing(), starved, s.Dups.Load(), s.Corrupt.Load(), s.Other.Load())
	}
	if st.Driver.Kernel.RxFillRingEmpty != empty {
		t.Errorf("rx_fill_ring_empty_descs rose from %d to %d after the release", empty, st.Driver.Kernel.RxFillRingEmpty)
	}
	closeXDP(t, l, e)
}

// TestDrillRxRingOverflow (drill 5): a handler that sleeps on every batch
// lets the rx ring fill; the kernel drops the overflow and counts it in
// rx_ring_full. When the handler speeds up, the backlog drains and a
// bounded burst paced below the ring's size arrives whole, without a
// single further drop, many times faster than the slow handler ran.
func TestDrillRxRingOverflow(t *testing.T) {
	const (
		slowPort, fastPort = 9000, 9001
		ring               = 256
		weight             = 16
		nap                = 20 * time.Millisecond // per batch: at most 800 frames/s
		blast              = 5000
		burst              = 20000
		window             = ring / 2
		size               = 64
	)
	l := labtest.New(t, lab.Config{})
	slowC := peerSender(t, l, slowPort)
	fastC := labtest.UDPSender(t, l, fastPort)
	s1, s2 := labtest.NewSink(slowPort, blast), labtest.NewSink(fastPort, burst)
	var slow atomic.Bool
	slow.Store(true)
	e := startXDP(t, l, afxdp.Options{RxSize: ring}, rxpath.Config{
		Poller: poller.Options{Weight: weight},
		Handler: func(b *poller.Batch) {
			if slow.Load() {
				time.Sleep(nap)
			}
			s1.Handle(b)
			s2.Handle(b)
		},
	})

	// Blast far more than the slow handler can take.
	vethBefore := labtest.PeerTxDropped(t, l)
	fromPeerCPU(t, func() { labtest.SendPaced(t, slowC, blast, size, blast, never, 0, 1) })
	// The ring holds a backlog now; measure the slow handler's rate
	// while it works through it.
	p0, t0 := queueStats(e).Processed, time.Now()
	time.Sleep(8 * nap)
	slowRate := float64(queueStats(e).Processed-p0) / time.Since(t0).Seconds()
	st := queueStats(e)
	ringFull := st.Driver.Kernel.RxRingFull
	t.Logf("slow: %d blasted into a %d-entry ring: rx_ring_full %d, processed %d so far, ring level %d/%d, slow handler %.0f frames/s",
		blast, ring, ringFull, st.Processed, st.Driver.RxRingLevel, st.Driver.RxRingSize, slowRate)
	if ringFull == 0 {
		t.Fatalf("no rx_ring_full drops with a %d-entry ring, %d frames blasted and a handler napping %v per batch", ring, blast, nap)
	}

	// Speed up: the backlog drains and nothing more is dropped.
	slow.Store(false)
	got1 := waitStable(s1.Count.Load)
	st = queueStats(e)
	ringFull = st.Driver.Kernel.RxRingFull
	veth := labtest.PeerTxDropped(t, l) - vethBefore
	t.Logf("slow phase total: %d of %d received, rx_ring_full %d, other drops %d (rx_dropped %d, fill empty %d), veth drops %d",
		got1, blast, ringFull, st.Dropped()-ringFull, st.Driver.Kernel.RxDropped, st.Driver.Kernel.RxFillRingEmpty, veth)
	// Every frame is received or counted: by the socket as ring-full,
	// or by veth before XDP saw it.
	if got1 == 0 || got1+st.Dropped()+veth != blast || st.Dropped() != ringFull {
		t.Errorf("received %d, ring-full drops %d, all drops %d, veth drops %d: want them to add up to the %d sent, all ring-full",
			got1, ringFull, st.Dropped(), veth, blast)
	}
	if s1.Dups.Load() != 0 || s1.Corrupt.Load() != 0 {
		t.Errorf("slow phase: %d dups, %d corrupt", s1.Dups.Load(), s1.Corrupt.Load())
	}

	// A bounded burst, never more than window (half the ring) ahead of
	// the handler: it must arrive whole, with no new drop.
	start := time.Now()
	fromPeerCPU(t, func() { labtest.SendPaced(t, fastC, burst, size, window, s2.Count.Load, 0, 1) })
	labtest.WaitFor(t, "the whole burst", func() bool { return s2.Count.Load() >= burst })
	fastRate := float64(burst) / time.Since(start).Seconds()
	st = queueStats(e)
	t.Logf("fast: %d of %d received at %.0f frames/s (%.0fx the slow handler), rx_ring_full %d -> %d",
		s2.Count.Load(), burst, fastRate, fastRate/slowRate, ringFull, st.Driver.Kernel.RxRingFull)
	if s2.Count.Load() != burst || s2.Missing() != 0 || s2.Dups.Load() != 0 || s2.Corrupt.Load() != 0 {
		t.Errorf("burst: received %d of %d, missing %d, dups %d, corrupt %d",
			s2.Count.Load(), burst, s2.Missing(), s2.Dups.Load(), s2.Corrupt.Load())
	}
	if st.Driver.Kernel.RxRingFull != ringFull {
		t.Errorf("rx_ring_full rose from %d to %d during a burst paced at half the ring", ringFull, st.Driver.Kernel.RxRingFull)
	}
	// The slow handler is capped at weight/nap frames a second; anything
	// near that means the poller never got back to speed.
	if fastRate < 4*slowRate {
		t.Errorf("burst received at %.0f frames/s, not even 4x the slow handler's %.0f", fastRate, slowRate)
	}
	checkLedger(t, "after the burst", st.Driver.Buffers)
	closeXDP(t, l, e)
}

// dontFragment makes the peer's kernel refuse (EMSGSIZE) rather than
// fragment a datagram too large for the route, so that every datagram it
// accepts leaves as one frame of payload+42 bytes.
func dontFragment(t *testing.T, c *net.UDPConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("IP_MTU_DISCOVER: %v", os.NewSyscallError("setsockopt", serr))
	}
}

// sendFrames sends one datagram per entry of lens, each making an
// Ethernet frame of that length, with sequence numbers from first.
func sendFrames(t *testing.T, c *net.UDPConn, lens []int, first uint64) {
	t.Helper()
	const overhead = 14 + 20 + 8
	buf := make([]byte, 65536)
	for i, n := range lens {
		for {
			_, err := c.Write(labtest.Payload(buf[:n-overhead], first+uint64(i)))
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				t.Errorf("send a %d-byte frame: %v", n, err)
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// TestDrillOversizeFrames (drill 7): with the MTU above what a UMEM frame
// holds, the kernel drops each frame too long for one frame (AF_XDP
// without multi-buffer) and counts it in rx_dropped; the normal frames
// that follow, up to exactly the frame's usable size, arrive intact.
func TestDrillOversizeFrames(t *testing.T) {
	const (
		bigPort, okPort = 9000, 9001
		frameSize       = umem.FrameSize2K
		mtu             = 3000
		rounds          = 50
	)
	l := labtest.New(t, lab.Config{MTU: mtu})
	bigC := peerSender(t, l, bigPort)
	okC := labtest.UDPSender(t, l, okPort)
	dontFragment(t, bigC)
	dontFragment(t, okC)

	maxLen := frameSize - umem.KernelHeadroom // 1792
	wire := mtu + 14                          // the longest frame the MTU allows
	bigLens := []int{maxLen + 1, 2500, wire}
	okLens := []int{60, 1000, maxLen}
	var big, ok []int
	for range rounds {
		big = append(big, bigLens...)
		ok = append(ok, okLens...)
	}
	sBig, sOK := labtest.NewSink(bigPort, len(big)), labtest.NewSink(okPort, len(ok))
	var lenOK atomic.Uint64 // frames on okPort with the length they were sent with
	e := startXDP(t, l, afxdp.Options{Attach: afxdp.AttachGeneric, UMEM: umem.Options{FrameSize: frameSize}}, rxpath.Config{
		Handler: func(b *poller.Batch) {
			sBig.Handle(b)
			sOK.Handle(b)
			for _, f := range b.Frames {
				if seq, isOK := labtest.UDPSeq(f.Data, okPort); isOK && len(f.Data) == okLens[seq%uint64(len(okLens))] {
					lenOK.Add(1)
				}
			}
		},
	})
	if got := auto.XDP(e.Device()).Queues()[0].UMEM().MaxFrameLen(); got != maxLen {
		t.Fatalf("UMEM MaxFrameLen %d, want %d", got, maxLen)
	}
	t.Logf("device %s, MTU %d, UMEM frame %d: at most %d bytes of frame per UMEM frame", e.Snapshot().Mode, mtu, frameSize, maxLen)
	before := queueStats(e).Driver.Kernel

	fromPeerCPU(t, func() { sendFrames(t, bigC, big, 0) })
	dropped := waitStable(func() uint64 { return queueStats(e).Driver.Kernel.RxDropped }) - before.RxDropped
	st := queueStats(e)
	t.Logf("oversize: %d frames of %v bytes sent: rx_dropped +%d, received %d, rx_invalid %d, other kernel counters %+v",
		len(big), bigLens, dropped, sBig.Count.Load(), st.Driver.RxInvalid, st.Driver.Kernel)
	if dropped != uint64(len(big)) || sBig.Count.Load() != 0 {
		t.Errorf("rx_dropped rose by %d and %d were received; want all %d oversize frames dropped and counted",
			dropped, sBig.Count.Load(), len(big))
	}

	fromPeerCPU(t, func() { sendFrames(t, okC, ok, 0) })
	labtest.WaitFor(t, "the normal frames", func() bool { return sOK.Count.Load() >= uint64(len(ok)) })
	st = queueStats(e)
	t.Logf("normal: %d of %d frames of %v bytes received intact (%d with their sent length)",
		sOK.Count.Load()-sOK.Corrupt.Load(), len(ok), okLens, lenOK.Load())
	if sOK.Count.Load() != uint64(len(ok)) || sOK.Missing() != 0 || sOK.Corrupt.Load() != 0 || sOK.Dups.Load() != 0 ||
		lenOK.Load() != uint64(len(ok)) {
		t.Errorf("normal frames: %d of %d received, missing %d, corrupt %d, dups %d, right length %d",
			sOK.Count.Load(), len(ok), sOK.Missing(), sOK.Corrupt.Load(), sOK.Dups.Load(), lenOK.Load())
	}
	k := st.Driver.Kernel
	if k.RxDropped-before.RxDropped != uint64(len(big)) || k.RxRingFull != before.RxRingFull ||
		k.RxFillRingEmpty != before.RxFillRingEmpty || k.RxInvalidDescs != 0 || st.Driver.RxInvalid != 0 {
		t.Errorf("counters after the normal frames: %+v, rx_invalid %d; want only the %d oversize drops", k, st.Driver.RxInvalid, len(big))
	}
	closeXDP(t, l, e)
}
