// Command httpserver serves a small page with net/http on rxpath's
// user-space TCP stack, until SIGINT or SIGTERM.
//
//	httpserver -i eth0 -addr 10.0.0.2/24 [-port 80] [-driver auto]
//
// rxpath answers for -addr on the interface, so do not give that address
// to the kernel; then `curl http://10.0.0.2/` from another host. The
// rxpath Listener is a net.Listener and its connections are net.Conns
// with deadlines, so http.Server runs on it unchanged.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/stack/tcp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	ifname := flag.String("i", "", "interface to receive on (required)")
	addr := flag.String("addr", "", "IPv4 address and prefix rxpath answers for, e.g. 10.0.0.2/24 (required)")
	port := flag.Uint("port", 80, "TCP port")
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

	var requests atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello from rxpath, %s: this page came through a user-space TCP stack\n", r.RemoteAddr)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	fmt.Printf("listening on http://%v/\n", l.Addr())

	select {
	case err := <-served:
		return err // the listener failed
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Printf("served %d requests\n", requests.Load())
	return nil
}
