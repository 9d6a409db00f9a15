package sockq

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// These tests run the Core over one end of a socketpair instead of an
// AF_XDP or AF_PACKET socket, so they need no privilege: the other end
// makes the socket readable or hangs it up.

// modes are the two ways a Core sleeps.
var modes = []struct {
	name  string
	epoll bool
}{{"ppoll", false}, {"epoll", true}}

// newCore returns a Core on one end of a stream socketpair, and the other
// end. Cleanup closes both.
func newCore(t *testing.T, epoll bool) (*Core, int) {
	t.Helper()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := new(Core)
	c.init("test", 3, nil)
	if err := c.adopt(sp[0]); err != nil {
		unix.Close(sp[0])
		t.Fatal(err)
	}
	if epoll {
		if err := c.UseEpoll(); err != nil {
			closeCore(c)
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		closeCore(c)
		unix.Close(sp[1])
	})
	return c, sp[1]
}

// closeCore is a driver's Close with nothing of its own to tear down.
func closeCore(c *Core) error {
	if !c.BeginClose() {
		return nil
	}
	defer c.EndClose()
	return c.CloseFDs()
}

type slept struct {
	ev  Events
	err error
}

// sleep runs Enter, Sleep and Exit on a goroutine of its own, as a
// poller's Wait does.
func sleep(c *Core, timeout time.Duration) <-chan slept {
	done := make(chan slept, 1)
	go func() {
		c.Enter()
		defer c.Exit()
		if c.Closed() {
			done <- slept{err: net.ErrClosed}
			return
		}
		ev, err := c.Sleep(timeout)
		done <- slept{ev, err}
	}()
	return done
}

func await(t *testing.T, done <-chan slept, what string) slept {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Sleep did not return", what)
		panic("unreachable")
	}
}

// sleeping is sleep with a long timeout that returns once the goroutine is
// blocked in the kernel, so that what the test does next interrupts a
// wait in progress.
func sleeping(t *testing.T, c *Core) <-chan slept {
	t.Helper()
	done := sleep(c, time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for c.Waits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // from the count into ppoll or epoll_wait
	return done
}

func TestWakeInterruptsSleep(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, _ := newCore(t, m.epoll)
			done := sleeping(t, c)
			start := time.Now()
			c.Wake()
			r := await(t, done, "Wake")
			if r.err != nil || r.ev.In || r.ev.Err {
				t.Fatalf("after Wake: %+v, %v; want no event and no error", r.ev, r.err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Wake took %v", d)
			}
			// The eventfd was drained: the next Sleep waits out its
			// timeout.
			start = time.Now()
			r = await(t, sleep(c, 50*time.Millisecond), "timeout")
			if r.err != nil || time.Since(start) < 40*time.Millisecond {
				t.Fatalf("second Sleep returned after %v with %v; want the timeout", time.Since(start), r.err)
			}
			if got := c.Waits.Load(); got != 2 {
				t.Fatalf("%d waits counted, want 2", got)
			}
		})
	}
}

func TestWakeBeforeSleep(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, _ := newCore(t, m.epoll)
			c.Wake()
			start := time.Now()
			if r := await(t, sleep(c, time.Minute), "Wake first"); r.err != nil {
				t.Fatal(r.err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Sleep after Wake took %v", d)
			}
		})
	}
}

func TestSleepEvents(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, peer := newCore(t, m.epoll)
			r := await(t, sleep(c, 10*time.Millisecond), "timeout")
			// A timeout is a link check: ppoll checks whenever the
			// socket is not readable, epoll on a timeout.
			if r.err != nil || r.ev.In || r.ev.Err || !r.ev.Link {
				t.Fatalf("timeout: %+v, %v; want only Link", r.ev, r.err)
			}
			if _, err := unix.Write(peer, []byte("x")); err != nil {
				t.Fatal(err)
			}
			r = await(t, sleep(c, time.Minute), "readable")
			if r.err != nil || !r.ev.In || r.ev.Err || r.ev.Link {
				t.Fatalf("readable: %+v, %v; want only In", r.ev, r.err)
			}
			// Epoll is edge-triggered on the socket, ppoll level-triggered.
			r = await(t, sleep(c, 10*time.Millisecond), "still readable")
			if r.err != nil || r.ev.In != !m.epoll {
				t.Fatalf("still readable: %+v, %v; want In %v", r.ev, r.err, !m.epoll)
			}
			unix.Shutdown(peer, unix.SHUT_RDWR)
			r = await(t, sleep(c, time.Minute), "hang-up")
			if r.err != nil || !r.ev.Err {
				t.Fatalf("hang-up: %+v, %v; want Err", r.ev, r.err)
			}
		})
	}
}

