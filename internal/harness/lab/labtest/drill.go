package labtest

import (
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/sys/affinity"
)

// OnCPU starts fn on a goroutine locked to an OS thread pinned to cpu and
// returns a function that waits for fn and returns the pinning error, if
// pinning failed (fn then does not run). The thread is never unlocked, so
// the runtime discards it when fn returns instead of handing a pinned
// thread to other goroutines. On veth the kernel's receive work runs on
// the sending CPU: pin senders away from the poller.
func OnCPU(cpu int, fn func()) (wait func() error) {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := affinity.Pin(cpu); err != nil {
			errc <- err
			return
		}
		fn()
		errc <- nil
	}()
	return func() error { return <-errc }
}

// SendAtRate sends n sequenced datagrams of size bytes (Payload(seq) with
// seq = first, first+1, ...) at about pps datagrams a second, open loop:
// unlike SendPaced it never waits for the receiver, so a receiver that
// falls behind loses datagrams instead of slowing the sender. It sends in
// bursts of about a millisecond's worth and sleeps between them, retrying
// a datagram the peer's kernel refuses with ENOBUFS or EAGAIN. It returns
// how many it sent and the first other error.
func SendAtRate(c *net.UDPConn, n, size, pps int, first uint64) (int, error) {
	buf := make([]byte, size)
	interval := time.Second / time.Duration(pps)
	start := time.Now()
	for i := 0; i < n; i++ {
		if ahead := time.Duration(i)*interval - time.Since(start); ahead > time.Millisecond {
			time.Sleep(ahead)
		}
		for {
			_, err := c.Write(Payload(buf, first+uint64(i)))
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				return i, err
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	return n, nil
}

// XDPAttached reports whether rtnetlink lists an XDP program on the lab's
// DUT end (a program left behind by a device that did not detach), as
// `ip link show` would.
func XDPAttached(t testing.TB, l *lab.Lab) bool {
	t.Helper()
	attrs, err := lab.LinkAttrs(l.DUTNS, l.DUTIf)
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	return attrs.Xdp != nil && attrs.Xdp.Attached
}

// PeerTxDropped returns the tx_dropped counter of the peer's veth end:
// frames veth dropped on the way to the DUT end before any XDP program
// saw them (with native XDP, when the DUT end's XDP ring was full).
func PeerTxDropped(t testing.TB, l *lab.Lab) uint64 {
	t.Helper()
	st, err := lab.LinkStats(l.PeerNS, l.PeerIf)
	if err != nil {
		t.Fatalf("labtest: read tx_dropped: %v", err)
	}
	return st.TxDropped
}
