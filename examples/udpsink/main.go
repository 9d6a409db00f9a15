// Command udpsink receives UDP datagrams on rxpath's user-space stack and
// prints a summary when it has received -n of them or gets SIGINT or
// SIGTERM.
//
//	udpsink -i eth0 -addr 10.0.0.2/24 [-port 9000] [-n 0] [-v] [-driver auto]
//
// rxpath answers for -addr on the interface (ARP and ICMP echo included),
// so do not give that address to the kernel. The sink reads with
// udp.Conn.ReadBatch: up to 64 datagrams per call, copied out of the
// socket's receive queue, with no goroutine per datagram. (For the
// highest rate, a socket in handler mode gets zero-copy views on the
// poller goroutine instead; see the rxpath package's examples.)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/stack/udp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "udpsink:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	ifname := flag.String("i", "", "interface to receive on (required)")
	addr := flag.String("addr", "", "IPv4 address and prefix rxpath answers for, e.g. 10.0.0.2/24 (required)")
	port := flag.Uint("port", 9000, "UDP port")
	count := flag.Uint64("n", 0, "exit after this many datagrams (0: run until SIGINT)")
	verbose := flag.Bool("v", false, "print every datagram")
	kind := flag.String("driver", "auto", "driver: auto, xdp or packet")
	flag.Parse()
	if *ifname == "" || *addr == "" || *port > 65535 {
		flag.Usage()
		os.Exit(2)
	}
	prefix, err := netip.ParsePrefix(*addr)
	if err != nil {
		return err
	}
	k, err := driver.ParseKind(*kind)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := rxpath.Open(rxpath.Config{Interface: *ifname, Addr: prefix, Driver: auto.Options{Kind: k}})
	if err != nil {
		return err
	}
	// Close fails if a frame never went back to its driver.
	defer func() { err = errors.Join(err, n.Close()) }()
	c, err := n.ListenUDP(netip.AddrPortFrom(prefix.Addr(), uint16(*port)))
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { c.Close() }) // unblocks ReadBatch
	dev := n.Device()
	fmt.Printf("listening on %v (%v: %s)\n", c.LocalAddrPort(), dev.Kind, dev.Mode)

	msgs := make([]udp.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 65535)
	}
	var datagrams, bytes uint64
	for *count == 0 || datagrams < *count {
		k, err := c.ReadBatch(msgs)
		if err != nil {
			if ctx.Err() != nil {
				break // SIGINT or SIGTERM
			}
			return err
		}
		for _, m := range msgs[:k] {
			datagrams++
			bytes += uint64(m.N)
			if *verbose {
				fmt.Printf("%v: %d bytes: %q\n", m.Addr, m.N, m.Buf[:min(m.N, 32)])
			}
		}
	}
	st := c.Stats()
	fmt.Printf("received %d datagrams, %d bytes (receive queue drops: %d)\n", datagrams, bytes, st.Dropped)
	return nil
}
