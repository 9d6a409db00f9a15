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

// filterRules drop UDP datagrams to port 9001 at the default input hook
// (after reassembly, like iptables' INPUT chain), and every ICMP packet at
// the prerouting hook (before reassembly, so no fragment is kept).
// Anything no rule matches is accepted.
var filterRules = []string{
	"drop udp dport 9001",
	"prerouting drop icmp",
}

// filteredSink opens ifname behind filterRules, listens on UDP ports 9000
// and 9001 until want datagrams reached port 9000, then reports what each
// socket received and what each rule matched.
func filteredSink(ctx context.Context, ifname string, addr netip.Prefix, want int, out io.Writer) (err error) {
	n, err := rxpath.Open(rxpath.Config{Interface: ifname, Addr: addr, Filter: filterRules})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.Close()) }()

	ports := []uint16{9000, 9001}
	got := make([]atomic.Int64, len(ports))
	done := make(chan struct{})
	for i, port := range ports {
		c, err := n.ListenUDP(netip.AddrPortFrom(addr.Addr(), port))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetHandler(func(udp.Datagram) {
			if got[i].Add(1) == int64(want) && i == 0 {
				close(done)
			}
		})
	}
	fmt.Fprintf(out, "listening on ports %v\n", ports)

	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	for i, port := range ports {
		fmt.Fprintf(out, "port %d: %d datagrams\n", port, got[i].Load())
	}
	for _, r := range n.IPv4.Filter().Stats() {
		fmt.Fprintf(out, "%s: %d packets\n", r.Rule, r.Packets)
	}
	return nil
}

// Filter rules on a node: port 9001 hears nothing, and 10.0.0.2 does not
// answer pings, while port 9000 receives. Each rule counts what it
// dropped.
func ExampleConfig_filter() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := filteredSink(ctx, "eth0", netip.MustParsePrefix("10.0.0.2/24"), 1000, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
