package filter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// equalRules reports whether a and b are the same rule, ignoring Text.
func equalRules(a, b Rule) bool {
	eqPorts := func(x, y *PortRange) bool {
		if x == nil || y == nil {
			return x == y
		}
		return *x == *y
	}
	return a.Hook == b.Hook && a.Verdict == b.Verdict && a.Proto == b.Proto &&
		a.Src == b.Src && a.Dst == b.Dst &&
		eqPorts(a.SrcPort, b.SrcPort) && eqPorts(a.DstPort, b.DstPort) &&
		a.Queue == b.Queue
}

// dump prints every field of r, port ranges included, for failure messages.
func dump(r Rule) string {
	ports := func(p *PortRange) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
	}
	return fmt.Sprintf("{Hook:%v Verdict:%v Proto:%d Src:%v Dst:%v SrcPort:%s DstPort:%s Queue:%d Text:%q}",
		r.Hook, r.Verdict, r.Proto, r.Src, r.Dst, ports(r.SrcPort), ports(r.DstPort), r.Queue, r.Text)
}

func ports(lo, hi uint16) *PortRange { return &PortRange{lo, hi} }

var anyQueue = Rule{Hook: LocalIn, Queue: -1}

// rule returns anyQueue modified by f.
func rule(f func(r *Rule)) Rule {
	r := anyQueue
	f(&r)
	return r
}

