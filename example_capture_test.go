package rxpath_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/tap"
)

// countFrames opens ifname with no stack: a raw handler counts every
// frame, and a tap writes the frames that match a tcpdump-style filter to
// a pcap file, until want frames matched. Then it reports both.
//
// The tap sees each frame before the handler, as Linux's packet taps
// (tcpdump) run before any protocol. It never slows the receive path: it
// copies the frame into a slot for its writer goroutine, or drops and
// counts it when the writer is behind.
func countFrames(ctx context.Context, ifname, pcapPath, filter string, want int, out io.Writer) (err error) {
	var frames, bytes atomic.Uint64
	n, err := rxpath.Open(rxpath.Config{
		Interface: ifname,
		// The handler runs on the poller goroutine with a batch of
		// zero-copy views, valid until it returns.
		Handler: func(b *poller.Batch) {
			for _, f := range b.Frames {
				bytes.Add(uint64(len(f.Data)))
			}
			frames.Add(uint64(len(b.Frames)))
		},
		Pcap:        pcapPath,
		PcapOptions: tap.Options{Expr: filter},
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()
	fmt.Fprintf(out, "capturing %q on %s\n", filter, ifname)

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n.Tap.Stats().Queued < uint64(want) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Close stops the pollers, then flushes and closes the capture file.
	if err := n.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "counted %d frames (%d bytes), captured %d\n", frames.Load(), bytes.Load(), n.Tap.Stats().Written)
	return nil
}

// A raw frame counter with a capture: count everything that arrives on
// eth0 and write the first 100 UDP datagrams to port 53 to dns.pcap (read
// it with `tcpdump -r dns.pcap`). No stack is attached: nothing answers
// ARP or ICMP for the interface.
func ExampleConfig_capture() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := countFrames(ctx, "eth0", "dns.pcap", "udp port 53", 100, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