func TestCloseDuringSleep(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, _ := newCore(t, m.epoll)
			done := sleeping(t, c)
			// BeginClose waits for the sleeper to leave (Exit) before
			// it returns, so Close returns only after Sleep did.
			if err := closeCore(c); err != nil {
				t.Fatalf("close: %v", err)
			}
			r := await(t, done, "Close")
			if !errors.Is(r.err, net.ErrClosed) {
				t.Fatalf("Sleep during Close returned %v, want net.ErrClosed", r.err)
			}
			if c.FD != -1 || c.efd != -1 || c.epfd != -1 {
				t.Fatalf("descriptors left after Close: socket %d, eventfd %d, epoll %d", c.FD, c.efd, c.epfd)
			}
			if r := await(t, sleep(c, time.Minute), "after Close"); !errors.Is(r.err, net.ErrClosed) {
				t.Fatalf("Sleep after Close: %v, want net.ErrClosed", r.err)
			}
		})
	}
}

func TestDoubleClose(t *testing.T) {
	c, _ := newCore(t, false)
	if err := closeCore(c); err != nil {
		t.Fatal(err)
	}
	if c.BeginClose() {
		t.Fatal("BeginClose ran twice")
	}
	if err := closeCore(c); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if c.EnterTx() {
		t.Fatal("EnterTx after Close: true")
	}
}

// TestWakeAfterClose: Wake after Close writes nothing, not even to a new
// file that got the closed eventfd's number.
func TestWakeAfterClose(t *testing.T) {
	c, _ := newCore(t, false)
	old := c.efd
	if err := closeCore(c); err != nil {
		t.Fatal(err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	c.Wake()
	var buf [8]byte
	if _, err := unix.Read(efd, buf[:]); err != unix.EAGAIN {
		t.Fatalf("read of a new eventfd (number %d, the closed one was %d): %v; want EAGAIN", efd, old, err)
	}
}

// TestCloseNeverOpened: a Core whose Open never ran (a queue that failed
// before its socket) closes nothing, fd 0 included.
func TestCloseNeverOpened(t *testing.T) {
	var c Core
	if err := closeCore(&c); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(0, unix.F_GETFD, 0); err != nil {
		t.Fatalf("fd 0: %v", err)
	}
}

func TestWakeSleepZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, _ := newCore(t, m.epoll)
			allocs := testing.AllocsPerRun(100, func() {
				c.Wake()
				c.Enter()
				c.Sleep(time.Second)
				c.Exit()
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per Wake and Sleep, want 0", allocs)
			}
		})
	}
}

func TestStats(t *testing.T) {
	c, _ := newCore(t, false)
	c.RxFrames.Add(3)
	c.TxKickError.Add(2)
	c.SetKernel(driver.KernelStats{RxDropped: 5})
	c.AddKernel(driver.KernelStats{RxDropped: 1, RxFrozen: 2})
	live := 0
	s := c.Stats(func(s *driver.QueueStats) { live++; s.RxRingSize = 8 })
	want := driver.QueueStats{Queue: 3, RxFrames: 3, TxKickError: 2, RxRingSize: 8, Kernel: driver.KernelStats{RxDropped: 6, RxFrozen: 2}}
	if s != want || live != 1 {
		t.Fatalf("Stats %+v (live ran %d times), want %+v", s, live, want)
	}
	closeCore(c)
	s = c.Stats(func(*driver.QueueStats) { live++ })
	if live != 1 || s.Kernel.RxDropped != 6 {
		t.Fatalf("after Close: live ran again (%d) or the kernel's counters were lost: %+v", live, s.Kernel)
	}
}

