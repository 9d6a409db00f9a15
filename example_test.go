package rxpath_test

import (
	"fmt"
	"log"

	"github.com/rxpath/rxpath/stack/filter"
)

// Filter rules are text (the syntax of package stack/filter), the same
// strings Config.Filter takes. Parsed into a Table, they are evaluated
// here without a NIC, the way the IPv4 layer runs them at its two hooks:
// the first matching rule decides, and no match accepts.
func Example_filterRules() {
	var rules []filter.Rule
	for _, s := range []string{"drop udp dport 9001", "prerouting drop icmp", "accept tcp src 10.0.0.0/8 dport 22", "drop tcp dport 22"} {
		r, err := filter.Parse(s)
		if err != nil {
			log.Fatal(err)
		}
		rules = append(rules, r)
	}
	table := filter.NewTable(rules)

	for _, p := range []struct {
		what string
		hook filter.Hook
		pkt  filter.Packet
	}{
		{"udp to 9000", filter.LocalIn, filter.Packet{Proto: 17, DstPort: 9000, HasPorts: true}},
		{"udp to 9001", filter.LocalIn, filter.Packet{Proto: 17, DstPort: 9001, HasPorts: true}},
		{"icmp echo", filter.PreRouting, filter.Packet{Proto: 1}},
		{"ssh from 10.1.2.3", filter.LocalIn, filter.Packet{Proto: 6, Src: [4]byte{10, 1, 2, 3}, DstPort: 22, HasPorts: true}},
		{"ssh from 192.0.2.1", filter.LocalIn, filter.Packet{Proto: 6, Src: [4]byte{192, 0, 2, 1}, DstPort: 22, HasPorts: true}},
	} {
		v, i := table.Match(p.hook, &p.pkt)
		if i < 0 {
			fmt.Printf("%-18s at %-10s %v (no rule)\n", p.what, p.hook, v)
			continue
		}
		fmt.Printf("%-18s at %-10s %v (rule %d: %v)\n", p.what, p.hook, v, i, rules[i])
	}
	for _, s := range table.Stats() {
		fmt.Printf("%s: %d packets\n", s.Rule, s.Packets)
	}
	// Output:
	// udp to 9000        at input      accept (no rule)
	// udp to 9001        at input      drop (rule 0: drop udp dport 9001)
	// icmp echo          at prerouting drop (rule 1: prerouting drop icmp)
	// ssh from 10.1.2.3  at input      accept (rule 2: accept tcp src 10.0.0.0/8 dport 22)
	// ssh from 192.0.2.1 at input      drop (rule 3: drop tcp dport 22)
	// drop udp dport 9001: 1 packets
	// prerouting drop icmp: 1 packets
	// accept tcp src 10.0.0.0/8 dport 22: 1 packets
	// drop tcp dport 22: 1 packets
}
