package rxpath_test

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/tap"
)

// TestOpenConfigErrors checks the configurations Open refuses before it
// touches the system, so it runs everywhere without privilege.
func TestOpenConfigErrors(t *testing.T) {
	addr := netip.MustParsePrefix("10.0.0.2/24")
	count := func(*poller.Batch) {}
	tp, err := tap.New(&bytes.Buffer{}, tap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	for _, tc := range []struct {
		name string
		cfg  rxpath.Config
		want string
	}{
		{"no interface", rxpath.Config{Addr: addr}, "Config.Interface is required"},
		{"no address", rxpath.Config{Interface: "eth0"}, "Config.Addr is required"},
		{"IPv6 address", rxpath.Config{Interface: "eth0", Addr: netip.MustParsePrefix("fd00::2/64")}, "is not IPv4"},
		{"bad rule", rxpath.Config{Interface: "eth0", Addr: addr, Filter: []string{"drop udp dport 70000"}}, `filter "drop udp dport 70000"`},
		{"filter without stack", rxpath.Config{Interface: "eth0", Handler: count, Filter: []string{"drop udp"}}, "Config.Filter needs the stack"},
		{"two filters", rxpath.Config{Interface: "eth0", Addr: addr, Filter: []string{"drop udp"}, IPv4: ipv4.Options{Filter: filter.NewTable(nil)}}, "not both"},
		{"two taps", rxpath.Config{Interface: "eth0", Addr: addr, Tap: tp, Pcap: "x.pcap"}, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := rxpath.Open(tc.cfg)
			if err == nil {
				n.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "rxpath: ") {
				t.Fatalf("error %q, want one mentioning %q", err, tc.want)
			}
		})
	}
	var pe *filter.ParseError
	if _, err := rxpath.Open(rxpath.Config{Interface: "eth0", Addr: addr, Filter: []string{"drop bogus"}}); !errors.As(err, &pe) {
		t.Fatalf("a bad rule gives %v, want a *filter.ParseError", err)
	}
}