func TestParse(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		in   string
		want Rule
		text string // Text; in when empty
		str  string // String(); in when empty
	}{
		{in: "drop udp dport 9001", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.DstPort = Drop, ProtoUDP, ports(9001, 9001)
		})},
		{in: "drop udp src 10.99.0.0/24 dport 53", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.Src, r.DstPort = Drop, ProtoUDP, pfx("10.99.0.0/24"), ports(53, 53)
		})},
		{in: "prerouting drop icmp", want: rule(func(r *Rule) {
			r.Hook, r.Verdict, r.Proto = PreRouting, Drop, ProtoICMP
		})},
		{in: "accept tcp dport 80", want: rule(func(r *Rule) {
			r.Proto, r.DstPort = ProtoTCP, ports(80, 80)
		})},
		{in: "drop src 10.99.0.1", want: rule(func(r *Rule) {
			r.Verdict, r.Src = Drop, pfx("10.99.0.1/32")
		})},
		{in: "drop udp sport 1000-2000 queue 1", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.SrcPort, r.Queue = Drop, ProtoUDP, ports(1000, 2000), 1
		})},
		{in: "drop proto 47", want: rule(func(r *Rule) { r.Verdict, r.Proto = Drop, 47 })},
		{in: "drop", want: rule(func(r *Rule) { r.Verdict = Drop })},
		{in: "accept", want: anyQueue},
		{in: "prerouting accept", want: rule(func(r *Rule) { r.Hook = PreRouting })},
		{in: "input drop", want: rule(func(r *Rule) { r.Verdict = Drop }), str: "drop"},
		{in: "DROP Udp DPort 53", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.DstPort = Drop, ProtoUDP, ports(53, 53)
		}), str: "drop udp dport 53"},
		{in: "  drop\tudp   dport 53\n", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.DstPort = Drop, ProtoUDP, ports(53, 53)
		}), text: "drop udp dport 53", str: "drop udp dport 53"},
		{in: "drop queue 3 dport 53 dst 10.0.0.0/8 udp", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.Dst, r.DstPort, r.Queue = Drop, ProtoUDP, pfx("10.0.0.0/8"), ports(53, 53), 3
		}), str: "drop udp dst 10.0.0.0/8 dport 53 queue 3"},
		{in: "drop src 10.99.0.1/24", want: rule(func(r *Rule) {
			r.Verdict, r.Src = Drop, pfx("10.99.0.0/24")
		}), str: "drop src 10.99.0.0/24"},
		{in: "drop dst 10.99.0.7/32", want: rule(func(r *Rule) {
			r.Verdict, r.Dst = Drop, pfx("10.99.0.7/32")
		}), str: "drop dst 10.99.0.7"},
		{in: "accept src 0.0.0.0/0", want: rule(func(r *Rule) { r.Src = pfx("0.0.0.0/0") })},
		{in: "drop proto 6 dport 22", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.DstPort = Drop, ProtoTCP, ports(22, 22)
		}), str: "drop tcp dport 22"},
		{in: "drop proto 17 sport 0-65535", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.SrcPort = Drop, ProtoUDP, ports(0, 65535)
		}), str: "drop udp sport 0-65535"},
		{in: "drop tcp dport 80-80", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.DstPort = Drop, ProtoTCP, ports(80, 80)
		}), str: "drop tcp dport 80"},
		{in: "drop tcp dport 0080", want: rule(func(r *Rule) {
			r.Verdict, r.Proto, r.DstPort = Drop, ProtoTCP, ports(80, 80)
		}), str: "drop tcp dport 80"},
		{in: "drop proto 255", want: rule(func(r *Rule) { r.Verdict, r.Proto = Drop, 255 })},
		{in: "drop queue 0", want: rule(func(r *Rule) { r.Verdict, r.Queue = Drop, 0 })},
		{in: "prerouting accept tcp src 192.168.1.0/24 dst 10.0.0.1 sport 1024-65535 dport 443 queue 7",
			want: rule(func(r *Rule) {
				r.Hook, r.Proto = PreRouting, ProtoTCP
				r.Src, r.Dst = pfx("192.168.1.0/24"), pfx("10.0.0.1/32")
				r.SrcPort, r.DstPort, r.Queue = ports(1024, 65535), ports(443, 443), 7
			})},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !equalRules(got, tt.want) {
				t.Errorf("Parse =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
			if want := cmpOr(tt.text, tt.in); got.Text != want {
				t.Errorf("Text = %q, want %q", got.Text, want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			s := got.String()
			if want := cmpOr(tt.str, tt.in); s != want {
				t.Errorf("String = %q, want %q", s, want)
			}
			again, err := Parse(s)
			if err != nil {
				t.Fatalf("Parse(String()): %v", err)
			}
			if !equalRules(again, got) {
				t.Errorf("Parse(%q) =\n%s\nwant\n%s", s, dump(again), dump(got))
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, token, msg string
	}{
		{"", "", "empty rule"},
		{" \t ", "", "empty rule"},
		{"udp dport 53", "udp", "want verdict accept or drop"},
		{"prerouting", "prerouting", "missing verdict"},
		{"input prerouting drop", "prerouting", "duplicate hook"},
		{"drop prerouting", "prerouting", "hook must come before the verdict"},
		{"drop input", "input", "hook must come before the verdict"},
		{"drop accept", "accept", "duplicate verdict"},
		{"drop foo", "foo", "unknown keyword"},
		{"drop udp port 53", "port", "unknown keyword"},
		{"drop udp dport", "dport", "missing value"},
		{"drop udp dport queue 1", "dport", "missing value"},
		{"drop udp sport", "sport", "missing value"},
		{"drop src", "src", "missing value"},
		{"drop dst tcp", "dst", "missing value"},
		{"drop proto", "proto", "missing value"},
		{"drop proto udp", "proto", "missing value"},
		{"drop queue", "queue", "missing value"},
		{"drop src 10.0.0.0/33", "10.0.0.0/33", "bad prefix"},
		{"drop src 10.0.0.0/", "10.0.0.0/", "bad prefix"},
		{"drop dst 10.0.0", "10.0.0", "bad address"},
		{"drop dst 256.0.0.1", "256.0.0.1", "bad address"},
		{"drop src 2001:db8::/32", "2001:db8::/32", "IPv6 prefix"},
		{"drop src ::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104", "IPv6 prefix"},
		{"drop dst ::1", "::1", "IPv6 address"},
		{"drop dst ::ffff:10.0.0.1", "::ffff:10.0.0.1", "IPv6 address"},
		{"drop udp dport 65536", "65536", "port out of range"},
		{"drop udp dport 1-70000", "1-70000", "port out of range"},
		{"drop udp sport 99999999999999999999", "99999999999999999999", "port out of range"},
		{"drop udp dport 2000-1000", "2000-1000", "low 2000 > high 1000"},
		{"drop udp dport x", "x", "bad port"},
		{"drop udp dport 1-", "1-", "bad port"},
		{"drop udp dport -1", "-1", "bad port"},
		{"drop udp dport +1", "+1", "bad port"},
		{"drop udp dport 1-2-3", "1-2-3", "bad port"},
		{"drop udp dport 53 dport 54", "dport", "duplicate dport clause"},
		{"drop udp sport 53 sport 54", "sport", "duplicate sport clause"},
		{"drop tcp udp", "udp", `duplicate protocol clause (already "tcp")`},
		{"drop udp proto 17", "proto", "duplicate protocol clause"},
		{"drop proto 47 icmp", "icmp", `duplicate protocol clause (already "proto 47")`},
		{"drop src 1.2.3.4 src 1.2.3.5", "src", "duplicate src clause"},
		{"drop dst 1.2.3.4 dst 1.2.3.5", "dst", "duplicate dst clause"},
		{"drop queue 1 queue 2", "queue", "duplicate queue clause"},
		{"drop dport 53", "dport", "dport needs tcp or udp"},
		{"drop icmp sport 1", "sport", "sport needs tcp or udp"},
		{"drop proto 47 dport 1", "dport", "dport needs tcp or udp"},
		{"drop DPORT 1 sport 2", "DPORT", "dport needs tcp or udp"},
		{"drop proto 0", "0", "bad protocol number"},
		{"drop proto 256", "256", "bad protocol number"},
		{"drop proto gre", "gre", "bad protocol number"},
		{"drop queue -1", "-1", "bad queue number"},
		{"drop queue 2147483648", "2147483648", "bad queue number"},
		{"drop queue x", "x", "bad queue number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse = %s, want error", dump(r))
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v, want *ParseError", err, err)
			}
			if pe.Rule != tt.in || pe.Token != tt.token || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("error %+v, want Token %q and Msg containing %q", *pe, tt.token, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q does not name the token %q", err, tt.token)
			}
		})
	}
}

