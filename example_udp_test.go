package rxpath_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/stack/udp"
)

// udpSink opens ifname with the stack answering for addr, receives want
// datagrams on port in handler mode and reports how many bytes arrived.
//
// Handler mode is the fastest way to receive: the handler runs on the
// poller goroutine with a zero-copy view of each payload, and nothing is
// copied, queued or woken. The view is valid only until the handler
// returns, and the handler must not block: the poller waits for it.
func udpSink(ctx context.Context, ifname string, addr netip.Prefix, port uint16, want int, out io.Writer) (err error) {
	n, err := rxpath.Open(rxpath.Config{Interface: ifname, Addr: addr})
	if err != nil {
		return err
	}
	// Close reports a frame that never went back to its driver.
	defer func() { err = errors.Join(err, n.Close()) }()

	c, err := n.ListenUDP(netip.AddrPortFrom(addr.Addr(), port))
	if err != nil {
		return err
	}
	defer c.Close()
	var datagrams, bytes atomic.Int64
	done := make(chan struct{})
	c.SetHandler(func(d udp.Datagram) {
		bytes.Add(int64(len(d.Payload)))
		if datagrams.Add(1) == int64(want) {
			close(done)
		}
	})
	fmt.Fprintf(out, "listening on %v\n", c.LocalAddrPort())

	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprintf(out, "received %d datagrams, %d bytes\n", datagrams.Load(), bytes.Load())
	return nil
}

// A UDP sink in handler mode: count 1000 datagrams to port 9000 of
// 10.0.0.2, an address rxpath answers for on eth0 (ARP and ICMP echo
// included), then close. Stop early with Ctrl-C.
func ExampleNode_ListenUDP() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := udpSink(ctx, "eth0", netip.MustParsePrefix("10.0.0.2/24"), 9000, 1000, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
}
