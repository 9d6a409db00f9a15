package afxdp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Budget is a rate limit: Rate frames a second on average, with bursts of
// up to Burst frames. The XDP program keeps it as a GCRA (a token bucket
// kept as one timestamp), so a budget costs one map value. The zero
// Budget turns its guard off.
type Budget struct {
	Rate  uint32 // frames per second; 0: the guard is off
	Burst uint32 // frames; 0 means Rate/10, at least 1
}

func (b Budget) on() bool { return b.Rate > 0 }

// interval is the time one frame costs, in nanoseconds.
func (b Budget) interval() uint64 { return uint64(time.Second) / uint64(b.Rate) }

// tau is how far ahead of now the budget's clock may run: Burst frames
// back to back, the first at the clock.
func (b Budget) tau() uint64 {
	burst := b.Burst
	if burst == 0 {
		burst = max(b.Rate/10, 1)
	}
	return uint64(burst-1) * b.interval()
}

// Rule is one stateless drop rule the XDP program checks: every clause
// must hold. Package rxpath compiles the rules of stack/filter that need
// no state into these; the driver knows nothing of the filter package.
type Rule struct {
	// Proto is the IP protocol number; 0 matches any.
	Proto uint8
	// Src and Dst match the addresses; the zero Prefix matches any.
	Src, Dst netip.Prefix
	// SrcPort and DstPort are inclusive ranges; Ports says they apply
	// (Proto is then TCP or UDP). A packet without ports (a non-first
	// fragment, a truncated header) never matches a rule with ports.
	SrcPort, DstPort [2]uint16
	Ports            bool
	// Whole restricts port clauses to unfragmented datagrams: a rule of
	// the stack's input hook sees ports after reassembly, so a first
	// fragment is left to the stack.
	Whole bool
	// Queue is the rx queue; -1 matches any.
	Queue int
}

// Triage configures the XDP triage stage: guards and rules that drop
// frames in the XDP program, before the rx ring, each drop counted by
// reason (Device.TriageStats). The zero value is off; every guard is off
// until its Budget has a Rate. See DefaultTriage.
type Triage struct {
	// SYN caps the TCP SYNs (without ACK) let into the rings. A SYN the
	// budget refuses is remembered (a fingerprint of its addresses,
	// ports and sequence number, in the emptier or older of two of
	// SYNMemory slots) and dropped; its
	// retransmission, which a real client sends after its RTO (1 s on
	// Linux) and a flood tool does not, passes. Every other segment,
	// established flows included, always passes.
	SYN Budget
	// SYNMemory is the number of fingerprint slots, a power of two
	// (default 1<<21, 8 MiB of kernel memory).
	SYNMemory uint32
	// ARP caps ARP requests.
	ARP Budget
	// Fragments caps IPv4 fragments per source address. A source not
	// yet known is admitted, and remembered, within FragmentNewSources:
	// a flood from random sources cannot crowd out a known peer's
	// fragments.
	Fragments Budget
	// FragmentNewSources caps the fragments from sources not yet known
	// (default: Fragments).
	FragmentNewSources Budget
	// FragmentSources is the number of sources remembered (LRU, default
	// 65536).
	FragmentSources uint32
	// ClosedUDP caps unfragmented UDP datagrams to ports with no socket
	// (see Device.SetUDPPort); what passes gets the stack's port
	// unreachable, itself rate limited.
	ClosedUDP Budget
	// Rules are stateless drop rules, checked first, in order.
	Rules []Rule
	// SampleDrops copies the first SampleSnap bytes of each dropped
	// frame to a perf buffer (Device.ReadDropSample), for the tap.
	SampleDrops bool
	// SampleSnap is the bytes sampled per frame (default 256).
	SampleSnap uint32
}

// MaxTriageRules bounds Triage.Rules: each rule is unrolled into the
// program.
const MaxTriageRules = 64

// DefaultTriage returns every guard on with rates a single poller serves
// with room to spare: 2000 new SYNs, 1000 ARP requests and 1000 datagrams
// to closed ports a second, and 20000 fragments a second per source,
// 2000 from sources not yet known.
func DefaultTriage() Triage {
	return Triage{
		SYN:                Budget{Rate: 2000, Burst: 200},
		ARP:                Budget{Rate: 1000, Burst: 100},
		Fragments:          Budget{Rate: 20000, Burst: 2000},
		FragmentNewSources: Budget{Rate: 2000, Burst: 200},
		ClosedUDP:          Budget{Rate: 1000, Burst: 100},
	}
}

// Enabled reports whether any guard or rule is on.
func (t Triage) Enabled() bool {
	return t.SYN.on() || t.ARP.on() || t.Fragments.on() || t.ClosedUDP.on() || len(t.Rules) > 0
}

