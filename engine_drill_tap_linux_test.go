package rxpath_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
	"github.com/rxpath/rxpath/umem"
)

// tapRun is what one run of the stuck-tap drill measured.
type tapRun struct {
	processed uint64  // frames the poller handed to the handler
	delivered uint64  // datagrams that reached the sink (raw handler or UDP socket)
	corrupt   uint64  // of those, with a damaged payload
	rate      float64 // processed per second of sending (set by the sender; logged only)
	tap       *tap.Stats
}

// TestDrillStuckTap (drill 6): a tap whose output is a pipe nobody reads
// must not slow receive down. The same open-loop paced traffic runs
// through a node without a tap and through one with the stuck tap, on the
// two wirings the tap has (rxpath.Config.Handler, where the facade offers
// each frame to the tap before the handler, and the stack, whose Handler
// offers it before parsing): the poller takes at least 0.9 as many frames
// with the tap as without it, and the tap counts the frames it could not
// queue as Dropped instead of blocking. A tap that blocked would stop the
// poller after its four 64 KiB buffers and the pipe's 64 KiB.
func TestDrillStuckTap(t *testing.T) {
	const (
		port = 9000
		n    = 25_000
		pps  = 25_000
		size = 64
		// Rings and UMEM large enough to ride out 160ms of a poller
		// preempted by other work on this CPU: the drill compares the
		// tap with no tap, not the machine's load between two runs.
		ring = 4096
	)
	xo := afxdp.Options{RxSize: ring, FillSize: ring, UMEM: umem.Options{FrameSize: umem.FrameSize2K, FrameCount: 2 * ring}}
	l := labtest.New(t, lab.Config{})
	c := peerSender(t, l, port)
	prefix := netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits())

	// run opens a node (with capture, if not nil), sends the paced
	// traffic from the peer's CPU, waits for the poller to go quiet and
	// closes the node, checking its ledger.
	run := func(t *testing.T, withStack bool, capture *tap.Tap) tapRun {
		t.Helper()
		var delivered, corrupt atomic.Uint64
		count := func(p []byte) {
			if len(p) < 8 {
				return
			}
			if !labtest.PayloadOK(p, binary.BigEndian.Uint64(p)) {
				corrupt.Add(1)
			}
			delivered.Add(1)
		}
		cfg := rxpath.Config{
			Interface: l.DUTIf,
			Driver:    xdpDriver(xo),
			CPUs:      []int{pollerCPU},
		}
		var sink *labtest.Sink
		if withStack {
			cfg.Addr = prefix
		} else {
			sink = labtest.NewSink(port, n)
			cfg.Handler = sink.Handle
		}
		if capture != nil {
			cfg.Tap = capture // only when set: a nil *tap.Tap is a non-nil stack.Tap
		}
		var node *rxpath.Node
		if err := lab.InNS(l.DUTNS, func() (err error) {
			node, err = rxpath.Open(cfg)
			return err
		}); err != nil {
			t.Fatalf("open: %v", err)
		}
		defer node.Close()
		if withStack {
			uc, err := node.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), port))
			if err != nil {
				t.Fatal(err)
			}
			defer uc.Close()
			uc.SetHandler(func(d udp.Datagram) { count(d.Payload) })
		}
		e := node
		start := time.Now()
		var sent int
		var serr error
		fromPeerCPU(t, func() { sent, serr = labtest.SendAtRate(c, n, size, pps, 0) })
		took := time.Since(start)
		if serr != nil || sent != n {
			t.Fatalf("sent %d of %d: %v", sent, n, serr)
		}
		processed := waitStable(func() uint64 { return e.Snapshot().Frames })
		r := tapRun{rate: float64(processed) / took.Seconds()}
		if err := node.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		// After Close, when the poller has stopped: on a busy machine it
		// may still be catching up when the count first looks stable.
		r.processed = e.Final().Frames
		if capture != nil {
			st := capture.Stats()
			r.tap = &st
		}
		for _, q := range e.Final().Queues {
			if b := q.Driver.Buffers; b.Free != b.Total || b.BadRelease != 0 || b.Foreign != 0 {
				t.Errorf("queue %d ledger after close: %+v", q.Queue, b)
			}
		}
		r.delivered, r.corrupt = delivered.Load(), corrupt.Load()
		if sink != nil {
			r.delivered, r.corrupt = sink.Count.Load(), sink.Corrupt.Load()
		}
		return r
	}

	// stuckRun is one run with a tap writing into a pipe nobody reads.
	stuckRun := func(t *testing.T, withStack bool) tapRun {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		defer pr.Close() // never read; closing it at the end unblocks the writer
		const stall = 200 * time.Millisecond
		capture, err := tap.New(pw, tap.Options{Buffers: 4, BufferSize: 64 << 10, MaxFrame: 2048, StallTimeout: stall})
		if err != nil {
			t.Fatal(err)
		}
		r := run(t, withStack, capture)
		if err := capture.Close(); !errors.Is(err, tap.ErrStalled) {
			t.Errorf("tap Close on a pipe nobody reads: %v, want ErrStalled", err)
		}
		return r
	}
	for _, tc := range []struct {
		name      string
		withStack bool
	}{{"handler", false}, {"stack", true}} {
		t.Run(tc.name, func(t *testing.T) {
			// Three pairs, alternating, compared by their medians: one
			// run on a busy machine can lose frames to a preempted
			// poller, with or without the tap.
			const pairs = 3
			var bases, stucks []uint64
			for range pairs {
				base := run(t, tc.withStack, nil)
				stuck := stuckRun(t, tc.withStack)
				bases, stucks = append(bases, base.processed), append(stucks, stuck.processed)
				ts := *stuck.tap
				t.Logf("%d sent at %d/s; no tap: processed %d (%.0f/s), delivered %d; stuck tap: processed %d (%.0f/s), delivered %d",
					n, pps, base.processed, base.rate, base.delivered, stuck.processed, stuck.rate, stuck.delivered)
				t.Logf("tap: seen %d, queued %d, dropped %d, written %d, write errors %d, bytes %d",
					ts.Seen, ts.Queued, ts.Dropped, ts.Written, ts.WriteErrors, ts.Bytes)
				for _, r := range []tapRun{base, stuck} {
					if r.corrupt != 0 || r.delivered > r.processed {
						t.Errorf("delivered %d (corrupt %d) of %d processed", r.delivered, r.corrupt, r.processed)
					}
				}
				// Every frame the poller took was offered to the tap, and
				// every one the tap could not queue is counted.
				if ts.Seen != stuck.processed || ts.Queued+ts.Dropped+ts.Filtered != ts.Seen {
					t.Errorf("tap stats %+v: want Seen = %d processed = Queued + Dropped + Filtered", ts, stuck.processed)
				}
				if ts.Dropped == 0 || ts.Dropped < ts.Seen/2 {
					t.Errorf("tap dropped %d of %d with its writer stuck, want most of them counted", ts.Dropped, ts.Seen)
				}
				if ts.Written >= ts.Queued {
					t.Errorf("tap wrote %d of %d queued records into a pipe nobody reads", ts.Written, ts.Queued)
				}
			}
			// The count, not the rate: the open-loop sender sets the
			// rate, and on a busy machine its CPU time varies between
			// runs more than the receive side does.
			slices.Sort(bases)
			slices.Sort(stucks)
			mb, ms := bases[pairs/2], stucks[pairs/2]
			ratio := float64(ms) / float64(mb)
			t.Logf("median processed: %d without the tap, %d with the stuck tap: ratio %.3f", mb, ms, ratio)
			if ratio < 0.9 {
				t.Errorf("with the stuck tap the poller took a median %d frames, %.3f of the %d without it; want at least 0.9", ms, ratio, mb)
			}
		})
	}
}
