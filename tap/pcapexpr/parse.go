package pcapexpr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// ErrExpr is wrapped by every error Compile returns, so callers can tell a
// bad capture expression from an I/O error with errors.Is. Its text is
// "capture filter", tcpdump's name for what it compiles, so messages read
// `capture filter "vlan": unsupported keyword "vlan" at offset 0`.
var ErrExpr = errors.New("capture filter")

// acceptLen is what a compiled program returns for an accepted frame. It is
// libpcap's MAXIMUM_SNAPLEN, what tcpdump's programs return too; the tap only
// looks at zero or non-zero.
const acceptLen = 262144

// Compile compiles a capture expression in tcpdump (pcap-filter(7)) syntax
// for LINKTYPE_ETHERNET frames into a classic BPF program that accepts a
// frame by returning non-zero. It is pure Go and needs no libpcap; the
// supported subset is listed in the package documentation, and anything
// outside it is an error wrapping ErrExpr that names the part that is not
// supported. An empty expression is an error: a tap without an expression
// simply has no program.
//
// Compile is safe for concurrent use.
func Compile(expr string) ([]bpf.Instruction, error) {
	root, err := parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrExpr, expr, err)
	}
	prog, err := generate(root)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrExpr, expr, err)
	}
	return prog, nil
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tLParen
	tRParen
	tLBrack
	tRBrack
	tBang  // ! (not)
	tAnd   // &&
	tOr    // ||
	tAmp   // &
	tPipe  // |
	tRelop // = == != < <= > >=
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return strconv.Quote(t.text)
}

func isWordByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("._:/-\\", c) >= 0
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		two := ""
		if i+1 < len(s) {
			two = s[i : i+2]
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '[':
			toks = append(toks, token{tLBrack, "[", i})
			i++
		case c == ']':
			toks = append(toks, token{tRBrack, "]", i})
			i++
		case two == "&&":
			toks = append(toks, token{tAnd, two, i})
			i += 2
		case two == "||":
			toks = append(toks, token{tOr, two, i})
			i += 2
		case two == "!=" || two == "==" || two == "<=" || two == ">=":
			toks = append(toks, token{tRelop, two, i})
			i += 2
		case c == '=' || c == '<' || c == '>':
			toks = append(toks, token{tRelop, s[i : i+1], i})
			i++
		case c == '!':
			toks = append(toks, token{tBang, "!", i})
			i++
		case c == '&':
			toks = append(toks, token{tAmp, "&", i})
			i++
		case c == '|':
			toks = append(toks, token{tPipe, "|", i})
			i++
		case strings.IndexByte("+*/%^", c) >= 0:
			return nil, fmt.Errorf("arithmetic operator %q at offset %d is not supported", c, i)
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{tWord, s[i:j], i})
			i = j
		default:
			return nil, fmt.Errorf("unsupported character %q at offset %d", c, i)
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

// ---- syntax tree ----

// A node is a predicate over a frame. Leaves are tests: a few instructions
// that load a value into A, then one conditional jump.
type node interface{ isNode() }

type andNode struct{ a, b node }
type orNode struct{ a, b node }
type notNode struct{ a node }
type testNode struct {
	load []bpf.Instruction
	cond bpf.JumpTest // JumpEqual, JumpGreaterThan, JumpGreaterOrEqual or JumpBitsSet
	val  uint32
}

func (andNode) isNode()  {}
func (orNode) isNode()   {}
func (notNode) isNode()  {}
func (testNode) isNode() {}

func and(ns ...node) node {
	n := ns[0]
	for _, m := range ns[1:] {
		n = andNode{n, m}
	}
	return n
}

func or(ns ...node) node {
	n := ns[0]
	for _, m := range ns[1:] {
		n = orNode{n, m}
	}
	return n
}

func test(cond bpf.JumpTest, val uint32, load ...bpf.Instruction) node {
	return testNode{load: load, cond: cond, val: val}
}

func ldAbs(off uint32, size int) bpf.Instruction { return bpf.LoadAbsolute{Off: off, Size: size} }

// Ethernet, IPv4 and IPv6 offsets, as in libpcap's generated code.
const (
	etherTypeOff = 12
	l3Off        = 14

	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeRARP = 0x8035
	etherTypeIPv6 = 0x86dd

	protoICMP   = 1
	protoIGMP   = 2
	protoTCP    = 6
	protoUDP    = 17
	protoFrag6  = 44
	protoICMPv6 = 58
	protoSCTP   = 132
)

