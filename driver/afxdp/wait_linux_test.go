package afxdp_test

import (
	"flag"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
	"github.com/rxpath/rxpath/poller"
)

var (
	idleWindow = flag.Duration("idle-window", 500*time.Millisecond, "how long TestIdleCPU measures each wait policy")
	floodFor   = flag.Duration("flood", 0, "run TestWaitPolicyFlood, flooding each wait policy this long (0: skip)")
	floodGen   = flag.String("flood-gen", traffic.MethodPacket, "TestWaitPolicyFlood's generator (a traffic method)")
)

// policies are the wait policies compared: the adaptive default, the old
// fixed spin of 50µs, and never sleeping.
var policies = []struct {
	name string
	spin time.Duration
}{{"adaptive", 0}, {"fixed-50us", 50 * time.Microsecond}, {"spin", -1}}

// TestIdleCPU measures the CPU a poller costs on an idle queue, and on one
// that gets a frame every 5 ms, under each wait policy. It logs the
// numbers and checks only that the default policy sleeps on an idle queue
// (a poller that never slept would cost a whole CPU).
func TestIdleCPU(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	d := open(t, l, afxdp.Options{})
	q := d.Queues()[0]
	c := labtest.UDPSender(t, l, 9000)
	for _, every := range []time.Duration{0, 5 * time.Millisecond} {
		for _, pol := range policies {
			name := fmt.Sprintf("%s/idle", pol.name)
			if every > 0 {
				name = fmt.Sprintf("%s/frame-every-%v", pol.name, every)
			}
			t.Run(name, func(t *testing.T) {
				var frames atomic.Uint64
				p := poller.New(q, func(b *poller.Batch) { frames.Add(uint64(len(b.Frames))) },
					poller.Options{IdleSpin: pol.spin, Pin: true, CPU: 1})
				if err := p.Start(); err != nil {
					t.Fatal(err)
				}
				defer p.Stop()
				tid := p.ThreadID()
				time.Sleep(20 * time.Millisecond) // past the start's spin
				cpu0, _ := sysstat.ThreadCPU(tid)
				start := time.Now()
				before := p.Stats()
				buf := make([]byte, 64)
				for i := 0; time.Since(start) < *idleWindow; i++ {
					if every == 0 {
						time.Sleep(*idleWindow - time.Since(start))
						continue
					}
					c.Write(labtest.Payload(buf, uint64(i)))
					time.Sleep(every)
				}
				cpu1, err := sysstat.ThreadCPU(tid)
				if err != nil {
					t.Fatal(err)
				}
				wall := time.Since(start)
				after := p.Stats()
				pct := 100 * float64(cpu1-cpu0) / float64(wall)
				t.Logf("%s: poller CPU %.2f%% of %v; %d sleeps, %d wakeups with frames, %d frames",
					name, pct, wall.Round(time.Millisecond), after.Polls-before.Polls, after.Wakeups-before.Wakeups, frames.Load())
				if pol.spin == 0 && every == 0 && after.Polls == before.Polls {
					t.Errorf("the default policy never slept on an idle queue (CPU %.1f%%)", pct)
				}
			})
		}
	}
}

// TestWaitPolicyFlood sends from CPU 0 at the generator's full rate
// (internal/harness/traffic, AF_PACKET sendmmsg unless -flood-gen says
// otherwise) with the poller pinned to CPU 1, under each wait policy, and
// logs what the poller saw and what the kernel dropped. It is a
// measurement, not a check, and it takes both CPUs: it runs only with
// -flood.
func TestWaitPolicyFlood(t *testing.T) {
	if *floodFor == 0 {
		t.Skip("a measurement that takes both CPUs: run with -flood=2s")
	}
	l := labtest.New(t, lab.Config{})
	d := open(t, l, afxdp.Options{})
	q := d.Queues()[0]
	o := traffic.Options{
		Ifindex: l.PeerIndex, SrcMAC: l.PeerMAC, DstMAC: l.DUTMAC,
		Src: netip.AddrPortFrom(l.PeerAddr.Addr(), 9000),
		Dst: netip.AddrPortFrom(l.DUTAddr, 9000),
	}
	for _, pol := range policies {
		t.Run(pol.name, func(t *testing.T) {
			var frames atomic.Uint64
			p := poller.New(q, func(b *poller.Batch) { frames.Add(uint64(len(b.Frames))) },
				poller.Options{IdleSpin: pol.spin, Pin: true, CPU: 1})
			before := q.Stats()
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			tid := p.ThreadID()
			cpu0, _ := sysstat.ThreadCPU(tid)
			var res traffic.Result
			err := lab.InNS(l.PeerNS, func() error {
				undo, err := affinity.PinUndo(0)
				if err != nil {
					return err
				}
				defer undo()
				g, err := traffic.Open(o, *floodGen, nil)
				if err != nil {
					return err
				}
				defer g.Close()
				res, err = g.Send(0, *floodFor)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			cpu1, _ := sysstat.ThreadCPU(tid)
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			s, ps := q.Stats(), p.Stats()
			k, k0 := s.Kernel, before.Kernel
			got := frames.Load()
			t.Logf("%s: sent %d (%.3f Mpps), received %d (%.4f%% lost), rx_dropped %d, fill_ring_empty %d, rx_ring_full %d; %d sleeps; poller CPU %.0f%%",
				pol.name, res.Sent, float64(res.Sent)/res.Elapsed.Seconds()/1e6, got,
				100*(1-float64(got)/float64(max(res.Sent, 1))),
				k.RxDropped-k0.RxDropped, k.RxFillRingEmpty-k0.RxFillRingEmpty, k.RxRingFull-k0.RxRingFull,
				ps.Polls, 100*float64(cpu1-cpu0)/float64(res.Elapsed+50*time.Millisecond))
		})
	}
}
