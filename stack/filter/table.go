package filter

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"runtime"
	"strconv"
	"sync/atomic"
)

// Packet is what a rule can match on. The IPv4 layer fills one per packet,
// usually on its stack, and passes a pointer to Match, which does not
// retain it.
type Packet struct {
	Proto    uint8 // IP protocol number
	Src, Dst [4]byte
	SrcPort  uint16
	DstPort  uint16
	// HasPorts is false for non-first fragments and for protocols
	// without ports (ICMP); port clauses never match such a packet.
	HasPorts bool
	// Queue is the receive queue the frame arrived on.
	Queue int
	// Len is the number of bytes Match adds to the matching rule's byte
	// counter. The IPv4 layer sets it to the datagram's total length
	// (header and payload, after reassembly at LocalIn), as iptables
	// counts. Zero or negative counts no bytes.
	Len int
}

// RuleStats is a snapshot of one rule's counters, as Table.Stats returns it.
type RuleStats struct {
	Rule    string // Rule.Text, or Rule.String() when Text is empty
	Hook    string // "prerouting" or "input"
	Verdict string // "accept" or "drop"
	Packets uint64 // packets that matched the rule
	Bytes   uint64 // sum of their Packet.Len
}

// Table is an immutable, ordered list of rules with per-rule packet and byte
// counters. Its methods are safe for concurrent use; Match neither
// allocates nor locks. A nil *Table has no rules: Match accepts everything.
//
// To change the rules, build a new Table and swap it in with an
// atomic.Pointer[Table]; the old table's counters stay readable.
type Table struct {
	rules []Rule
	hooks [numHooks][]compiled

	// Counters are sharded by receive queue, as iptables keeps them per
	// CPU, so pollers on different queues do not bounce one cache line
	// between them: shard s holds counters[s*stride : s*stride+len(rules)],
	// and the slack at the end of each shard keeps shards on separate
	// cache lines.
	counters  []counter
	stride    int
	shardMask uint
}

// compiled is a Rule reduced to what Match compares, with addresses as
// big-endian uint32 and absent clauses as values that match everything.
type compiled struct {
	src, srcMask uint32
	dst, dstMask uint32
	sport, dport PortRange
	ports        bool // a port clause is present
	proto        uint8
	queue        int
	verdict      Verdict
	idx          int
}

type counter struct {
	packets atomic.Uint64
	bytes   atomic.Uint64
}

const (
	maxShards = 64
	// shardSlack is how many counters pad each shard: 128 bytes, a
	// cache line (or an adjacent-line prefetch pair) on every platform.
	shardSlack = 128 / 16
)

// NewTable builds a table from rules, which keep their order: at each hook
// the first matching rule wins. The rules are copied. NewTable panics if a
// rule fails Rule.Validate, as regexp.MustCompile does; rules returned by
// Parse never do.
func NewTable(rules []Rule) *Table {
	t := &Table{rules: make([]Rule, len(rules))}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			panic("filter.NewTable: rule " + strconv.Itoa(i) + ": " + err.Error())
		}
		t.rules[i] = r.clone()
		t.hooks[r.Hook] = append(t.hooks[r.Hook], compile(r, i))
	}
	shards := 1 << bits.Len(uint(min(max(runtime.GOMAXPROCS(0), 1), maxShards)-1))
	t.shardMask = uint(shards - 1)
	t.stride = len(rules) + shardSlack
	t.counters = make([]counter, shards*t.stride)
	return t
}

func compile(r Rule, idx int) compiled {
	c := compiled{
		proto:   r.Proto,
		queue:   r.Queue,
		verdict: r.Verdict,
		idx:     idx,
		sport:   PortRange{0, 0xffff},
		dport:   PortRange{0, 0xffff},
	}
	c.src, c.srcMask = prefixMask(r.Src)
	c.dst, c.dstMask = prefixMask(r.Dst)
	if r.SrcPort != nil {
		c.sport, c.ports = *r.SrcPort, true
	}
	if r.DstPort != nil {
		c.dport, c.ports = *r.DstPort, true
	}
	return c
}

// prefixMask returns the masked address and mask of a valid IPv4 prefix.
// The zero prefix and /0 give a mask of 0, which matches every address.
func prefixMask(p netip.Prefix) (addr, mask uint32) {
	if !p.IsValid() || p.Bits() == 0 {
		return 0, 0
	}
	a := p.Addr().As4()
	mask = ^uint32(0) << (32 - p.Bits())
	return binary.BigEndian.Uint32(a[:]) & mask, mask
}

// key is the part of a Packet that rules compare, loaded once per Match.
type key struct {
	src, dst     uint32
	sport, dport uint16
	hasPorts     bool
	proto        uint8
	queue        int
}

func (c *compiled) match(k *key) bool {
	return (c.proto == 0 || c.proto == k.proto) &&
		k.src&c.srcMask == c.src &&
		k.dst&c.dstMask == c.dst &&
		(c.queue < 0 || c.queue == k.queue) &&
		(!c.ports || k.hasPorts && c.sport.Contains(k.sport) && c.dport.Contains(k.dport))
}

// Match runs p through the rules at hook h. The first matching rule wins:
// Match counts p (one packet, p.Len bytes) against it and returns its
// verdict and index in the table. When no rule matches, or h is not a
// hook, it returns Accept and -1.
//
// Match does not allocate, lock or retain p; it is meant for the per-packet
// path and for concurrent callers.
func (t *Table) Match(h Hook, p *Packet) (Verdict, int) {
	if t == nil || uint(h) >= numHooks {
		return Accept, -1
	}
	k := key{
		src:      binary.BigEndian.Uint32(p.Src[:]),
		dst:      binary.BigEndian.Uint32(p.Dst[:]),
		sport:    p.SrcPort,
		dport:    p.DstPort,
		hasPorts: p.HasPorts,
		proto:    p.Proto,
		queue:    p.Queue,
	}
	rules := t.hooks[h]
	for i := range rules {
		c := &rules[i]
		if !c.match(&k) {
			continue
		}
		ctr := &t.counters[int(uint(p.Queue)&t.shardMask)*t.stride+c.idx]
		ctr.packets.Add(1)
		if p.Len > 0 {
			ctr.bytes.Add(uint64(p.Len))
		}
		return c.verdict, c.idx
	}
	return Accept, -1
}

// Stats returns each rule's counters, in table order. Each rule's counts
// are read atomically, but the snapshot is not atomic across rules.
func (t *Table) Stats() []RuleStats {
	if t == nil {
		return nil
	}
	out := make([]RuleStats, len(t.rules))
	for i, r := range t.rules {
		s := RuleStats{Rule: r.Text, Hook: r.Hook.String(), Verdict: r.Verdict.String()}
		if s.Rule == "" {
			s.Rule = r.String()
		}
		for base := 0; base < len(t.counters); base += t.stride {
			c := &t.counters[base+i]
			s.Packets += c.packets.Load()
			s.Bytes += c.bytes.Load()
		}
		out[i] = s
	}
	return out
}

// Rules returns a copy of the table's rules, in order.
func (t *Table) Rules() []Rule {
	if t == nil {
		return nil
	}
	out := make([]Rule, len(t.rules))
	for i, r := range t.rules {
		out[i] = r.clone()
	}
	return out
}

// Len returns the number of rules in the table, at all hooks.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.rules)
}