func etherType(t uint32) node { return test(bpf.JumpEqual, t, ldAbs(etherTypeOff, 2)) }

func ip4Proto(p uint32) node {
	return and(etherType(etherTypeIPv4), test(bpf.JumpEqual, p, ldAbs(l3Off+9, 1)))
}

// ip6Proto matches the next header, or the header after one fragment
// header, as libpcap's gen_proto does.
func ip6Proto(p uint32) node {
	nh := func(v uint32) node { return test(bpf.JumpEqual, v, ldAbs(l3Off+6, 1)) }
	return and(etherType(etherTypeIPv6),
		or(nh(p), and(nh(protoFrag6), test(bpf.JumpEqual, p, ldAbs(l3Off+40, 1)))))
}

// ip4NotFragment is true for an unfragmented packet or a first fragment:
// only those carry the transport header.
func ip4NotFragment() node {
	return notNode{test(bpf.JumpBitsSet, 0x1fff, ldAbs(l3Off+6, 2))}
}

// ip4L4 loads size bytes at off into the IPv4 payload (after the options).
func ip4L4(off uint32, size int) []bpf.Instruction {
	return []bpf.Instruction{bpf.LoadMemShift{Off: l3Off}, bpf.LoadIndirect{Off: l3Off + off, Size: size}}
}

// ---- parser ----

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

var (
	ipProtoNames    = map[string]uint32{"icmp": protoICMP, "igmp": protoIGMP, "tcp": protoTCP, "udp": protoUDP, "sctp": protoSCTP, "icmp6": protoICMPv6}
	etherProtoNames = map[string]uint32{"ip": etherTypeIPv4, "ip6": etherTypeIPv6, "arp": etherTypeARP, "rarp": etherTypeRARP}
)

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

func protoNode(w string) (node, error) {
	switch w {
	case "ip":
		return etherType(etherTypeIPv4), nil
	case "ip6":
		return etherType(etherTypeIPv6), nil
	case "arp":
		return etherType(etherTypeARP), nil
	case "rarp":
		return etherType(etherTypeRARP), nil
	case "tcp", "udp", "sctp":
		v := ipProtoNames[w]
		return or(ip4Proto(v), ip6Proto(v)), nil
	case "icmp":
		return ip4Proto(protoICMP), nil
	case "igmp":
		return ip4Proto(protoIGMP), nil
	case "icmp6":
		return ip6Proto(protoICMPv6), nil
	}
	return nil, fmt.Errorf("%q needs a qualifier (\"%s host\", \"%s proto\", ...)", w, w, w)
}

func castNode(proto, what string) (node, error) {
	switch proto + " " + what {
	case "ether broadcast":
		return and(test(bpf.JumpEqual, 0xffffffff, ldAbs(2, 4)), test(bpf.JumpEqual, 0xffff, ldAbs(0, 2))), nil
	case "ether multicast":
		return test(bpf.JumpBitsSet, 1, ldAbs(0, 1)), nil
	case "ip multicast":
		return and(etherType(etherTypeIPv4), test(bpf.JumpGreaterOrEqual, 224, ldAbs(l3Off+16, 1))), nil
	case "ip6 multicast":
		return and(etherType(etherTypeIPv6), test(bpf.JumpEqual, 0xff, ldAbs(l3Off+24, 1))), nil
	}
	return nil, fmt.Errorf("%q is not supported (ip broadcast needs a netmask)", proto+" "+what)
}

// dirNode combines a source and a destination test by direction.
func dirNode(d direction, src, dst func() node) node {
	switch d {
	case dirSrc:
		return src()
	case dirDst:
		return dst()
	case dirSrcAndDst:
		return and(src(), dst())
	}
	return or(src(), dst())
}

func parseMAC(s string) ([]byte, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("%q is not an ethernet address", s)
	}
	return hw, nil
}

func etherHostNode(d direction, mac []byte) node {
	hi := uint32(mac[0])<<8 | uint32(mac[1])
	lo := uint32(mac[2])<<24 | uint32(mac[3])<<16 | uint32(mac[4])<<8 | uint32(mac[5])
	at := func(off uint32) func() node {
		return func() node {
			return and(test(bpf.JumpEqual, lo, ldAbs(off+2, 4)), test(bpf.JumpEqual, hi, ldAbs(off, 2)))
		}
	}
	return dirNode(d, at(6), at(0))
}

