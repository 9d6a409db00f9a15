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
	"sync"
	"sync/atomic"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/stack/tcp"
)

// tcpEcho opens ifname with the stack answering for addr and serves the
// echo protocol (RFC 862) on port until ctx ends: each connection gets
// back what it sends. Then it reports what it served.
//
// A Listener is a net.Listener and a Conn a net.Conn, so the usual
// io.Copy does the work. The stack starts no goroutine per connection;
// the application does, one per connection here, as with the net package.
func tcpEcho(ctx context.Context, ifname string, addr netip.Prefix, port uint16, out io.Writer) (err error) {
	n, err := rxpath.Open(rxpath.Config{Interface: ifname, Addr: addr})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()

	l, err := n.ListenTCP(netip.AddrPortFrom(addr.Addr(), port), tcp.ListenOptions{})
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { l.Close() }) // unblocks Accept
	fmt.Fprintf(out, "listening on %v\n", l.Addr())

	var wg sync.WaitGroup
	var conns, echoed atomic.Int64
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break // closed by ctx
			}
			return err
		}
		conns.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			k, _ := io.Copy(c, c) // until the client's FIN; Close then sends ours
			echoed.Add(k)
		}()
	}
	wg.Wait()
	fmt.Fprintf(out, "served %d connections, echoed %d bytes\n", conns.Load(), echoed.Load())
	return nil
}

// A TCP echo server on port 7 of 10.0.0.2 on eth0, until Ctrl-C. Try it
// from another host with `nc 10.0.0.2 7`.
func ExampleNode_ListenTCP() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := tcpEcho(ctx, "eth0", netip.MustParsePrefix("10.0.0.2/24"), 7, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
