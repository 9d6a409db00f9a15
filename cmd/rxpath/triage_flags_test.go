package main

import (
	"strings"
	"testing"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/stack/filter"
)

func TestTriageGuards(t *testing.T) {
	d := afxdp.DefaultTriage()
	cases := []struct {
		list    string
		synRate uint
		want    afxdp.Triage
		rules   bool
		err     string
	}{
		{list: "", want: afxdp.Triage{}},
		{list: "syn", want: afxdp.Triage{SYN: d.SYN}},
		{list: "arp,frag", want: afxdp.Triage{ARP: d.ARP, Fragments: d.Fragments, FragmentNewSources: d.FragmentNewSources}},
		{list: "udp, rules", want: afxdp.Triage{ClosedUDP: d.ClosedUDP}, rules: true},
		{list: "all", want: d, rules: true},
		{list: "syn", synRate: 500, want: afxdp.Triage{SYN: afxdp.Budget{Rate: 500, Burst: 50}}},
		{list: "syn,icmp", err: `unknown guard "icmp"`},
		{list: "", synRate: 5, err: "needs --xdp-triage"},
		{list: "arp", synRate: 5, err: "needs the syn guard"},
	}
	for _, c := range cases {
		var got afxdp.Triage
		rules, err := triageGuards(&got, c.list, c.synRate)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q, %d: error %v, want %q", c.list, c.synRate, err, c.err)
			}
			continue
		}
		if err != nil || rules != c.rules || got.SYN != c.want.SYN || got.ARP != c.want.ARP ||
			got.Fragments != c.want.Fragments || got.FragmentNewSources != c.want.FragmentNewSources || got.ClosedUDP != c.want.ClosedUDP {
			t.Errorf("%q, %d: %+v, rules %v, %v; want %+v, rules %v", c.list, c.synRate, got, rules, err, c.want, c.rules)
		}
	}
}

// TestTriageSummaryLines: the stats line and the summary show the XDP
// drops by reason and the XDP rule rows, and nothing when the stage is
// off.
func TestTriageSummaryLines(t *testing.T) {
	s := rxpath.Snapshot{Iface: "eth0", Elapsed: 1}
	if strings.Contains(statsLine(s, s), "triage") || strings.Contains(snapshotSummary(s), "xdp") {
		t.Fatal("triage shown while off")
	}
	s.XDP = &rxpath.XDPStats{Rules: []filter.RuleStats{{Rule: "drop udp dport 9001", Hook: "input", Verdict: "drop", Packets: 7, Bytes: 700}}}
	s.XDP.SYNDropped.Packets, s.XDP.ARPDropped.Packets, s.XDP.RuleDropped.Packets = 11, 12, 7
	line, sum := statsLine(rxpath.Snapshot{}, s), snapshotSummary(s)
	for _, want := range []string{"syn=11", "arp=12", "rules=7"} {
		if !strings.Contains(line, want) {
			t.Errorf("stats line %q lacks %q", line, want)
		}
	}
	for _, want := range []string{"syn 11, arp 12", `xdp filter "drop udp dport 9001": 7 packets, 700 bytes`} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}
