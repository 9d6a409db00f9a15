package filter

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
)

func mustParse(t testing.TB, specs ...string) []Rule {
	t.Helper()
	rules := make([]Rule, len(specs))
	for i, s := range specs {
		r, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		rules[i] = r
	}
	return rules
}

func addr4(s string) [4]byte { return netip.MustParseAddr(s).As4() }

// udp returns a UDP packet with ports from src:sport to dst:dport on queue 0.
func udp(src string, sport uint16, dst string, dport uint16) Packet {
	return Packet{Proto: ProtoUDP, Src: addr4(src), Dst: addr4(dst),
		SrcPort: sport, DstPort: dport, HasPorts: true, Len: 100}
}

func TestMatch(t *testing.T) {
	frag := udp("10.99.0.1", 1000, "10.0.0.2", 53)
	frag.HasPorts, frag.SrcPort, frag.DstPort = false, 0, 0
	icmp := Packet{Proto: ProtoICMP, Src: addr4("10.99.0.1"), Dst: addr4("10.0.0.2")}
	onQueue := func(p Packet, q int) Packet { p.Queue = q; return p }

	tests := []struct {
		name    string
		rules   []string
		hook    Hook
		p       Packet
		verdict Verdict
		idx     int
	}{
		{"empty table", nil, LocalIn, udp("1.1.1.1", 1, "2.2.2.2", 2), Accept, -1},
		{"no match", []string{"drop udp dport 53"}, LocalIn, udp("1.1.1.1", 1, "2.2.2.2", 54), Accept, -1},
		{"dport", []string{"drop udp dport 53"}, LocalIn, udp("1.1.1.1", 1, "2.2.2.2", 53), Drop, 0},
		{"proto mismatch", []string{"drop tcp dport 53"}, LocalIn, udp("1.1.1.1", 1, "2.2.2.2", 53), Accept, -1},
		{"first match wins", []string{"accept udp dport 53", "drop udp"}, LocalIn,
			udp("1.1.1.1", 1, "2.2.2.2", 53), Accept, 0},
		{"first match wins, later rule", []string{"accept udp dport 53", "drop udp"}, LocalIn,
			udp("1.1.1.1", 1, "2.2.2.2", 54), Drop, 1},
		{"catch-all", []string{"accept tcp", "drop"}, LocalIn, icmp, Drop, 1},
		{"hook separation: input rule at prerouting", []string{"drop udp"}, PreRouting,
			udp("1.1.1.1", 1, "2.2.2.2", 2), Accept, -1},
		{"hook separation: prerouting rule at input", []string{"prerouting drop udp"}, LocalIn,
			udp("1.1.1.1", 1, "2.2.2.2", 2), Accept, -1},
		{"hook separation: index is table-wide", []string{"drop tcp", "prerouting drop udp", "drop udp"}, LocalIn,
			udp("1.1.1.1", 1, "2.2.2.2", 2), Drop, 2},
		{"prerouting rule at prerouting", []string{"drop tcp", "prerouting drop udp"}, PreRouting,
			udp("1.1.1.1", 1, "2.2.2.2", 2), Drop, 1},
		{"bad hook", []string{"drop"}, Hook(2), icmp, Accept, -1},
		{"negative hook", []string{"drop"}, Hook(-1), icmp, Accept, -1},
		{"dport never matches a fragment", []string{"prerouting drop udp dport 0-65535"}, PreRouting, frag, Accept, -1},
		{"sport never matches a fragment", []string{"prerouting drop udp sport 0-65535"}, PreRouting, frag, Accept, -1},
		{"proto matches a fragment", []string{"prerouting drop udp"}, PreRouting, frag, Drop, 0},
		{"address matches a fragment", []string{"prerouting drop src 10.99.0.0/24"}, PreRouting, frag, Drop, 0},
		{"port range lo", []string{"drop udp sport 1000-2000"}, LocalIn, udp("1.1.1.1", 1000, "2.2.2.2", 1), Drop, 0},
		{"port range hi", []string{"drop udp sport 1000-2000"}, LocalIn, udp("1.1.1.1", 2000, "2.2.2.2", 1), Drop, 0},
		{"port range below", []string{"drop udp sport 1000-2000"}, LocalIn, udp("1.1.1.1", 999, "2.2.2.2", 1), Accept, -1},
		{"port range above", []string{"drop udp sport 1000-2000"}, LocalIn, udp("1.1.1.1", 2001, "2.2.2.2", 1), Accept, -1},
		{"sport and dport both", []string{"drop tcp sport 1 dport 2"}, LocalIn,
			Packet{Proto: ProtoTCP, SrcPort: 1, DstPort: 3, HasPorts: true}, Accept, -1},
		{"queue match", []string{"drop udp sport 1000-2000 queue 1"}, LocalIn,
			onQueue(udp("1.1.1.1", 1500, "2.2.2.2", 1), 1), Drop, 0},
		{"queue mismatch", []string{"drop udp sport 1000-2000 queue 1"}, LocalIn,
			onQueue(udp("1.1.1.1", 1500, "2.2.2.2", 1), 0), Accept, -1},
		{"queue 0", []string{"drop queue 0"}, LocalIn, icmp, Drop, 0},
		{"any queue", []string{"drop"}, LocalIn, onQueue(icmp, 63), Drop, 0},
		{"src /24 in", []string{"drop udp src 10.99.0.0/24 dport 53"}, LocalIn,
			udp("10.99.0.255", 1, "2.2.2.2", 53), Drop, 0},
		{"src /24 out", []string{"drop udp src 10.99.0.0/24 dport 53"}, LocalIn,
			udp("10.99.1.0", 1, "2.2.2.2", 53), Accept, -1},
		{"src /32 in", []string{"drop src 10.99.0.1"}, LocalIn, icmp, Drop, 0},
		{"src /32 out", []string{"drop src 10.99.0.2"}, LocalIn, icmp, Accept, -1},
		{"dst /32", []string{"drop dst 10.0.0.2/32"}, LocalIn, icmp, Drop, 0},
		{"src /0", []string{"drop src 0.0.0.0/0"}, LocalIn, udp("255.255.255.255", 1, "0.0.0.0", 2), Drop, 0},
		{"dst /0", []string{"drop dst 0.0.0.0/0"}, LocalIn, udp("0.0.0.0", 1, "0.0.0.0", 2), Drop, 0},
		{"dst /1", []string{"drop dst 128.0.0.0/1"}, LocalIn, udp("0.0.0.0", 1, "127.255.255.255", 2), Accept, -1},
		{"host bits ignored", []string{"drop src 10.99.0.77/24"}, LocalIn, icmp, Drop, 0},
		{"src and dst both", []string{"drop src 10.99.0.1 dst 10.0.0.3"}, LocalIn, icmp, Accept, -1},
		{"proto N", []string{"drop proto 47"}, LocalIn, Packet{Proto: 47}, Drop, 0},
		{"proto N mismatch", []string{"drop proto 47"}, LocalIn, Packet{Proto: 46}, Accept, -1},
		{"icmp", []string{"prerouting drop icmp"}, PreRouting, icmp, Drop, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewTable(mustParse(t, tt.rules...))
			p := tt.p
			v, idx := tab.Match(tt.hook, &p)
			if v != tt.verdict || idx != tt.idx {
				t.Fatalf("Match = %v, %d; want %v, %d", v, idx, tt.verdict, tt.idx)
			}
			for i, s := range tab.Stats() {
				want := uint64(0)
				if i == idx {
					want = 1
				}
				if s.Packets != want || s.Bytes != want*uint64(p.Len) {
					t.Errorf("Stats[%d] = %+v, want %d packets", i, s, want)
				}
			}
		})
	}
}

