package filter

import "testing"

// FuzzParse checks that Parse never panics and that whatever it accepts is
// valid and survives a String round trip: String re-parses to an equal
// rule, and is a fixed point.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"drop udp dport 9001",
		"drop udp src 10.99.0.0/24 dport 53",
		"prerouting drop icmp",
		"accept tcp dport 80",
		"drop src 10.99.0.1",
		"drop udp sport 1000-2000 queue 1",
		"drop proto 47",
		"drop",
		"drop udp dport 2000-1000",
		"drop dst 2001:db8::/32",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("Parse(%q) error %T, want *ParseError", s, err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Parse(%q) = invalid rule: %v", s, err)
		}
		canon := r.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) -> String %q does not parse: %v", s, canon, err)
		}
		if !equalRules(r, again) {
			t.Fatalf("Parse(%q) =\n%s\nParse(String()) =\n%s", s, dump(r), dump(again))
		}
		if again.String() != canon {
			t.Fatalf("String not a fixed point: %q -> %q", canon, again.String())
		}
		NewTable([]Rule{r}) // a parsed rule never makes NewTable panic
	})
}
