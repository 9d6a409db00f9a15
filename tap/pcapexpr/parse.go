package pcapexpr

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// The parser is a recursive descent over pcap-filter(7)'s grammar, as
// libpcap's grammar.y: an expression is primitives joined by and, or and
// not; a primitive is qualifiers and an identifier ("tcp dst port 80"),
// a keyword ("broadcast", "greater 100") or a relation ("tcp[13] & 2 !=
// 0"). It builds the predicate tree of primitive.go as it goes.

type direction int

const (
	dirDefault direction = iota // src or dst
	dirSrc
	dirDst
	dirSrcAndDst
)

// quals are a primitive's qualifiers: "ip6 src net", "tcp dst port", ...
type quals struct {
	proto string // "", ether, ip, ip6, arp, rarp, tcp, udp, sctp
	dir   direction
	typ   string // "", host, net, port, portrange
}

type parser struct {
	toks []token
	pos  int
	// last is the qualifier list a bare identifier inherits, as in
	// "tcp dst port 80 or 443"; nil after a primitive that has none.
	last *quals
}

// parse lexes and parses expr into a predicate tree.
func parse(expr string) (node, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, errors.New("empty expression")
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, fmt.Errorf("unexpected %v at offset %d", t, t.pos)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekN(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tWord && t.text == w
}

func (p *parser) isAnd() bool { return p.peek().kind == tAnd || p.isWord("and") }
func (p *parser) isOr() bool  { return p.peek().kind == tOr || p.isWord("or") }

// expr: "and" and "or" have equal precedence and associate to the left,
// as pcap-filter(7) specifies; "not" binds tighter.
func (p *parser) expr() (node, error) {
	n, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		isAnd := p.isAnd()
		if !isAnd && !p.isOr() {
			return n, nil
		}
		p.next()
		m, err := p.unary()
		if err != nil {
			return nil, err
		}
		if isAnd {
			n = andNode{n, m}
		} else {
			n = orNode{n, m}
		}
	}
}