// maskedWords compares len(want) 32-bit words at off after masking. Like
// libpcap's unoptimized code it loads every word, even one whose mask is
// zero, so a frame too short to hold the whole address never matches.
func maskedWords(off uint32, want, mask []uint32) node {
	ns := make([]node, len(want))
	for i := range want {
		ld := ldAbs(off+uint32(4*i), 4)
		switch mask[i] {
		case 0:
			ns[i] = test(bpf.JumpGreaterOrEqual, 0, ld) // always true once loaded
		case 0xffffffff:
			ns[i] = test(bpf.JumpEqual, want[i], ld)
		default:
			ns[i] = test(bpf.JumpEqual, want[i], ld, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask[i]})
		}
	}
	return and(ns...)
}

func words(b []byte) []uint32 {
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
	}
	return w
}

func hostNode(q quals, a netip.Addr) (node, error) {
	bits := 32
	if a.Is6() && !a.Is4In6() {
		bits = 128
	}
	return addrNode(q, netip.PrefixFrom(a.Unmap(), bits), "host")
}

// addrNode matches an address prefix: a host is a full-length prefix.
func addrNode(q quals, pfx netip.Prefix, typ string) (node, error) {
	a := pfx.Addr()
	m := net.CIDRMask(pfx.Bits(), a.BitLen())
	want, mask := words(a.AsSlice()), words(m)
	at := func(off uint32) func() node { return func() node { return maskedWords(off, want, mask) } }
	if a.Is4() {
		ip := and(etherType(etherTypeIPv4), dirNode(q.dir, at(l3Off+12), at(l3Off+16)))
		arpAddr := func() node { return dirNode(q.dir, at(l3Off+14), at(l3Off+24)) }
		switch q.proto {
		case "":
			return or(ip, and(or(etherType(etherTypeARP), etherType(etherTypeRARP)), arpAddr())), nil
		case "ip":
			return ip, nil
		case "arp":
			return and(etherType(etherTypeARP), arpAddr()), nil
		case "rarp":
			return and(etherType(etherTypeRARP), arpAddr()), nil
		case "ip6":
			return nil, fmt.Errorf("\"ip6 %s\" with IPv4 address %v", typ, a)
		}
		return nil, fmt.Errorf("%q modifier applied to %s", q.proto, typ)
	}
	switch q.proto {
	case "", "ip6":
		return and(etherType(etherTypeIPv6), dirNode(q.dir, at(l3Off+8), at(l3Off+24))), nil
	case "ip", "arp", "rarp":
		return nil, fmt.Errorf("\"%s %s\" with IPv6 address %v", q.proto, typ, a)
	}
	return nil, fmt.Errorf("%q modifier applied to %s", q.proto, typ)
}

// netNode parses "net 10", "net 10.1/16", "net 10.1.0.0 mask 255.255.0.0",
// "net fe80::/64".
func netNode(q quals, s, mask string) (node, error) {
	var pfx netip.Prefix
	if strings.Contains(s, ":") {
		if mask != "" {
			return nil, errors.New("\"mask\" is only supported for IPv4 networks")
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("bad IPv6 network %q", s)
			}
			p = netip.PrefixFrom(a, 128)
		}
		pfx = p
	} else {
		addrPart, lenPart, hasLen := strings.Cut(s, "/")
		a, octets, err := parsePartialIPv4(addrPart)
		if err != nil {
			return nil, err
		}
		bits := 8 * octets
		switch {
		case hasLen && mask != "":
			return nil, errors.New("a network takes either /len or mask, not both")
		case hasLen:
			n, err := strconv.Atoi(lenPart)
			if err != nil || n < 0 || n > 32 {
				return nil, fmt.Errorf("bad prefix length in %q", s)
			}
			bits = n
		case mask != "":
			m, err := netip.ParseAddr(mask)
			if err != nil || !m.Is4() {
				return nil, fmt.Errorf("bad netmask %q", mask)
			}
			mb := m.As4()
			ones, size := net.IPMask(mb[:]).Size()
			if size == 0 {
				return nil, fmt.Errorf("netmask %q is not contiguous", mask)
			}
			bits = ones
		}
		pfx = netip.PrefixFrom(a, bits)
	}
	if pfx.Masked() != pfx {
		return nil, fmt.Errorf("non-network bits set in %q", s)
	}
	if q.proto == "ether" {
		return nil, errors.New("\"ether net\" is not supported")
	}
	return addrNode(q, pfx, "net")
}