func TestDown(t *testing.T) {
	c, _ := newCore(t, false)
	err := c.Down(syscall.ENODEV)
	if !errors.Is(err, driver.ErrQueueDown) || !errors.Is(err, syscall.ENODEV) || err.Error() != "test queue 3: no such device: queue down" {
		t.Fatalf("Down: %v", err)
	}
	if err := c.UpdateLink(); err != nil { // no watcher: nothing to report
		t.Fatal(err)
	}
}

func TestDeviceOpen(t *testing.T) {
	bad := errors.New("bad options")
	var d Device
	closed := 0
	close := func() error { closed++; return nil }
	never := func() error { t.Fatal("open ran"); return nil }
	if err := d.Open("test", "lo", func() error { return bad }, never, close); !errors.Is(err, bad) || err.Error() != "test: bad options" || closed != 0 {
		t.Fatalf("invalid options: %v (closed %d times)", err, closed)
	}
	ok := func() error { return nil }
	if err := d.Open("test", "rxpath-no-such-if", ok, never, close); !errors.Is(err, netdev.ErrNoInterface) || !strings.HasPrefix(err.Error(), "test: ") {
		t.Fatalf("missing interface: %v", err)
	}
	failed := errors.New("bind failed")
	if err := d.Open("test", "lo", ok, func() error { return failed }, close); !errors.Is(err, failed) || err.Error() != "test: bind failed" || closed != 1 {
		t.Fatalf("open fails: %v (closed %d times)", err, closed)
	}
	if d.Info.Name != "lo" || d.Watch == nil || !d.Watch.Stats().Up {
		t.Fatalf("Info %+v, link %+v", d.Info, d.Watch.Stats())
	}
	teardowns := 0
	for range 2 {
		if err := d.Close(func() []error { teardowns++; return []error{bad} }); !errors.Is(err, bad) {
			t.Fatalf("Close: %v", err)
		}
	}
	if teardowns != 1 || d.Watch.FD() != -1 {
		t.Fatalf("teardown ran %d times, watcher fd %d after Close", teardowns, d.Watch.FD())
	}
}

func TestPrivileged(t *testing.T) {
	err := Privileged(unix.EPERM, "CAP_NET_RAW")
	if !errors.Is(err, unix.EPERM) || err.Error() != "operation not permitted (needs CAP_NET_RAW, e.g. run as root)" {
		t.Fatalf("EPERM: %v", err)
	}
	if err := Privileged(unix.EINVAL, "CAP_NET_RAW"); err != unix.EINVAL {
		t.Fatalf("EINVAL: %v", err)
	}
}

// TestClaim: a claim keeps Close from tearing down until the owner's next
// call sees the queue closed and drops it; Claim after Close fails. Run
// under -race, it also checks that what the claimed owner wrote happens
// before what Close does.
func TestClaim(t *testing.T) {
	c, _ := newCore(t, false)
	if !c.Claim() || !c.Claimed() {
		t.Fatal("Claim of an open queue failed")
	}
	if !c.Claim() || c.polling.Load() != 1 {
		t.Fatalf("a second Claim: polling %d, want the one claim", c.polling.Load())
	}
	var ring [64]byte // stands for the rings a claimed owner reads
	closing := make(chan struct{})
	closed := make(chan error, 1)
	go func() {
		close(closing)
		err := closeCore(c)
		ring[0] = 2 // the teardown
		closed <- err
	}()
	<-closing
	for !c.Closed() {
		ring[1]++ // the owner's passes, until one sees Closed
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while the queue was claimed", err)
	case <-time.After(20 * time.Millisecond):
	}
	ring[0] = 1
	c.Unclaim() // the owner's call that saw Closed
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after Unclaim")
	}
	if c.Claimed() || c.Claim() || c.Claimed() {
		t.Fatal("Claim after Close succeeded")
	}
	c.Unclaim() // without a claim: nothing
	if ring[0] != 2 {
		t.Fatal("Close's teardown did not come after the owner's last write")
	}
}