func (t Triage) withDefaults() Triage {
	if t.SYNMemory == 0 {
		t.SYNMemory = 1 << 21
	}
	if t.FragmentSources == 0 {
		t.FragmentSources = 65536
	}
	if t.SampleSnap == 0 {
		t.SampleSnap = 256
	}
	if !t.FragmentNewSources.on() {
		t.FragmentNewSources = t.Fragments
	}
	return t
}

func (t Triage) validate() error {
	if !t.Enabled() {
		if t.SampleDrops {
			return errors.New("triage: SampleDrops needs a guard or a rule")
		}
		return nil
	}
	t = t.withDefaults()
	if t.SYNMemory&(t.SYNMemory-1) != 0 || t.SYNMemory < 2 || t.SYNMemory > 1<<26 {
		return fmt.Errorf("triage: SYNMemory %d is not a power of two in [2, 1<<26]", t.SYNMemory)
	}
	if t.SampleSnap > 4096 {
		return fmt.Errorf("triage: SampleSnap %d is above 4096", t.SampleSnap)
	}
	if len(t.Rules) > MaxTriageRules {
		return fmt.Errorf("triage: %d rules, at most %d", len(t.Rules), MaxTriageRules)
	}
	for i, r := range t.Rules {
		for _, p := range []netip.Prefix{r.Src, r.Dst} {
			if p.IsValid() && !p.Addr().Is4() {
				return fmt.Errorf("triage: rule %d: %s is not IPv4", i, p)
			}
		}
		if r.Ports && (r.Proto != 6 && r.Proto != 17 || r.SrcPort[0] > r.SrcPort[1] || r.DstPort[0] > r.DstPort[1]) {
			return fmt.Errorf("triage: rule %d: ports need tcp or udp and ordered ranges", i)
		}
		if r.Queue < -1 {
			return fmt.Errorf("triage: rule %d: queue %d", i, r.Queue)
		}
	}
	return nil
}

// Drop reasons: the index of each guard's counter in the counter map.
const (
	reasonSYN = iota
	reasonARP
	reasonFragment
	reasonClosedUDP
	reasonRule
	// Not drops: SYNs the budget let in, and retransmitted SYNs let in
	// because their first copy was remembered.
	countSYNAdmitted
	countSYNRetransmit
	numCounts
)

// reasonNames name the reasons in TriageStats and the sampled frames.
var reasonNames = [...]string{"syn", "arp", "fragment", "udp_closed", "rule"}

// ReasonName returns the name of a drop reason, as DropSample.Reason
// carries it.
func ReasonName(r uint32) string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Counter is a packet and byte count.
type Counter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// TriageStats are the triage stage's counters, summed over CPUs. Bytes
// are frame lengths, except for rules, which count IPv4 total lengths as
// the stack's filter does.
type TriageStats struct {
	SYNDropped       Counter `json:"syn_dropped"`
	SYNAdmitted      Counter `json:"syn_admitted"`
	SYNRetransmits   Counter `json:"syn_retransmits_passed"`
	ARPDropped       Counter `json:"arp_dropped"`
	FragmentDropped  Counter `json:"fragment_dropped"`
	ClosedUDPDropped Counter `json:"udp_closed_dropped"`
	RuleDropped      Counter `json:"rule_dropped"`
	// Rules are each rule's counters, in Triage.Rules order.
	Rules []Counter `json:"-"`
	// Samples counts frames copied to the perf buffer; SamplesLost
	// those the reader lost (buffer full).
	Samples     uint64 `json:"samples"`
	SamplesLost uint64 `json:"samples_lost"`
}

// Dropped is the sum of the drops over every reason.
func (s TriageStats) Dropped() uint64 {
	return s.SYNDropped.Packets + s.ARPDropped.Packets + s.FragmentDropped.Packets + s.ClosedUDPDropped.Packets + s.RuleDropped.Packets
}

func (s *TriageStats) set(counts []Counter, rules int) {
	at := func(i int) Counter {
		if i < len(counts) {
			return counts[i]
		}
		return Counter{}
	}
	s.SYNDropped, s.ARPDropped, s.FragmentDropped = at(reasonSYN), at(reasonARP), at(reasonFragment)
	s.ClosedUDPDropped, s.RuleDropped = at(reasonClosedUDP), at(reasonRule)
	s.SYNAdmitted, s.SYNRetransmits = at(countSYNAdmitted), at(countSYNRetransmit)
	s.Rules = make([]Counter, rules)
	for i := range rules {
		s.Rules[i] = at(numCounts + i)
	}
}

// DropSample is a frame the triage stage dropped, copied up to
// Triage.SampleSnap bytes.
type DropSample struct {
	Reason string // ReasonName of the drop
	Length int    // the frame's length on the wire
	Data   []byte // its first bytes
}

// ErrNoSamples is returned by ReadDropSample when sampling is off.
var ErrNoSamples = errors.New("afxdp: triage drop sampling is off")
