package filter

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Hook is a point in the IPv4 receive path where a Table is consulted.
type Hook int

// The hooks, in the order a packet passes them.
const (
	// PreRouting is NF_INET_PRE_ROUTING: right after the IPv4 header is
	// validated, before defragmentation. Non-first fragments carry no
	// ports here.
	PreRouting Hook = iota
	// LocalIn is NF_INET_LOCAL_IN: after reassembly, before the transport
	// protocol. Ports of TCP and UDP datagrams are always visible.
	LocalIn

	numHooks = 2
)

// String returns the hook's keyword in the rule syntax: "prerouting" or
// "input".
func (h Hook) String() string {
	switch h {
	case PreRouting:
		return "prerouting"
	case LocalIn:
		return "input"
	}
	return "Hook(" + strconv.Itoa(int(h)) + ")"
}

// Verdict is what happens to a packet that matches a rule.
type Verdict int

// Verdicts.
const (
	// Accept lets the packet continue up the stack.
	Accept Verdict = iota
	// Drop releases the packet and counts it as filtered.
	Drop
)

// String returns the verdict's keyword in the rule syntax: "accept" or
// "drop".
func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// IP protocol numbers with a keyword in the rule syntax.
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// PortRange is an inclusive range of ports, Lo <= Hi. A single port is
// {p, p}.
type PortRange struct{ Lo, Hi uint16 }

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port uint16) bool { return r.Lo <= port && port <= r.Hi }

// String returns "LO-HI", or "P" when Lo == Hi.
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
}

// Rule is one filter rule: a set of match clauses, all of which must hold,
// and the verdict for a packet that matches them. A field left at its "any"
// value does not constrain the match.
//
// Rules built in code must pass Validate. Note that the zero Queue means
// queue 0, not any queue: set Queue to -1 to match every queue (Parse does).
type Rule struct {
	// Hook is where the rule is consulted (LocalIn unless written
	// "prerouting").
	Hook Hook
	// Verdict is what happens to a matching packet.
	Verdict Verdict
	// Proto is the IP protocol number; 0 matches any protocol.
	Proto uint8
	// Src and Dst match the source and destination address. The zero
	// (invalid) Prefix matches any address; a valid one must be IPv4.
	// Host bits are ignored.
	Src, Dst netip.Prefix
	// SrcPort and DstPort match transport ports; nil matches any. They
	// require Proto to be TCP or UDP, and never match a packet without
	// ports (Packet.HasPorts false), such as a non-first fragment at
	// PreRouting.
	SrcPort, DstPort *PortRange
	// Queue is the receive queue the frame arrived on; -1 matches any.
	Queue int
	// Text is the rule as written (Parse sets it), reported by
	// Table.Stats. When empty, Stats reports String instead.
	Text string
}

// Validate reports whether the rule is well formed: a known hook and
// verdict, IPv4 prefixes, ordered port ranges that come with TCP or UDP, and
// a queue of -1 or more. Every rule returned by Parse is valid.
func (r Rule) Validate() error {
	switch {
	case r.Hook < 0 || r.Hook >= numHooks:
		return fmt.Errorf("filter rule %q: unknown hook %d", r.String(), int(r.Hook))
	case r.Verdict != Accept && r.Verdict != Drop:
		return fmt.Errorf("filter rule %q: unknown verdict %d", r.String(), int(r.Verdict))
	case r.Src.IsValid() && !r.Src.Addr().Is4():
		return fmt.Errorf("filter rule %q: src %s is not IPv4", r.String(), r.Src)
	case r.Dst.IsValid() && !r.Dst.Addr().Is4():
		return fmt.Errorf("filter rule %q: dst %s is not IPv4", r.String(), r.Dst)
	case r.Queue < -1:
		return fmt.Errorf("filter rule %q: queue %d: want -1 (any) or a queue number", r.String(), r.Queue)
	}
	for _, c := range [...]struct {
		name string
		pr   *PortRange
	}{{"sport", r.SrcPort}, {"dport", r.DstPort}} {
		if c.pr == nil {
			continue
		}
		if c.pr.Lo > c.pr.Hi {
			return fmt.Errorf("filter rule %q: %s range low %d > high %d", r.String(), c.name, c.pr.Lo, c.pr.Hi)
		}
		if r.Proto != ProtoTCP && r.Proto != ProtoUDP {
			return fmt.Errorf("filter rule %q: %s needs tcp or udp", r.String(), c.name)
		}
	}
	return nil
}

// String returns the rule in canonical syntax: the hook only when it is not
// the default (input), then the verdict and the clauses in grammar order,
// protocols by name where they have one, prefixes masked and /32 prefixes as
// plain addresses. Parse(r.String()) returns a rule equal to r (apart from
// Text and host bits in prefixes) for every valid r.
func (r Rule) String() string {
	b := make([]byte, 0, 64)
	if r.Hook != LocalIn {
		b = append(b, r.Hook.String()...)
		b = append(b, ' ')
	}
	b = append(b, r.Verdict.String()...)
	switch r.Proto {
	case 0:
	case ProtoTCP:
		b = append(b, " tcp"...)
	case ProtoUDP:
		b = append(b, " udp"...)
	case ProtoICMP:
		b = append(b, " icmp"...)
	default:
		b = append(b, " proto "...)
		b = strconv.AppendUint(b, uint64(r.Proto), 10)
	}
	b = appendPrefix(b, " src ", r.Src)
	b = appendPrefix(b, " dst ", r.Dst)
	b = appendPorts(b, " sport ", r.SrcPort)
	b = appendPorts(b, " dport ", r.DstPort)
	if r.Queue != -1 {
		b = append(b, " queue "...)
		b = strconv.AppendInt(b, int64(r.Queue), 10)
	}
	return string(b)
}

func appendPrefix(b []byte, kw string, p netip.Prefix) []byte {
	if !p.IsValid() {
		return b
	}
	b = append(b, kw...)
	p = p.Masked()
	if p.Addr().Is4() && p.Bits() == 32 {
		return p.Addr().AppendTo(b)
	}
	return p.AppendTo(b)
}

func appendPorts(b []byte, kw string, pr *PortRange) []byte {
	if pr == nil {
		return b
	}
	b = append(b, kw...)
	b = strconv.AppendUint(b, uint64(pr.Lo), 10)
	if pr.Hi != pr.Lo {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(pr.Hi), 10)
	}
	return b
}

// clone returns a copy of r that shares no memory with it.
func (r Rule) clone() Rule {
	if r.SrcPort != nil {
		pr := *r.SrcPort
		r.SrcPort = &pr
	}
	if r.DstPort != nil {
		pr := *r.DstPort
		r.DstPort = &pr
	}
	return r
}
