package filter

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// ParseError reports a rule that does not follow the syntax, naming the
// offending token.
type ParseError struct {
	Rule  string // the rule as given to Parse
	Token string // the offending token; empty when the rule is empty
	Msg   string // what is wrong with it
}

// Error returns the rule, the offending token and what is wrong with it.
func (e *ParseError) Error() string {
	if e.Token == "" {
		return "filter rule " + strconv.Quote(e.Rule) + ": " + e.Msg
	}
	return "filter rule " + strconv.Quote(e.Rule) + ": " + strconv.Quote(e.Token) + ": " + e.Msg
}

const clauseList = "tcp, udp, icmp, proto, src, dst, sport, dport or queue"

// Parse parses one rule in the syntax described in the package
// documentation. Keywords are case-insensitive. The returned rule is valid
// (see Rule.Validate), has its prefixes masked, Queue -1 unless a queue
// clause is given, and Text set to s with runs of white space collapsed.
func Parse(s string) (Rule, error) {
	toks := strings.Fields(s)
	r := Rule{Hook: LocalIn, Queue: -1, Text: strings.Join(toks, " ")}
	fail := func(tok, msg string) (Rule, error) {
		return Rule{}, &ParseError{Rule: s, Token: tok, Msg: msg}
	}
	if len(toks) == 0 {
		return fail("", "empty rule; want [prerouting|input] accept|drop [clauses]")
	}

	i := 0
	if h, ok := parseHook(toks[0]); ok {
		r.Hook = h
		i++
		if i == len(toks) {
			return fail(toks[0], "missing verdict (accept or drop) after the hook")
		}
	}
	switch v, ok := parseVerdict(toks[i]); {
	case ok:
		r.Verdict = v
	case i == 1 && isHook(toks[i]):
		return fail(toks[i], "duplicate hook")
	default:
		return fail(toks[i], "want verdict accept or drop (optionally after prerouting or input)")
	}
	i++

	var (
		protoTok                string // the clause that set Proto
		seenSrc, seenDst, seenQ bool
		seenSport, seenDport    bool
		portTok                 string // the first port clause
	)
	for ; i < len(toks); i++ {
		tok := toks[i]
		kw := strings.ToLower(tok)
		// value returns the token after the keyword, if there is one
		// and it is not itself a keyword.
		value := func() (string, bool) {
			if i+1 >= len(toks) || isKeyword(toks[i+1]) {
				return "", false
			}
			i++
			return toks[i], true
		}
		switch kw {
		case "tcp", "udp", "icmp", "proto":
			if protoTok != "" {
				return fail(tok, "duplicate protocol clause (already "+strconv.Quote(protoTok)+")")
			}
			protoTok = tok
			switch kw {
			case "tcp":
				r.Proto = ProtoTCP
			case "udp":
				r.Proto = ProtoUDP
			case "icmp":
				r.Proto = ProtoICMP
			case "proto":
				v, ok := value()
				if !ok {
					return fail(tok, "missing value (protocol number 1-255)")
				}
				n, err := strconv.ParseUint(v, 10, 8)
				if err != nil || n == 0 {
					return fail(v, "bad protocol number; want 1-255 (omit the clause to match any protocol)")
				}
				r.Proto = uint8(n)
				protoTok = tok + " " + v
			}
		case "src", "dst":
			seen, dst := &seenSrc, &r.Src
			if kw == "dst" {
				seen, dst = &seenDst, &r.Dst
			}
			if *seen {
				return fail(tok, "duplicate "+kw+" clause")
			}
			*seen = true
			v, ok := value()
			if !ok {
				return fail(tok, "missing value (IPv4 address or prefix)")
			}
			p, msg := parsePrefix(v)
			if msg != "" {
				return fail(v, msg)
			}
			*dst = p
		case "sport", "dport":
			seen, dst := &seenSport, &r.SrcPort
			if kw == "dport" {
				seen, dst = &seenDport, &r.DstPort
			}
			if *seen {
				return fail(tok, "duplicate "+kw+" clause")
			}
			*seen = true
			if portTok == "" {
				portTok = tok
			}
			v, ok := value()
			if !ok {
				return fail(tok, "missing value (PORT or LO-HI)")
			}
			pr, msg := parsePorts(v)
			if msg != "" {
				return fail(v, msg)
			}
			*dst = &pr
		case "queue":
			if seenQ {
				return fail(tok, "duplicate queue clause")
			}
			seenQ = true
			v, ok := value()
			if !ok {
				return fail(tok, "missing value (queue number)")
			}
			n, err := strconv.ParseUint(v, 10, 31)
			if err != nil {
				return fail(v, "bad queue number; want 0 or more")
			}
			r.Queue = int(n)
		case "prerouting", "input":
			return fail(tok, "the hook must come before the verdict")
		case "accept", "drop":
			return fail(tok, "duplicate verdict")
		default:
			return fail(tok, "unknown keyword; want "+clauseList)
		}
	}

	if portTok != "" && r.Proto != ProtoTCP && r.Proto != ProtoUDP {
		return fail(portTok, strings.ToLower(portTok)+" needs tcp or udp")
	}
	return r, nil
}

func parseHook(tok string) (Hook, bool) {
	switch strings.ToLower(tok) {
	case "prerouting":
		return PreRouting, true
	case "input":
		return LocalIn, true
	}
	return 0, false
}

func isHook(tok string) bool { _, ok := parseHook(tok); return ok }

func parseVerdict(tok string) (Verdict, bool) {
	switch strings.ToLower(tok) {
	case "accept":
		return Accept, true
	case "drop":
		return Drop, true
	}
	return 0, false
}

func isKeyword(tok string) bool {
	switch strings.ToLower(tok) {
	case "prerouting", "input", "accept", "drop",
		"tcp", "udp", "icmp", "proto", "src", "dst", "sport", "dport", "queue":
		return true
	}
	return false
}

// parsePrefix parses an IPv4 address (a /32) or prefix and masks it. On
// failure it returns a message saying why.
func parsePrefix(v string) (netip.Prefix, string) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, "bad prefix; want an IPv4 address or A.B.C.D/N with N 0-32"
		}
		if !p.Addr().Is4() {
			return netip.Prefix{}, "IPv6 prefix; filters match IPv4 only"
		}
		return p.Masked(), ""
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, "bad address; want an IPv4 address or A.B.C.D/N prefix"
	}
	if !a.Is4() {
		return netip.Prefix{}, "IPv6 address; filters match IPv4 only"
	}
	return netip.PrefixFrom(a, 32), ""
}

// parsePorts parses PORT or LO-HI. On failure it returns a message saying
// why.
func parsePorts(v string) (PortRange, string) {
	lo, hi, isRange := strings.Cut(v, "-")
	l, msg := parsePort(lo)
	if msg != "" {
		return PortRange{}, msg
	}
	if !isRange {
		return PortRange{l, l}, ""
	}
	h, msg := parsePort(hi)
	if msg != "" {
		return PortRange{}, msg
	}
	if l > h {
		return PortRange{}, "port range low " + strconv.Itoa(int(l)) + " > high " + strconv.Itoa(int(h))
	}
	return PortRange{l, h}, ""
}

func parsePort(s string) (uint16, string) {
	n, err := strconv.ParseUint(s, 10, 16)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, "port out of range 0-65535"
	case err != nil:
		return 0, "bad port; want PORT or LO-HI with ports 0-65535"
	}
	return uint16(n), ""
}