func TestNilTable(t *testing.T) {
	var tab *Table
	p := udp("1.1.1.1", 1, "2.2.2.2", 2)
	if v, idx := tab.Match(LocalIn, &p); v != Accept || idx != -1 {
		t.Errorf("Match = %v, %d; want accept, -1", v, idx)
	}
	if tab.Len() != 0 || tab.Stats() != nil || tab.Rules() != nil {
		t.Error("nil table is not empty")
	}
}

func TestTableAccessors(t *testing.T) {
	rules := mustParse(t, "drop udp dport 9001", "prerouting drop icmp")
	rules = append(rules, Rule{Hook: LocalIn, Verdict: Accept, Proto: ProtoTCP, DstPort: ports(80, 81), Queue: -1})
	tab := NewTable(rules)

	// The table copies its rules: changing the caller's slice or the
	// slice Rules returns changes neither matching nor Rules.
	rules[0].DstPort.Lo = 1
	rules[1].Verdict = Accept
	got := tab.Rules()
	got[2].DstPort.Hi = 1
	p := udp("1.1.1.1", 1, "2.2.2.2", 9001)
	if v, idx := tab.Match(LocalIn, &p); v != Drop || idx != 0 {
		t.Errorf("Match = %v, %d; want drop, 0", v, idx)
	}
	if tab.Len() != 3 {
		t.Errorf("Len = %d, want 3", tab.Len())
	}
	want := mustParse(t, "drop udp dport 9001", "prerouting drop icmp", "accept tcp dport 80-81")
	for i, r := range tab.Rules() {
		if !equalRules(r, want[i]) {
			t.Errorf("Rules()[%d] = %s, want %s", i, dump(r), dump(want[i]))
		}
	}

	wantStats := []RuleStats{
		{Rule: "drop udp dport 9001", Hook: "input", Verdict: "drop", Packets: 1, Bytes: 100},
		{Rule: "prerouting drop icmp", Hook: "prerouting", Verdict: "drop"},
		{Rule: "accept tcp dport 80-81", Hook: "input", Verdict: "accept"}, // no Text: String
	}
	stats := tab.Stats()
	if len(stats) != len(wantStats) {
		t.Fatalf("Stats = %+v", stats)
	}
	for i := range stats {
		if stats[i] != wantStats[i] {
			t.Errorf("Stats[%d] = %+v, want %+v", i, stats[i], wantStats[i])
		}
	}
}