func TestParseErrorString(t *testing.T) {
	_, err := Parse("drop udp dport 99999")
	want := `filter rule "drop udp dport 99999": "99999": port out of range 0-65535`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = Parse("")
	if want := `filter rule "": empty rule`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %v, want prefix %s", err, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Rule
		msg  string // "" for valid
	}{
		{"zero", Rule{}, ""},
		{"any queue", anyQueue, ""},
		{"hook", rule(func(r *Rule) { r.Hook = 2 }), "unknown hook 2"},
		{"negative hook", rule(func(r *Rule) { r.Hook = -1 }), "unknown hook -1"},
		{"verdict", rule(func(r *Rule) { r.Verdict = 7 }), "unknown verdict 7"},
		{"ipv6 src", rule(func(r *Rule) { r.Src = netip.MustParsePrefix("2001:db8::/32") }), "src 2001:db8::/32 is not IPv4"},
		{"4in6 dst", rule(func(r *Rule) { r.Dst = netip.MustParsePrefix("::ffff:10.0.0.1/128") }), "is not IPv4"},
		{"queue", rule(func(r *Rule) { r.Queue = -2 }), "queue -2"},
		{"lo > hi", rule(func(r *Rule) { r.Proto, r.DstPort = ProtoTCP, ports(2, 1) }), "dport range low 2 > high 1"},
		{"ports need proto", rule(func(r *Rule) { r.SrcPort = ports(1, 2) }), "sport needs tcp or udp"},
		{"ports need tcp or udp", rule(func(r *Rule) { r.Proto, r.DstPort = 132, ports(1, 2) }), "dport needs tcp or udp"},
		{"unmasked prefix", rule(func(r *Rule) { r.Src = netip.MustParsePrefix("10.1.2.3/8") }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			switch {
			case tt.msg == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
				t.Errorf("Validate = %v, want error containing %q", err, tt.msg)
			}
			if tt.msg != "" {
				defer func() {
					if recover() == nil {
						t.Error("NewTable did not panic on an invalid rule")
					}
				}()
				NewTable([]Rule{anyQueue, tt.r})
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{PreRouting.String(), "prerouting"},
		{LocalIn.String(), "input"},
		{Hook(9).String(), "Hook(9)"},
		{Accept.String(), "accept"},
		{Drop.String(), "drop"},
		{Verdict(-1).String(), "Verdict(-1)"},
		{PortRange{5, 5}.String(), "5"},
		{PortRange{5, 6}.String(), "5-6"},
		{Rule{}.String(), "prerouting accept queue 0"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// randRule returns a random valid rule, prefixes not necessarily masked.
func randRule(rng *rand.Rand) Rule {
	r := Rule{
		Hook:    Hook(rng.IntN(numHooks)),
		Verdict: Verdict(rng.IntN(2)),
		Queue:   rng.IntN(5) - 1,
	}
	switch rng.IntN(5) {
	case 0:
	case 1:
		r.Proto = ProtoICMP
	case 2:
		r.Proto = uint8(rng.IntN(256))
	default:
		r.Proto = [...]uint8{ProtoTCP, ProtoUDP}[rng.IntN(2)]
	}
	prefix := func() netip.Prefix {
		if rng.IntN(3) == 0 {
			return netip.Prefix{}
		}
		a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(3)), byte(rng.IntN(3)), byte(rng.IntN(3))})
		return netip.PrefixFrom(a, [...]int{0, 8, 16, 24, 30, 32}[rng.IntN(6)])
	}
	r.Src, r.Dst = prefix(), prefix()
	portRange := func() *PortRange {
		if rng.IntN(2) == 0 {
			return nil
		}
		lo := uint16(rng.IntN(8))
		return &PortRange{lo, lo + uint16(rng.IntN(3))}
	}
	if r.Proto == ProtoTCP || r.Proto == ProtoUDP {
		r.SrcPort, r.DstPort = portRange(), portRange()
	}
	return r
}

func TestStringRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		r := randRule(rng)
		if err := r.Validate(); err != nil {
			t.Fatalf("randRule made an invalid rule: %v", err)
		}
		s := r.String()
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) from %s: %v", s, dump(r), err)
		}
		want := r
		want.Src, want.Dst = r.Src.Masked(), r.Dst.Masked()
		if !equalRules(got, want) {
			t.Fatalf("Parse(%q) =\n%s\nwant\n%s", s, dump(got), dump(want))
		}
		if got.Text != s {
			t.Fatalf("Parse(%q).Text = %q", s, got.Text)
		}
	}
}