// parsePartialIPv4 parses 1 to 4 dotted decimal octets, as libpcap accepts
// for networks ("net 10" is 10.0.0.0/8).
func parsePartialIPv4(s string) (netip.Addr, int, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, 0, fmt.Errorf("bad IPv4 network %q", s)
	}
	var b [4]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("bad IPv4 network %q", s)
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b), len(parts), nil
}

// portNode builds "[tcp|udp|sctp] [dir] port N" and portrange.
func portNode(q quals, s string) (node, error) {
	var lo, hi uint32
	proto := q.proto
	if q.typ == "portrange" {
		a, b, ok := strings.Cut(s, "-")
		if !ok {
			return nil, fmt.Errorf("portrange %q: want LOW-HIGH", s)
		}
		var err error
		if lo, proto, err = lookupPort(a, proto); err != nil {
			return nil, err
		}
		if hi, proto, err = lookupPort(b, proto); err != nil {
			return nil, err
		}
		if lo > hi {
			lo, hi = hi, lo
		}
	} else {
		var err error
		if lo, proto, err = lookupPort(s, proto); err != nil {
			return nil, err
		}
		hi = lo
	}
	var protos []uint32
	switch proto {
	case "":
		protos = []uint32{protoSCTP, protoTCP, protoUDP}
	case "tcp", "udp", "sctp":
		protos = []uint32{ipProtoNames[proto]}
	default:
		return nil, fmt.Errorf("%q modifier applied to %s", proto, q.typ)
	}
	match := func(ld func() []bpf.Instruction) node {
		if lo == hi {
			return test(bpf.JumpEqual, lo, ld()...)
		}
		return and(test(bpf.JumpGreaterOrEqual, lo, ld()...), notNode{test(bpf.JumpGreaterThan, hi, ld()...)})
	}
	anyProto := func(off uint32) node {
		var ns []node
		for _, pr := range protos {
			ns = append(ns, test(bpf.JumpEqual, pr, ldAbs(off, 1)))
		}
		return or(ns...)
	}
	// libpcap looks at the IPv6 fixed header's next header only here.
	src6 := func() node { return match(func() []bpf.Instruction { return []bpf.Instruction{ldAbs(l3Off+40, 2)} }) }
	dst6 := func() node { return match(func() []bpf.Instruction { return []bpf.Instruction{ldAbs(l3Off+42, 2)} }) }
	src4 := func() node { return match(func() []bpf.Instruction { return ip4L4(0, 2) }) }
	dst4 := func() node { return match(func() []bpf.Instruction { return ip4L4(2, 2) }) }
	return or(
		and(etherType(etherTypeIPv6), anyProto(l3Off+6), dirNode(q.dir, src6, dst6)),
		and(etherType(etherTypeIPv4), anyProto(l3Off+9), ip4NotFragment(), dirNode(q.dir, src4, dst4)),
	), nil
}

// lookupPort resolves a port number or service name. As libpcap does, a
// name known for one transport only restricts the match to that transport.
func lookupPort(s, proto string) (uint32, string, error) {
	if v, err := parseUint(s); err == nil {
		if v > 0xffff {
			return 0, "", fmt.Errorf("port %q out of range", s)
		}
		return v, proto, nil
	}
	if strings.ContainsAny(s, ".:/\\") || s == "" {
		return 0, "", fmt.Errorf("bad port %q", s)
	}
	tp, terr := net.LookupPort("tcp", s)
	up, uerr := net.LookupPort("udp", s)
	switch proto {
	case "tcp":
		if terr != nil {
			return 0, "", fmt.Errorf("unknown tcp port %q", s)
		}
		return uint32(tp), proto, nil
	case "udp":
		if uerr != nil {
			return 0, "", fmt.Errorf("unknown udp port %q", s)
		}
		return uint32(up), proto, nil
	case "":
		switch {
		case terr == nil && uerr == nil && tp == up:
			return uint32(tp), proto, nil
		case terr == nil && uerr == nil:
			return 0, "", fmt.Errorf("port %q is %d for tcp and %d for udp: say \"tcp port\" or \"udp port\"", s, tp, up)
		case terr == nil && proto == "":
			return uint32(tp), "tcp", nil
		case uerr == nil && proto == "":
			return uint32(up), "udp", nil
		}
	}
	return 0, "", fmt.Errorf("unknown port %q (use a number)", s)
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
