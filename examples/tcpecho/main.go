// Command tcpecho is a TCP echo server (RFC 862) on rxpath's user-space
// stack: every connection gets back what it sends. It runs until SIGINT or
// SIGTERM, then prints a summary.
//
//	tcpecho -i eth0 -addr 10.0.0.2/24 [-port 7] [-driver auto]
//
// rxpath answers for -addr on the interface, so do not give that address
// to the kernel. Try it from another host with `nc 10.0.0.2 7`.
//
// rxpath's Listener is a net.Listener and its Conn a net.Conn, so the
// server is the one you would write with package net: one goroutine per
// connection, io.Copy. The stack itself starts no goroutine per
// connection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/stack/tcp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tcpecho:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	ifname := flag.String("i", "", "interface to receive on (required)")
	addr := flag.String("addr", "", "IPv4 address and prefix rxpath answers for, e.g. 10.0.0.2/24 (required)")
	port := flag.Uint("port", 7, "TCP port")
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
	defer func() { err = errors.Join(err, n.Close()) }()
	l, err := n.ListenTCP(netip.AddrPortFrom(prefix.Addr(), uint16(*port)), tcp.ListenOptions{})
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { l.Close() }) // unblocks Accept
	fmt.Printf("listening on %v\n", l.Addr())

	var wg sync.WaitGroup
	var conns, echoed atomic.Int64
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		conns.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() }) // unblocks Read
			defer stop()
			k, err := io.Copy(c, c) // until the client's FIN; Close sends ours
			echoed.Add(k)
			if err != nil {
				fmt.Printf("%v: echoed %d bytes: %v\n", c.RemoteAddrPort(), k, err)
				return
			}
			fmt.Printf("%v: echoed %d bytes\n", c.RemoteAddrPort(), k)
		}()
	}
	wg.Wait()
	fmt.Printf("served %d connections, echoed %d bytes\n", conns.Load(), echoed.Load())
	return nil
}
