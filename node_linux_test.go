package rxpath_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/tap"
	"github.com/rxpath/rxpath/tap/pcapexpr"
)

// openIn runs rxpath.Open in the lab's DUT namespace.
func openIn(l *lab.Lab, cfg rxpath.Config) (n *rxpath.Node, err error) {
	err = lab.InNS(l.DUTNS, func() error {
		n, err = rxpath.Open(cfg)
		return err
	})
	return n, err
}

// settledGoroutines waits until the goroutine count is at most want and
// returns the count.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// TestNodeLifecycle: a node with the stack and a pcap file closes
// idempotently, leaves no goroutine behind, and refuses sockets after
// Close.
func TestNodeLifecycle(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	before := runtime.NumGoroutine()
	path := filepath.Join(t.TempDir(), "c.pcap")
	n, err := openIn(l, rxpath.Config{Interface: l.DUTIf, Addr: prefixOf(l), Pcap: path, PcapOptions: tap.Options{Format: tap.PCAPNG}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Tap == nil || n.Stack == nil || n.TCP == nil {
		t.Fatalf("node %+v", n)
	}
	resolve(t, l) // ARP and ICMP through the stack, captured by the tap
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if st := n.Tap.Stats(); st.Written < 2 || st.Written != st.Queued {
		t.Fatalf("tap after close: %+v", st)
	}
	if got := settledGoroutines(before); got > before {
		t.Fatalf("%d goroutines after Close, %d before Open", got, before)
	}
	_, errUDP := n.ListenUDP(netip.AddrPortFrom(l.DUTAddr, 1))
	_, errTCP := n.ListenTCP(netip.AddrPortFrom(l.DUTAddr, 1), tcp.ListenOptions{})
	_, errDial := n.DialTCP(context.Background(), netip.AddrPortFrom(l.PeerAddr.Addr(), 1))
	for name, err := range map[string]error{"ListenUDP": errUDP, "ListenTCP": errTCP, "DialTCP": errDial} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
	}
}

// TestNodeRaw: with Config.Handler there is no stack; the handler sees
// every frame, after the tap.
func TestNodeRaw(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	var frames atomic.Uint64
	var buf bytes.Buffer
	tp, err := tap.New(&buf, tap.Options{Expr: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := openIn(l, rxpath.Config{Interface: l.DUTIf, Tap: tp, Handler: func(b *poller.Batch) {
		frames.Add(uint64(len(b.Frames)))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Stack != nil || n.UDP != nil || n.Tap != nil {
		t.Fatalf("raw node %+v", n)
	}
	if _, err := n.ListenUDP(netip.AddrPortFrom(l.DUTAddr, 9000)); !errors.Is(err, rxpath.ErrNoStack) {
		t.Fatalf("ListenUDP on a raw node: %v", err)
	}
	if _, err := n.ListenTCP(netip.AddrPortFrom(l.DUTAddr, 9000), tcp.ListenOptions{}); !errors.Is(err, rxpath.ErrNoStack) {
		t.Fatalf("ListenTCP on a raw node: %v", err)
	}
	c := labtest.UDPSender(t, l, 9000)
	for range 5 {
		if _, err := c.Write([]byte("raw")); err != nil {
			t.Fatal(err)
		}
	}
	labtest.WaitFor(t, "5 frames", func() bool { return frames.Load() >= 5 && tp.Stats().Queued >= 5 })
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tp.Close(); err != nil { // ours to close
		t.Fatal(err)
	}
	if st := tp.Stats(); st.Written != 5 {
		t.Fatalf("tap: %+v", st)
	}
}

// TestOpenFails: a failed Open leaves no capture file, no goroutine and no
// XDP program behind: the interface can be opened again.
func TestOpenFails(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	before := runtime.NumGoroutine()
	path := filepath.Join(t.TempDir(), "c.pcap")
	if _, err := openIn(l, rxpath.Config{Interface: "rxp-missing", Addr: prefixOf(l), Pcap: path}); err == nil {
		t.Fatal("Open of a missing interface succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("capture file after a failed Open: %v", err)
	}
	// The device opens, then the capture filter fails to compile.
	if _, err := openIn(l, rxpath.Config{Interface: l.DUTIf, Addr: prefixOf(l), Pcap: path, PcapOptions: tap.Options{Expr: "vlan"}}); !errors.Is(err, pcapexpr.ErrExpr) {
		t.Fatalf("Open with a bad capture filter: %v, want pcapexpr.ErrExpr", err)
	}
	if got := settledGoroutines(before); got > before {
		t.Fatalf("%d goroutines after the failed Opens, %d before", got, before)
	}
	n, err := openIn(l, rxpath.Config{Interface: l.DUTIf, Addr: prefixOf(l)})
	if err != nil {
		t.Fatalf("Open after the failures: %v", err)
	}
	resolve(t, l)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}
