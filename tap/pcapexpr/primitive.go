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

// ---- the predicate tree the parser builds and codegen lays out ----

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

// Protocol names an expression may use for a number.
var (
	ipProtoNames    = map[string]uint32{"icmp": protoICMP, "igmp": protoIGMP, "tcp": protoTCP, "udp": protoUDP, "sctp": protoSCTP, "icmp6": protoICMPv6}
	etherProtoNames = map[string]uint32{"ip": etherTypeIPv4, "ip6": etherTypeIPv6, "arp": etherTypeARP, "rarp": etherTypeRARP}
)

// ---- primitives: the tests each one stands for, after libpcap's gencode.c ----

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