// refMatch is the plain reading of the Rule documentation that the
// compiled matcher must agree with.
func refMatch(rules []Rule, h Hook, p *Packet) (Verdict, int) {
	for i, r := range rules {
		switch {
		case r.Hook != h,
			r.Proto != 0 && r.Proto != p.Proto,
			r.Src.IsValid() && !r.Src.Contains(netip.AddrFrom4(p.Src)),
			r.Dst.IsValid() && !r.Dst.Contains(netip.AddrFrom4(p.Dst)),
			r.SrcPort != nil && (!p.HasPorts || !r.SrcPort.Contains(p.SrcPort)),
			r.DstPort != nil && (!p.HasPorts || !r.DstPort.Contains(p.DstPort)),
			r.Queue != -1 && r.Queue != p.Queue:
			continue
		}
		return r.Verdict, i
	}
	return Accept, -1
}

func randPacket(rng *rand.Rand) Packet {
	p := Packet{
		Proto:    [...]uint8{ProtoICMP, ProtoTCP, ProtoUDP, 47}[rng.IntN(4)],
		Src:      [4]byte{10, byte(rng.IntN(3)), byte(rng.IntN(3)), byte(rng.IntN(3))},
		Dst:      [4]byte{10, byte(rng.IntN(3)), byte(rng.IntN(3)), byte(rng.IntN(3))},
		HasPorts: rng.IntN(4) != 0,
		Queue:    rng.IntN(4),
		Len:      rng.IntN(1500),
	}
	if rng.IntN(8) == 0 {
		p.Src[0] = byte(rng.Uint32())
	}
	if p.HasPorts {
		p.SrcPort, p.DstPort = uint16(rng.IntN(10)), uint16(rng.IntN(10))
	}
	return p
}

// TestMatchReference checks Match against refMatch on random tables and
// packets drawn from small domains, so that rules both hit and miss.
func TestMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		rules := make([]Rule, 1+rng.IntN(12))
		for i := range rules {
			rules[i] = randRule(rng)
		}
		tab := NewTable(rules)
		want := make([][2]uint64, len(rules))
		for range 300 {
			p := randPacket(rng)
			h := Hook(rng.IntN(numHooks))
			gv, gi := tab.Match(h, &p)
			wv, wi := refMatch(rules, h, &p)
			if gv != wv || gi != wi {
				t.Fatalf("rules %v\nhook %v packet %+v\nMatch = %v, %d; reference %v, %d",
					rules, h, p, gv, gi, wv, wi)
			}
			if wi >= 0 {
				want[wi][0]++
				want[wi][1] += uint64(p.Len)
			}
		}
		for i, s := range tab.Stats() {
			if s.Packets != want[i][0] || s.Bytes != want[i][1] {
				t.Fatalf("Stats[%d] = %+v, want %d packets %d bytes", i, s, want[i][0], want[i][1])
			}
		}
	}
}

