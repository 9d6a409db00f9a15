// Command capture counts every frame that arrives on an interface, with no
// stack, and writes the frames that match a tcpdump-style filter to a pcap
// (or pcapng) file. It exits after capturing -n frames or on SIGINT or
// SIGTERM, and prints what it counted.
//
//	capture -i eth0 -w out.pcap [-f 'udp port 53'] [-n 0] [-pcapng] [-driver auto]
//
// rxpath.Config.Handler replaces the stack with a raw frame handler, and
// Config.Pcap adds a tap that sees each frame before the handler, as
// Linux's packet taps run before any protocol. Nothing answers ARP or
// ICMP for the interface. The tap never slows the receive path: a frame
// the writer cannot keep up with is dropped from the capture and counted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/tap"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	ifname := flag.String("i", "", "interface to receive on (required)")
	path := flag.String("w", "", "capture file to write (required)")
	filter := flag.String("f", "", "capture filter in tcpdump syntax (default: every frame)")
	count := flag.Uint64("n", 0, "exit after capturing this many frames (0: run until SIGINT)")
	ng := flag.Bool("pcapng", false, "write pcapng, one interface per receive queue")
	kind := flag.String("driver", "auto", "driver: auto, xdp or packet")
	flag.Parse()
	if *ifname == "" || *path == "" {
		flag.Usage()
		os.Exit(2)
	}
	k, err := driver.ParseKind(*kind)
	if err != nil {
		return err
	}
	opts := tap.Options{Expr: *filter}
	if *ng {
		opts.Format = tap.PCAPNG
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var frames, bytes atomic.Uint64
	n, err := rxpath.Open(rxpath.Config{
		Interface: *ifname,
		Driver:    auto.Options{Kind: k},
		// Runs on the poller goroutine, with zero-copy views valid
		// until it returns: count, do not block.
		Handler: func(b *poller.Batch) {
			for _, f := range b.Frames {
				bytes.Add(uint64(len(f.Data)))
			}
			frames.Add(uint64(len(b.Frames)))
		},
		Pcap:        *path,
		PcapOptions: opts,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()
	fmt.Printf("capturing %q on %s to %s\n", *filter, *ifname, *path)

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for *count == 0 || n.Tap.Stats().Queued < *count {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	// Close stops the pollers, then flushes and closes the capture.
	if err := n.Close(); err != nil {
		return err
	}
	st := n.Tap.Stats()
	fmt.Printf("counted %d frames (%d bytes); captured %d, filtered out %d, dropped %d\n",
		frames.Load(), bytes.Load(), st.Written, st.Filtered, st.Dropped+st.WriteErrors)
	return nil
}