func (p *parser) unary() (node, error) {
	if p.peek().kind == tBang || p.isWord("not") {
		p.next()
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	if p.peek().kind == tLParen {
		p.next()
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tRParen {
			return nil, fmt.Errorf("expected \")\" at offset %d, got %v", t.pos, t)
		}
		return n, nil
	}
	return p.primitive()
}

var (
	protoWords = map[string]bool{"ether": true, "ip": true, "ip6": true, "arp": true, "rarp": true,
		"tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true, "igmp": true}
	typeWords = map[string]bool{"host": true, "net": true, "port": true, "portrange": true}
	// Words of pcap-filter(7) outside the supported subset, so the error
	// names them instead of calling them host names.
	unsupportedWords = map[string]bool{"vlan": true, "mpls": true, "pppoed": true, "pppoes": true,
		"geneve": true, "gateway": true, "protochain": true, "llc": true, "ifname": true, "on": true,
		"rnr": true, "rulenum": true, "reason": true, "rset": true, "ruleset": true, "srnr": true,
		"subrulenum": true, "action": true, "wlan": true, "type": true, "subtype": true, "dir": true,
		"ra": true, "ta": true, "addr1": true, "addr2": true, "addr3": true, "addr4": true,
		"fddi": true, "tr": true, "decnet": true, "iso": true, "esis": true, "isis": true, "clnp": true,
		"stp": true, "ipx": true, "netbeui": true, "atalk": true, "aarp": true, "lat": true,
		"sca": true, "moprc": true, "mopdl": true, "pim": true, "vrrp": true, "carp": true,
		"ah": true, "esp": true, "igrp": true, "radio": true, "slip": true, "link": true,
		"inbound": true, "outbound": true, "atm": true, "lane": true, "oamf4": true, "metac": true,
		"bcc": true, "sc": true, "ilmic": true, "connectmsg": true, "metaconnect": true,
		"hdlc": true, "fisu": true, "lssu": true, "msu": true, "sio": true, "opc": true, "dpc": true, "sls": true}
)

func (p *parser) primitive() (node, error) {
	t := p.peek()
	if t.kind != tWord {
		return nil, fmt.Errorf("unexpected %v at offset %d", t, t.pos)
	}
	w := t.text
	switch {
	case w == "len":
		p.last = nil
		return p.relation()
	case w == "greater" || w == "less":
		p.next()
		p.last = nil
		v, err := p.number("length")
		if err != nil {
			return nil, err
		}
		ld := bpf.LoadExtension{Num: bpf.ExtLen}
		if w == "greater" {
			return test(bpf.JumpGreaterOrEqual, v, ld), nil
		}
		return notNode{test(bpf.JumpGreaterThan, v, ld)}, nil
	case w == "broadcast" || w == "multicast":
		p.next()
		p.last = nil
		return castNode("ether", w)
	case w == "proto":
		p.next()
		p.last = nil
		return p.protoNum("")
	case unsupportedWords[w]:
		return nil, fmt.Errorf("unsupported keyword %q at offset %d", w, t.pos)
	case protoWords[w]:
		next := p.peekN(1)
		switch {
		case next.kind == tLBrack:
			p.last = nil
			return p.relation()
		case next.kind == tWord && next.text == "proto":
			p.next()
			p.next()
			p.last = nil
			return p.protoNum(w)
		case next.kind == tWord && (next.text == "broadcast" || next.text == "multicast"):
			p.next()
			p.next()
			p.last = nil
			return castNode(w, next.text)
		case next.kind == tWord && (next.text == "src" || next.text == "dst" || typeWords[next.text]):
			p.next()
			return p.qualified(quals{proto: w})
		case next.kind == tWord && unsupportedWords[next.text]:
			return nil, fmt.Errorf("unsupported keyword %q at offset %d", next.text, next.pos)
		}
		p.next()
		p.last = nil
		return protoNode(w)
	case w == "src" || w == "dst" || typeWords[w]:
		return p.qualified(quals{})
	}
	// A bare identifier inherits the previous qualifiers ("host a or b").
	if p.last == nil {
		return nil, fmt.Errorf("%q at offset %d needs a qualifier (host, net, port, ...)", w, t.pos)
	}
	q := *p.last
	p.next()
	return p.id(q, t)
}

// qualified parses "[proto] [src|dst|src or dst|src and dst] [host|net|port|portrange] id";
// the proto word has been consumed.
func (p *parser) qualified(q quals) (node, error) {
	switch {
	case p.isWord("src"), p.isWord("dst"):
		first := p.next().text
		q.dir = dirSrc
		if first == "dst" {
			q.dir = dirDst
		}
		// "src or dst", "src and dst" (either order)
		if nt := p.peekN(1); nt.kind == tWord && (nt.text == "src" || nt.text == "dst") && nt.text != first && (p.isAnd() || p.isOr()) {
			if p.isAnd() {
				q.dir = dirSrcAndDst
			} else {
				q.dir = dirDefault
			}
			p.next()
			p.next()
		}
	}
	if t := p.peek(); t.kind == tWord && typeWords[t.text] {
		q.typ = t.text
		p.next()
	}
	t := p.next()
	if t.kind != tWord {
		return nil, fmt.Errorf("expected an address, network or port at offset %d, got %v", t.pos, t)
	}
	if unsupportedWords[t.text] {
		return nil, fmt.Errorf("unsupported keyword %q at offset %d", t.text, t.pos)
	}
	last := q
	p.last = &last
	return p.id(q, t)
}

// id builds the primitive for qualifiers q applied to the identifier t.
func (p *parser) id(q quals, t token) (node, error) {
	s := t.text
	switch q.typ {
	case "port", "portrange":
		return portNode(q, s)
	case "net":
		mask := ""
		if p.isWord("mask") {
			p.next()
			mt := p.next()
			if mt.kind != tWord {
				return nil, fmt.Errorf("expected a netmask after \"mask\" at offset %d", mt.pos)
			}
			mask = mt.text
		}
		return netNode(q, s, mask)
	}
	// host, or no type: an address.
	if q.proto == "ether" {
		if q.typ != "" && q.typ != "host" {
			return nil, fmt.Errorf("\"ether %s\" is not supported", q.typ)
		}
		mac, err := parseMAC(s)
		if err != nil {
			return nil, err
		}
		return etherHostNode(q.dir, mac), nil
	}
	if _, err := parseMAC(s); err == nil && !strings.Contains(s, "::") && strings.Count(s, ":") == 5 {
		return nil, fmt.Errorf("ethernet address %q used without \"ether\"", s)
	}
	if _, err := strconv.ParseUint(s, 0, 32); err == nil && q.typ == "" {
		return nil, fmt.Errorf("bare number %q: say \"port %s\", \"host\" or \"net\"", s, s)
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IP address (host names are not supported: the filter is compiled without DNS)", s)
	}
	return hostNode(q, addr)
}

func (p *parser) number(what string) (uint32, error) {
	t := p.next()
	if t.kind != tWord {
		return 0, fmt.Errorf("expected a %s at offset %d, got %v", what, t.pos, t)
	}
	v, err := parseUint(t.text)
	if err != nil {
		return 0, fmt.Errorf("bad %s %q at offset %d", what, t.text, t.pos)
	}
	return v, nil
}

func parseUint(s string) (uint32, error) {
	if strings.Contains(s, "_") {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseUint(s, 0, 32)
	return uint32(v), err
}

// protoNum parses the operand of "[ether|ip|ip6] proto".
func (p *parser) protoNum(layer string) (node, error) {
	t := p.next()
	if t.kind != tWord {
		return nil, fmt.Errorf("expected a protocol after \"proto\" at offset %d, got %v", t.pos, t)
	}
	name := strings.TrimPrefix(t.text, "\\")
	switch layer {
	case "ether":
		v, ok := etherProtoNames[name]
		if !ok {
			n, err := parseUint(name)
			if err != nil || n > 0xffff {
				return nil, fmt.Errorf("unknown ether protocol %q", t.text)
			}
			if n <= 1500 {
				return nil, fmt.Errorf("ether proto %d is an 802.3 length: LLC filters are not supported", n)
			}
			v = n
		}
		return etherType(v), nil
	case "", "ip", "ip6":
		v, ok := ipProtoNames[name]
		if !ok {
			n, err := parseUint(name)
			if err != nil || n > 255 {
				return nil, fmt.Errorf("unknown ip protocol %q", t.text)
			}
			v = n
		}
		switch layer {
		case "ip":
			return ip4Proto(v), nil
		case "ip6":
			return ip6Proto(v), nil
		}
		return or(ip4Proto(v), ip6Proto(v)), nil
	}
	return nil, fmt.Errorf("\"%s proto\" is not supported", layer)
}

// ---- relations: "tcp[13] & 2 != 0", "ip[2:2] > 576", "len < 100" ----

var namedConsts = map[string]uint32{
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
}

// constant parses NUM | NAME | "(" constant { "|" constant } ")".
func (p *parser) constant() (uint32, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		v, err := p.constant()
		if err != nil {
			return 0, err
		}
		for p.peek().kind == tPipe {
			p.next()
			w, err := p.constant()
			if err != nil {
				return 0, err
			}
			v |= w
		}
		if r := p.next(); r.kind != tRParen {
			return 0, fmt.Errorf("expected \")\" at offset %d, got %v (only \"|\" is supported inside a constant)", r.pos, r)
		}
		return v, nil
	case tWord:
		if v, ok := namedConsts[t.text]; ok {
			return v, nil
		}
		v, err := parseUint(t.text)
		if err != nil {
			return 0, fmt.Errorf("expected a number at offset %d, got %v", t.pos, t)
		}
		return v, nil
	}
	return 0, fmt.Errorf("expected a number at offset %d, got %v", t.pos, t)
}

// relation parses ACCESSOR [& CONST] RELOP CONST, where ACCESSOR is len or
// PROTO[OFF] / PROTO[OFF:SIZE]. General arithmetic is not supported.
func (p *parser) relation() (node, error) {
	t := p.next()
	var guard node
	var load []bpf.Instruction
	if t.text == "len" {
		load = []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}
	} else {
		p.next() // [
		// Collect everything up to "]": "13", "2:2", "tcpflags".
		var sb strings.Builder
		for {
			it := p.next()
			if it.kind == tRBrack {
				break
			}
			if it.kind != tWord {
				return nil, fmt.Errorf("unsupported %v in %s[...] at offset %d: only constant offsets are supported", it, t.text, it.pos)
			}
			sb.WriteString(it.text)
		}
		offStr, sizeStr, hasSize := strings.Cut(sb.String(), ":")
		off, ok := namedConsts[offStr]
		if !ok {
			v, err := parseUint(offStr)
			if err != nil {
				return nil, fmt.Errorf("unsupported offset %q in %s[...]: only constant offsets are supported", offStr, t.text)
			}
			off = v
		}
		size := 1
		if hasSize {
			switch sizeStr {
			case "1", "2", "4":
				size = int(sizeStr[0] - '0')
			default:
				return nil, fmt.Errorf("bad size %q in %s[...]: want 1, 2 or 4", sizeStr, t.text)
			}
		}
		if off > 0xffff {
			return nil, fmt.Errorf("offset %d in %s[...] out of range", off, t.text)
		}
		switch t.text {
		case "ether":
			load = []bpf.Instruction{ldAbs(off, size)}
		case "ip":
			guard, load = etherType(etherTypeIPv4), []bpf.Instruction{ldAbs(l3Off+off, size)}
		case "ip6":
			guard, load = etherType(etherTypeIPv6), []bpf.Instruction{ldAbs(l3Off+off, size)}
		case "arp":
			guard, load = etherType(etherTypeARP), []bpf.Instruction{ldAbs(l3Off+off, size)}
		case "rarp":
			guard, load = etherType(etherTypeRARP), []bpf.Instruction{ldAbs(l3Off+off, size)}
		case "tcp", "udp", "sctp", "icmp", "igmp":
			guard, load = and(ip4Proto(ipProtoNames[t.text]), ip4NotFragment()), ip4L4(off, size)
		case "icmp6":
			guard = and(etherType(etherTypeIPv6), test(bpf.JumpEqual, protoICMPv6, ldAbs(l3Off+6, 1)))
			load = []bpf.Instruction{ldAbs(l3Off+40+off, size)}
		default:
			return nil, fmt.Errorf("%s[...] is not supported", t.text)
		}
	}
	if p.peek().kind == tAmp {
		p.next()
		m, err := p.constant()
		if err != nil {
			return nil, err
		}
		load = append(load, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: m})
	}
	op := p.next()
	if op.kind != tRelop {
		return nil, fmt.Errorf("expected a comparison (=, !=, <, <=, >, >=) at offset %d, got %v (arithmetic other than \"& CONST\" is not supported)", op.pos, op)
	}
	v, err := p.constant()
	if err != nil {
		return nil, err
	}
	var n node
	switch op.text {
	case "=", "==":
		n = test(bpf.JumpEqual, v, load...)
	case "!=":
		n = notNode{test(bpf.JumpEqual, v, load...)}
	case ">":
		n = test(bpf.JumpGreaterThan, v, load...)
	case ">=":
		n = test(bpf.JumpGreaterOrEqual, v, load...)
	case "<":
		n = notNode{test(bpf.JumpGreaterOrEqual, v, load...)}
	case "<=":
		n = notNode{test(bpf.JumpGreaterThan, v, load...)}
	}
	if guard != nil {
		n = and(guard, n)
	}
	return n, nil
}