// TestConcurrentMatch runs Match from several goroutines, on distinct and
// shared queues, queues past the shard count and negative ones, while
// Stats is read; run it with -race.
func TestConcurrentMatch(t *testing.T) {
	tab := NewTable(mustParse(t, "accept tcp", "drop udp dport 53", "drop udp src 10.99.0.0/24"))
	const (
		workers = 8
		iters   = 20000
	)
	queues := [workers]int{0, 1, 2, 3, 3, 100, 1 << 20, -1}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				tab.Stats()
				runtime.Gosched()
			}
		}
	})
	var matchers sync.WaitGroup
	for w := range workers {
		matchers.Go(func() {
			a := udp("10.1.1.1", 1, "10.0.0.1", 53)
			a.Queue, a.Len = queues[w], 60
			b := udp("10.99.0.9", 1, "10.0.0.1", 54)
			b.Queue, b.Len = queues[w], 1500
			c := b
			c.Src = addr4("10.98.0.9")
			for range iters {
				if v, idx := tab.Match(LocalIn, &a); v != Drop || idx != 1 {
					t.Errorf("Match(a) = %v, %d", v, idx)
					return
				}
				if v, idx := tab.Match(LocalIn, &b); v != Drop || idx != 2 {
					t.Errorf("Match(b) = %v, %d", v, idx)
					return
				}
				if v, idx := tab.Match(LocalIn, &c); v != Accept || idx != -1 {
					t.Errorf("Match(c) = %v, %d", v, idx)
					return
				}
			}
		})
	}
	matchers.Wait()
	close(stop)
	wg.Wait()

	n := uint64(workers * iters)
	want := []RuleStats{
		{Rule: "accept tcp", Hook: "input", Verdict: "accept"},
		{Rule: "drop udp dport 53", Hook: "input", Verdict: "drop", Packets: n, Bytes: 60 * n},
		{Rule: "drop udp src 10.99.0.0/24", Hook: "input", Verdict: "drop", Packets: n, Bytes: 1500 * n},
	}
	for i, s := range tab.Stats() {
		if s != want[i] {
			t.Errorf("Stats[%d] = %+v, want %+v", i, s, want[i])
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	tab := NewTable(benchRules(t))
	hit := udp("10.99.0.1", 1000, "10.0.0.1", 9001)
	miss := udp("10.1.0.1", 1000, "10.0.0.1", 9002)
	allocs := testing.AllocsPerRun(1000, func() {
		tab.Match(LocalIn, &hit)
		tab.Match(LocalIn, &miss)
		tab.Match(PreRouting, &miss)
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run, want 0", allocs)
	}
}

// benchRules is a 10-rule table; the benchmark packet passes the first nine
// and matches the last.
func benchRules(t testing.TB) []Rule {
	return mustParse(t,
		"prerouting drop icmp",
		"prerouting drop src 192.168.0.0/16",
		"accept tcp dport 80",
		"accept tcp dport 443",
		"drop udp dport 53 queue 3",
		"drop src 10.99.1.0/24",
		"drop udp sport 1000-2000 dst 10.0.0.2",
		"drop proto 47",
		"accept udp dport 8000-8999",
		"drop udp dport 9001",
	)
}

func BenchmarkMatch(b *testing.B) {
	tab := NewTable(benchRules(b))
	p := udp("10.99.0.1", 1000, "10.0.0.1", 9001)
	b.Run("last", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tab.Match(LocalIn, &p)
		}
	})
	miss := p
	miss.DstPort = 9002
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tab.Match(LocalIn, &miss)
		}
	})
	// Parallel: each goroutine on its own queue, as pollers are.
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var mu sync.Mutex
		q := 0
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			p := p
			p.Queue = q
			q++
			mu.Unlock()
			for pb.Next() {
				tab.Match(LocalIn, &p)
			}
		})
	})
}
