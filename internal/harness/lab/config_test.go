package lab

import (
	"net/netip"
	"strings"
	"testing"
)

func TestConfigDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	if got != DefaultConfig() {
		t.Errorf("Config{}.withDefaults() = %+v, want %+v", got, DefaultConfig())
	}
	want := Config{
		PeerNS: "rxp-peer", DUTNS: "rxp-dut", PeerIf: "rxp-peer0", DUTIf: "rxp0",
		PeerAddr: netip.MustParsePrefix("10.99.0.1/24"), DUTAddr: netip.MustParseAddr("10.99.0.2"),
		Queues: 1, MTU: 1500,
	}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	if err := got.validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}

	// Set fields are kept.
	c := Config{DUTNS: "x", Queues: 4, MTU: 9000}.withDefaults()
	if c.DUTNS != "x" || c.Queues != 4 || c.MTU != 9000 || c.PeerNS != "rxp-peer" {
		t.Errorf("withDefaults overrode set fields: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // substring; "" means valid
	}{
		{"default", func(*Config) {}, ""},
		{"same if names", func(c *Config) { c.PeerIf = c.DUTIf }, ""},
		{"max if name", func(c *Config) { c.DUTIf = "abcdefghijklmno" }, ""},
		{"max queues", func(c *Config) { c.Queues = 4096 }, ""},
		{"jumbo", func(c *Config) { c.MTU = 9000 }, ""},
		{"same ns", func(c *Config) { c.PeerNS = c.DUTNS }, "both"},
		{"ns with slash", func(c *Config) { c.PeerNS = "a/b" }, "invalid namespace name"},
		{"ns dotdot", func(c *Config) { c.DUTNS = ".." }, "invalid namespace name"},
		{"if too long", func(c *Config) { c.DUTIf = "abcdefghijklmnop" }, "invalid interface name"},
		{"if with space", func(c *Config) { c.PeerIf = "a b" }, "invalid interface name"},
		{"if with slash", func(c *Config) { c.PeerIf = "a/b" }, "invalid interface name"},
		{"same addr", func(c *Config) { c.DUTAddr = c.PeerAddr.Addr() }, "both"},
		{"dut outside prefix", func(c *Config) { c.DUTAddr = netip.MustParseAddr("10.98.0.2") }, "outside"},
		{"ipv6", func(c *Config) {
			c.PeerAddr, c.DUTAddr = netip.MustParsePrefix("fd00::1/64"), netip.MustParseAddr("fd00::2")
		}, "IPv4-only"},
		{"negative queues", func(c *Config) { c.Queues = -1 }, "queue count"},
		{"too many queues", func(c *Config) { c.Queues = 4097 }, "queue count"},
		{"tiny MTU", func(c *Config) { c.MTU = 67 }, "MTU"},
		{"huge MTU", func(c *Config) { c.MTU = 65536 }, "MTU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestString(t *testing.T) {
	l := &Lab{Config: DefaultConfig(), DUTIndex: 2, PeerIndex: 3}
	s := l.String()
	for _, want := range []string{"rxp-dut", "rxp-peer", "rxp0", "rxp-peer0", "10.99.0.2", "10.99.0.1/24", "MTU 1500", "1 queue "} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "xps") {
		t.Errorf("String() mentions XPS with one queue:\n%s", s)
	}
	l.Queues = 2
	if s := l.String(); !strings.Contains(s, "2 queues") || !strings.Contains(s, "xps") {
		t.Errorf("String() with 2 queues:\n%s", s)
	}
}
