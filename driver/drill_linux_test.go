package driver_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
)

// Fault drills for the link under a bound device (issue 8, drills 1 and
// 2): deleted while bound, and down then up under traffic.

// bpfObjects counts the BPF programs and maps loaded on the machine.
func bpfObjects(t *testing.T) (progs, maps int) {
	t.Helper()
	for id := ebpf.ProgramID(0); ; progs++ {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
	}
	for id := ebpf.MapID(0); ; maps++ {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			break
		}
		id = next
	}
	return progs, maps
}

// sendSeq sends sequence numbers [first, first+n) from c, pacing to about
// rate datagrams per second, and ignores send errors (a link that is down
// refuses some): the receiver's sink says what arrived.
func sendSeq(c interface{ Write([]byte) (int, error) }, first, n uint64, rate int) {
	buf := make([]byte, 64)
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		c.Write(labtest.Payload(buf, first+i))
		if due := start.Add(time.Duration(i+1) * time.Second / time.Duration(rate)); time.Until(due) > 0 {
			time.Sleep(time.Until(due))
		}
	}
}

// TestLinkDeleted deletes the bound interface under a running poller. The
// poller must stop with an error that says so (ErrLinkGone, ErrQueueDown,
// ENODEV), a device on another link must go on receiving, and closing the
// dead device must leave no fd, BPF program or map and a balanced ledger.
func TestLinkDeleted(t *testing.T) {
	for _, dr := range drivers {
		t.Run(dr.name, func(t *testing.T) {
			gone := labtest.New(t, lab.Config{})
			other := labtest.New(t, lab.Config{})
			for _, l := range []*lab.Lab{gone, other} {
				if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
					t.Fatal(err)
				}
			}
			fds := labtest.FDCount(t)
			progs, maps := bpfObjects(t)

			var d *driver.Device
			if err := lab.InNS(gone.DUTNS, func() (err error) {
				d, err = auto.Open(gone.DUTIf, dr.opts)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			s := labtest.NewSink(9000, 1000)
			p := poller.New(d.Queues[0], s.Handle, poller.Options{})
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			survivor := open(t, other, dr.opts)
			so := labtest.NewSink(9000, 2000)
			startPollers(t, survivor, so.Handle)

			c := labtest.UDPSender(t, gone, 9000)
			labtest.SendPaced(t, c, 1000, 64, 256, s.Count.Load, 0, 1)
			co := labtest.UDPSender(t, other, 9000)
			labtest.SendPaced(t, co, 1000, 64, 256, so.Count.Load, 0, 1)
			labtest.WaitFor(t, "traffic on both links", func() bool { return s.Count.Load() == 1000 && so.Count.Load() == 1000 })

			if out, err := lab.Exec(gone.DUTNS, "ip", "link", "del", "dev", gone.DUTIf); err != nil {
				t.Fatalf("ip link del: %v\n%s", err, out)
			}
			select {
			case <-p.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the poller did not notice its link was deleted")
			}
			err := p.Err()
			if !errors.Is(err, driver.ErrLinkGone) || !errors.Is(err, driver.ErrQueueDown) || !errors.Is(err, syscall.ENODEV) {
				t.Fatalf("poller error %v, want one wrapping ErrLinkGone, ErrQueueDown and ENODEV", err)
			}
			if ls := d.Link(); !ls.Deleted || ls.Up {
				t.Errorf("link stats after deletion: %+v", ls)
			}
			t.Logf("%s: poller stopped with %q", dr.name, err)

			// The other link's device goes on receiving.
			labtest.SendPaced(t, co, 1000, 64, 256, so.Count.Load, 1000, 1)
			labtest.WaitFor(t, "traffic on the surviving link", func() bool { return so.Count.Load() == 2000 })

			if err := d.Close(); err != nil {
				t.Errorf("close after deletion: %v", err)
			}
			for _, q := range d.Queues {
				if err := q.Check(); err != nil {
					t.Errorf("ledger: %v", err)
				}
				if b := q.Stats().Buffers; b.Held != 0 || b.Free+b.Kernel+b.Tx != b.Total {
					t.Errorf("ledger after close: %+v", b)
				}
			}
			if err := survivor.Close(); err != nil {
				t.Errorf("close the survivor: %v", err)
			}
			c.Close()
			co.Close()
			if n := labtest.FDCount(t); n != fds {
				t.Errorf("%d fds open, %d before", n, fds)
			}
			// The kernel frees programs after an RCU grace period and
			// their maps after that, so give it a moment.
			deadline := time.Now().Add(3 * time.Second)
			for {
				p2, m2 := bpfObjects(t)
				if p2 == progs && m2 == maps {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("BPF programs %d → %d, maps %d → %d", progs, p2, maps, m2)
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestLinkDownUp takes the link down and up under paced traffic: receive
// resumes, the device counts the down time, and every datagram sent is
// either received or in the gap.
func TestLinkDownUp(t *testing.T) {
	const before, after, rate = 2000, 2000, 10_000
	for _, dr := range drivers {
		t.Run(dr.name, func(t *testing.T) {
			l := labtest.New(t, lab.Config{})
			if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
				t.Fatal(err)
			}
			d := open(t, l, dr.opts)
			const down = 3000 // sent while the link is down
			s := labtest.NewSink(9000, before+down+after)
			ps := startPollers(t, d, s.Handle)
			c := labtest.UDPSender(t, l, 9000)
			sendSeq(c, 0, before, rate)
			labtest.WaitFor(t, "traffic before the flap", func() bool { return s.Count.Load() == before })

			if out, err := lab.Exec(l.DUTNS, "ip", "link", "set", "dev", l.DUTIf, "down"); err != nil {
				t.Fatalf("link down: %v\n%s", err, out)
			}
			sendSeq(c, before, down, rate) // 300 ms into a link that is down
			if out, err := lab.Exec(l.DUTNS, "ip", "link", "set", "dev", l.DUTIf, "up"); err != nil {
				t.Fatalf("link up: %v\n%s", err, out)
			}
			labtest.WaitFor(t, "carrier", func() bool { return d.Link().Up })
			// The peer needs a moment to see carrier again; what it
			// sends before that is part of the gap.
			time.Sleep(100 * time.Millisecond)
			sendSeq(c, before+down, after, rate)
			labtest.WaitFor(t, "traffic after the flap", func() bool {
				return s.Count.Load() >= before+after && s.ByParity[0].Load()+s.ByParity[1].Load() == s.Count.Load()
			})
			time.Sleep(50 * time.Millisecond)
			for _, p := range ps {
				select {
				case <-p.Done():
					t.Fatalf("poller %d stopped on a link flap: %v", p.Stats().Queue, p.Err())
				default:
				}
			}
			ls := d.Link()
			got, gap := s.Count.Load(), uint64(s.Missing())
			if ls.Downs != 1 || !ls.Up || ls.DownTime < 0.2 || ls.DownTime > 5 {
				t.Errorf("link stats %+v, want one down of about 0.3 s and up now", ls)
			}
			if got+gap != before+down+after || s.Dups.Load() != 0 || s.Corrupt.Load() != 0 {
				t.Errorf("received %d + gap %d != sent %d (dups %d, corrupt %d)", got, gap, before+down+after, s.Dups.Load(), s.Corrupt.Load())
			}
			if gap == 0 {
				t.Errorf("no gap while the link was down for %.2fs", ls.DownTime)
			}
			t.Logf("%s: down %.0f ms, gap %d datagrams of %d sent while down, %d received after", dr.name, ls.DownTime*1e3, gap, down, got-before)
		})
	}
}
