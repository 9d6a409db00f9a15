package afxdp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
)

// The receive, two-queue, close and transmit tests run over every driver
// in package driver's tests; these are the AF_XDP-specific ones.

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
			if _, ok := labtest.UDPSeq(f.Data, 9000); ok {
				frames++
			}
		}
	}, poller.Options{})
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 64)
	for i := 0; i < 4000; i++ {
		c.Write(labtest.Payload(buf, uint64(i)))
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

// TestBindRetriesEBUSY: bind fails with EBUSY while another socket holds
// the queue (as it does for a moment after a socket on it closes). Open
// retries it for BindRetry and then reports it, leaving nothing behind;
// and an Open that starts while the queue is held binds as soon as the
// holder closes.
func TestBindRetriesEBUSY(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	openNS := func(o afxdp.Options) (d *afxdp.Device, err error) {
		err = lab.InNS(l.DUTNS, func() (err error) {
			d, err = afxdp.Open(l.DUTIf, o)
			return err
		})
		return d, err
	}
	holder, err := openNS(afxdp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	fds := labtest.FDCount(t)
	const limit = 200 * time.Millisecond
	start := time.Now()
	d, err := openNS(afxdp.Options{BindRetry: limit})
	waited := time.Since(start)
	if err == nil {
		d.Close()
		t.Fatal("a second socket bound a queue another socket holds")
	}
	if !errors.Is(err, unix.EBUSY) || waited < limit {
		t.Fatalf("Open while the queue is held: %v after %v; want EBUSY after retrying for %v", err, waited, limit)
	}
	if n := labtest.FDCount(t); n != fds {
		t.Fatalf("the failed Open left %d fds open (%d before, %d after)", n-fds, fds, n)
	}
	// Now an Open that starts while the queue is held, and the holder
	// closes 100 ms later.
	type result struct {
		d   *afxdp.Device
		err error
		at  time.Duration
	}
	done := make(chan result, 1)
	start = time.Now()
	go func() {
		d, err := openNS(afxdp.Options{BindRetry: 10 * time.Second})
		done <- result{d, err, time.Since(start)}
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-done:
		if r.err == nil {
			r.d.Close()
		}
		t.Fatalf("Open returned while the queue was held: %v", r.err)
	default:
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Open after the holder closed: %v", r.err)
	}
	defer func() {
		if err := r.d.Close(); err != nil {
			t.Error(err)
		}
		checkLedgers(t, r.d)
		checkNoXDP(t, l)
	}()
	if r.at < 100*time.Millisecond {
		t.Fatalf("Open returned after %v, before the holder closed", r.at)
	}
	t.Logf("bound %v after it started, once the holder closed", r.at)
}
