package rxpath

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/stack/filter"
)

// TestXDPFilter: which filter rules move into XDP, and how.
func TestXDPFilter(t *testing.T) {
	addr := netip.MustParsePrefix("10.0.0.2/24")
	local := netip.MustParsePrefix("10.0.0.2/32")
	any := [2]uint16{0, 0xffff}
	cases := []struct {
		name  string
		rules []string
		want  []afxdp.Rule
		names []string
	}{
		{"input drop with port: whole datagrams to us",
			[]string{"drop udp dport 9001"},
			[]afxdp.Rule{{Proto: 17, Ports: true, Whole: true, SrcPort: any, DstPort: [2]uint16{9001, 9001}, Dst: local, Queue: -1}},
			[]string{"drop udp dport 9001"}},
		{"prerouting drops move, ports on first fragments too",
			[]string{"prerouting drop src 192.0.2.0/24", "prerouting drop tcp sport 1000-1009"},
			[]afxdp.Rule{
				{Src: netip.MustParsePrefix("192.0.2.0/24"), SrcPort: any, DstPort: any, Queue: -1},
				{Proto: 6, Ports: true, SrcPort: [2]uint16{1000, 1009}, DstPort: any, Queue: -1}},
			[]string{"prerouting drop src 192.0.2.0/24", "prerouting drop tcp sport 1000-1009"}},
		{"nothing after an accept at the same hook",
			[]string{"accept udp dport 53", "drop udp"},
			nil, nil},
		{"a prerouting drop left behind keeps input rules in the stack",
			[]string{"prerouting accept icmp", "prerouting drop udp", "drop tcp"},
			nil, nil},
		{"an input rule for another destination stays (it matches nothing local)",
			[]string{"drop dst 10.0.0.9", "drop icmp"},
			[]afxdp.Rule{{Proto: 1, Dst: local, SrcPort: any, DstPort: any, Queue: -1}},
			[]string{"drop icmp"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules, err := parseRules(c.rules)
			if err != nil {
				t.Fatal(err)
			}
			got, stats := xdpFilter(rules, addr)
			if diff := cmp.Diff(c.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			var names []string
			for _, s := range stats {
				names = append(names, s.Rule)
				if s.Verdict != filter.Drop.String() {
					t.Errorf("rule %q verdict %q", s.Rule, s.Verdict)
				}
			}
			if diff := cmp.Diff(c.names, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestXDPConfigErrors: what Validate refuses of the triage options.
func TestXDPConfigErrors(t *testing.T) {
	addr := netip.MustParsePrefix("10.0.0.2/24")
	guards := afxdp.DefaultTriage()
	cases := []struct {
		name string
		c    Config
		ok   bool
	}{
		{"XDPFilter without rules", Config{Interface: "x", Addr: addr, XDPFilter: true}, false},
		{"XDPFilter with rules", Config{Interface: "x", Addr: addr, XDPFilter: true, Filter: []string{"drop udp"}}, true},
		{"TapXDPDrops without a capture", Config{Interface: "x", Addr: addr, TapXDPDrops: true, Driver: auto.Options{XDP: afxdp.Options{Triage: guards}}}, false},
		{"TapXDPDrops without the stage", Config{Interface: "x", Addr: addr, TapXDPDrops: true, Pcap: "/tmp/x.pcap"}, false},
		{"TapXDPDrops with both", Config{Interface: "x", Addr: addr, TapXDPDrops: true, Pcap: "/tmp/x.pcap", Driver: auto.Options{XDP: afxdp.Options{Triage: guards}}}, true},
	}
	for _, c := range cases {
		if err := c.c.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v", c.name, err)
		}
	}
}
