package traffic_test

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/internal/harness/traffic"
)

const testPort = 9000

// dutReceiver is an AF_XDP socket on the DUT end, whose XDP program also
// lets a veth accept redirected live frames. It records every sequence
// number that arrives for testPort.
type dutReceiver struct {
	dev  *afxdp.Device
	mu   sync.Mutex
	seen map[uint64]int
	n    atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func newDUTReceiver(t *testing.T, l *lab.Lab) *dutReceiver {
	t.Helper()
	r := &dutReceiver{seen: map[uint64]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	err := lab.InNS(l.DUTNS, func() (err error) {
		r.dev, err = afxdp.Open(l.DUTIf, afxdp.Options{})
		return err
	})
	if err != nil {
		t.Fatalf("open AF_XDP on the DUT: %v", err)
	}
	q := r.dev.Queues()[0]
	go func() {
		defer close(r.done)
		frames := make([]driver.Frame, 64)
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			q.Refill()
			n := q.Receive(frames)
			if n == 0 {
				q.Wait(10 * time.Millisecond)
				continue
			}
			r.mu.Lock()
			for _, f := range frames[:n] {
				if seq, ok := labtest.UDPSeq(f.Data, testPort); ok {
					r.seen[seq]++
					r.n.Add(1)
				}
			}
			r.mu.Unlock()
			q.Release(frames[:n])
		}
	}()
	t.Cleanup(func() {
		close(r.stop)
		<-r.done
		if err := r.dev.Close(); err != nil {
			t.Errorf("close DUT device: %v", err)
		}
		if err := q.Check(); err != nil {
			t.Errorf("DUT ledger: %v", err)
		}
	})
	return r
}

// take returns what arrived so far and forgets it.
func (r *dutReceiver) take() map[uint64]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seen
	r.seen = map[uint64]int{}
	r.n.Store(0)
	return s
}

func options(l *lab.Lab, first uint64) traffic.Options {
	return traffic.Options{
		Ifindex: l.PeerIndex, SrcMAC: l.PeerMAC, DstMAC: l.DUTMAC,
		Src:      netip.AddrPortFrom(l.PeerAddr.Addr(), testPort),
		Dst:      netip.AddrPortFrom(l.DUTAddr, testPort),
		FirstSeq: first,
	}
}

// TestGenerators sends a numbered run through each method, and through
// auto, to a real AF_XDP receiver on the DUT end, and checks that every
// frame arrived once. Live frames are skipped, with the kernel's errno,
// where the kernel refuses them; auto must then fall back. Run with
// RXPATH_GEN_LIVE=off, auto must pass live frames over.
func TestGenerators(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	rx := newDUTReceiver(t, l)
	const count = 2000

	send := func(t *testing.T, method string, first uint64) (kind string, refused []traffic.Refusal, res traffic.Result) {
		t.Helper()
		err := lab.InNS(l.PeerNS, func() error {
			s, err := traffic.Open(options(l, first), method, func(r traffic.Refusal) { refused = append(refused, r) })
			if err != nil {
				return err
			}
			defer s.Close()
			kind = s.Kind()
			res, err = s.Send(count, 0)
			return err
		})
		if method == traffic.MethodLive && errors.Is(err, unix.EPERM) {
			t.Skipf("this kernel refuses BPF_F_TEST_XDP_LIVE_FRAMES: %v", err)
		}
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return kind, refused, res
	}
	// wait collects until want frames arrived (or 5 s passed).
	wait := func(want uint64) map[uint64]int {
		deadline := time.Now().Add(5 * time.Second)
		for rx.n.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // anything extra shows too
		return rx.take()
	}
	check := func(t *testing.T, seen map[uint64]int, first uint64, probe bool) {
		t.Helper()
		var missing []uint64
		for s := first; s < first+count; s++ {
			want := 1
			if probe && s == first {
				want = 2 // the probe frame, then the rewound first frame
			}
			if seen[s] != want {
				missing = append(missing, s)
			}
			delete(seen, s)
		}
		if len(missing) > 0 {
			t.Errorf("%d sequence numbers arrived a wrong number of times, first %v", len(missing), missing[:min(5, len(missing))])
		}
		if len(seen) > 0 {
			t.Errorf("%d unexpected sequence numbers arrived", len(seen))
		}
	}

	for i, m := range traffic.Methods() {
		t.Run(m, func(t *testing.T) {
			first := uint64(i+1) << 32
			kind, _, res := send(t, m, first)
			if kind != m {
				t.Errorf("Kind %q, want %q", kind, m)
			}
			if res.Sent != count {
				t.Errorf("sent %d, want %d (refused %d)", res.Sent, count, res.Refused)
			}
			check(t, wait(count), first, false)
			t.Logf("%s: %d frames in %v", m, res.Sent, res.Elapsed)
		})
	}

	t.Run("auto", func(t *testing.T) {
		first := uint64(9) << 32
		kind, refused, res := send(t, traffic.MethodAuto, first)
		if res.Sent != count {
			t.Errorf("sent %d, want %d", res.Sent, count)
		}
		check(t, wait(count+1), first, true)
		names := make([]string, len(refused))
		for i, r := range refused {
			names[i] = r.Method
		}
		if off := strings.EqualFold(os.Getenv(traffic.EnvLive), "off"); off && kind == traffic.MethodLive {
			t.Errorf("auto chose live frames with %s=off", traffic.EnvLive)
		}
		if kind != traffic.MethodLive {
			// Reported once per process: the first auto run in it
			// reports the refusal of live frames, with its errno.
			if !slices.Contains(names, traffic.MethodLive) {
				t.Logf("live frames were refused earlier in this process (reported once)")
			}
		}
		for _, r := range refused {
			if s := r.String(); !strings.Contains(s, r.Method) {
				t.Errorf("refusal %q does not name its method", s)
			}
		}
		t.Logf("auto chose %s; passed over %v", kind, refused)
	})
}
