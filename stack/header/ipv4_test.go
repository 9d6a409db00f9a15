package header

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func randIPv4Fields(r *rand.Rand) IPv4Fields {
	var f IPv4Fields
	f.TOS = uint8(r.Uint32())
	f.TotalLength = uint16(r.Uint32())
	f.ID = uint16(r.Uint32())
	f.Flags = uint8(r.IntN(8))
	f.FragmentOffset = uint16(r.IntN(0x2000)) * 8
	f.TTL = uint8(r.Uint32())
	f.Protocol = uint8(r.Uint32())
	binary.BigEndian.PutUint32(f.Src[:], r.Uint32())
	binary.BigEndian.PutUint32(f.Dst[:], r.Uint32())
	return f
}

func TestIPv4RoundTrip(t *testing.T) {
	rr := []byte{IPv4OptionRR, 7, 4, 0, 0, 0, 0, IPv4OptionEOL}
	ra := []byte{IPv4OptionRouterAlert, 4, 0, 0}
	tests := []struct {
		name    string
		f       IPv4Fields
		payload int
		wantHL  int
	}{
		{"udp", IPv4Fields{TotalLength: 28, ID: 1, Flags: IPv4FlagDontFragment, TTL: 64, Protocol: 17, Src: [4]byte{10, 0, 0, 1}, Dst: [4]byte{10, 0, 0, 2}}, 8, 20},
		{"tos", IPv4Fields{TOS: 0xb8, TotalLength: 20, TTL: 1, Protocol: 6, Src: [4]byte{1, 2, 3, 4}, Dst: [4]byte{255, 255, 255, 255}}, 0, 20},
		{"first fragment", IPv4Fields{TotalLength: 1500, ID: 0xbeef, Flags: IPv4FlagMoreFragments, TTL: 64, Protocol: 17}, 1480, 20},
		{"last fragment", IPv4Fields{TotalLength: 100, ID: 0xbeef, FragmentOffset: 1480, TTL: 64, Protocol: 17}, 80, 20},
		{"max offset", IPv4Fields{TotalLength: 20, Flags: 7, FragmentOffset: 0x1fff * 8, TTL: 255}, 0, 20},
		{"router alert", IPv4Fields{TotalLength: 32, TTL: 1, Protocol: 2, Options: ra}, 8, 24},
		{"record route", IPv4Fields{TotalLength: 28, TTL: 64, Protocol: 1, Options: rr}, 0, 28},
		{"unpadded options", IPv4Fields{TotalLength: 24, TTL: 64, Options: []byte{IPv4OptionNOP}}, 0, 24},
		{"max options", IPv4Fields{TotalLength: 60, TTL: 64, Options: make([]byte, 40)}, 0, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.wantHL+tt.payload+6) // +6: link padding
			for i := range b {
				b[i] = 0xcc
			}
			hl := EncodeIPv4(b, tt.f)
			if hl != tt.wantHL {
				t.Fatalf("EncodeIPv4 = %d, want %d", hl, tt.wantHL)
			}
			h := IPv4(b)
			if err := h.Validate(len(b)); err != IPv4OK {
				t.Fatalf("Validate = %v", err)
			}
			if !h.IsChecksumValid() {
				t.Error("IsChecksumValid() = false")
			}
			if h.HeaderChecksum() != h.CalculateChecksum() {
				t.Errorf("HeaderChecksum() = %#04x, CalculateChecksum() = %#04x", h.HeaderChecksum(), h.CalculateChecksum())
			}
			got := IPv4Fields{
				TOS: h.TOS(), TotalLength: h.TotalLength(), ID: h.ID(), Flags: h.Flags(),
				FragmentOffset: h.FragmentOffset(), TTL: h.TTL(), Protocol: h.Protocol(),
				Src: h.Src(), Dst: h.Dst(), Options: h.Options(),
			}
			want := tt.f
			want.Options = make([]byte, hl-IPv4MinimumSize)
			copy(want.Options, tt.f.Options)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fields:\n got %+v\nwant %+v", got, want)
			}
			if h.HeaderLength() != hl {
				t.Errorf("HeaderLength() = %d, want %d", h.HeaderLength(), hl)
			}
			if len(h.Payload()) != tt.payload {
				t.Errorf("len(Payload()) = %d, want %d", len(h.Payload()), tt.payload)
			}
			if got, want := h.More(), tt.f.Flags&IPv4FlagMoreFragments != 0; got != want {
				t.Errorf("More() = %v, want %v", got, want)
			}
			if got, want := h.IsFragment(), tt.f.Flags&IPv4FlagMoreFragments != 0 || tt.f.FragmentOffset != 0; got != want {
				t.Errorf("IsFragment() = %v, want %v", got, want)
			}
		})
	}
}

func TestIPv4Setters(t *testing.T) {
	b := make([]byte, 40)
	EncodeIPv4(b, IPv4Fields{TotalLength: 40, TTL: 64, Protocol: 6})
	h := IPv4(b)
	h.SetTTL(3)
	h.SetTotalLength(33)
	h.SetID(0xabcd)
	h.SetSrc([4]byte{1, 1, 1, 1})
	h.SetDst([4]byte{2, 2, 2, 2})
	h.SetFlagsFragmentOffset(IPv4FlagMoreFragments|IPv4FlagDontFragment, 8*100)
	if h.TTL() != 3 || h.TotalLength() != 33 || h.ID() != 0xabcd || h.Src() != [4]byte{1, 1, 1, 1} || h.Dst() != [4]byte{2, 2, 2, 2} {
		t.Errorf("fields after setters: %d %d %#x %v %v", h.TTL(), h.TotalLength(), h.ID(), h.Src(), h.Dst())
	}
	if h.Flags() != IPv4FlagMoreFragments|IPv4FlagDontFragment || h.FragmentOffset() != 800 || !h.More() || !h.IsFragment() {
		t.Errorf("flags %d offset %d more %v frag %v", h.Flags(), h.FragmentOffset(), h.More(), h.IsFragment())
	}
	if h.IsChecksumValid() {
		t.Error("checksum still valid after setters without SetChecksum")
	}
	h.SetChecksum(h.CalculateChecksum())
	if !h.IsChecksumValid() {
		t.Error("IsChecksumValid() = false after SetChecksum(CalculateChecksum())")
	}
	h.SetFlagsFragmentOffset(IPv4FlagDontFragment, 0)
	if h.More() || h.IsFragment() || h.Flags() != IPv4FlagDontFragment {
		t.Errorf("DF only: flags %d more %v frag %v", h.Flags(), h.More(), h.IsFragment())
	}
	h.SetFlagsFragmentOffset(0, 8)
	if h.More() || !h.IsFragment() {
		t.Errorf("offset only: more %v frag %v", h.More(), h.IsFragment())
	}
}

func TestIPv4Validate(t *testing.T) {
	build := func(ihl uint8, tl uint16, n int) []byte {
		b := make([]byte, n)
		if n >= IPv4MinimumSize {
			b[0] = 0x40 | ihl
			binary.BigEndian.PutUint16(b[2:], tl)
		}
		return b
	}
	tests := []struct {
		name    string
		b       []byte
		pktSize int
		want    IPv4Error
	}{
		{"nil", nil, 0, IPv4TooShort},
		{"19 bytes", make([]byte, 19), 19, IPv4TooShort},
		{"pktSize 19", build(5, 20, 20), 19, IPv4TooShort},
		{"negative pktSize", build(5, 20, 20), -1, IPv4TooShort},
		{"version 6", func() []byte { b := build(5, 20, 20); b[0] = 0x65; return b }(), 20, IPv4BadVersion},
		{"version 0", func() []byte { b := build(5, 20, 20); b[0] = 0x05; return b }(), 20, IPv4BadVersion},
		{"ihl 4", build(4, 20, 20), 20, IPv4BadIHL},
		{"ihl 0", build(0, 20, 20), 20, IPv4BadIHL},
		{"ihl 6 in 20 bytes", build(6, 24, 20), 20, IPv4BadIHL},
		{"ihl 15 in 59 bytes", build(15, 60, 59), 59, IPv4BadIHL},
		{"total 0", build(5, 0, 40), 40, IPv4BadTotalLength},
		{"total 19", build(5, 19, 40), 40, IPv4BadTotalLength},
		{"total below ihl", build(6, 20, 40), 40, IPv4BadTotalLength},
		{"total beyond buffer", build(5, 41, 40), 40, IPv4TotalLengthBeyondFrame},
		{"total beyond pktSize", build(5, 40, 40), 39, IPv4TotalLengthBeyondFrame},
		{"total beyond buffer large pktSize", build(5, 41, 40), 1000, IPv4TotalLengthBeyondFrame},
		{"max total", build(5, 65535, 65535), 65535, IPv4OK},
		{"minimal", build(5, 20, 20), 20, IPv4OK},
		{"padded frame", build(5, 28, 46), 46, IPv4OK},
		{"ihl 15", build(15, 60, 60), 60, IPv4OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := IPv4(tt.b)
			got := h.Validate(tt.pktSize)
			if got != tt.want {
				t.Errorf("Validate(%d) = %v, want %v", tt.pktSize, got, tt.want)
			}
			if h.IsValid(tt.pktSize) != (tt.want == IPv4OK) {
				t.Errorf("IsValid(%d) = %v", tt.pktSize, h.IsValid(tt.pktSize))
			}
			if got == IPv4OK {
				_ = h.Options()
				_ = h.Payload()
			}
		})
	}
}

func TestIPv4ErrorString(t *testing.T) {
	seen := map[string]bool{}
	for e := IPv4OK; e <= IPv4TotalLengthBeyondFrame; e++ {
		s := e.String()
		if s == "" || seen[s] {
			t.Errorf("%d.String() = %q: empty or duplicate", int(e), s)
		}
		seen[s] = true
	}
	if got := IPv4Error(99).String(); got != "IPv4Error(99)" {
		t.Errorf("IPv4Error(99).String() = %q", got)
	}
	if got := IPv4Error(-1).String(); got != "IPv4Error(-1)" {
		t.Errorf("IPv4Error(-1).String() = %q", got)
	}
}

type ipv4Option struct {
	typ  byte
	data string
}

func TestParseIPv4Options(t *testing.T) {
	tests := []struct {
		name    string
		opts    []byte
		want    []ipv4Option
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"eol", []byte{0, 7, 0}, nil, false},
		{"nops", []byte{1, 1, 1, 1}, nil, false},
		{"router alert", []byte{IPv4OptionRouterAlert, 4, 0, 0}, []ipv4Option{{IPv4OptionRouterAlert, "\x00\x00"}}, false},
		{"rr then eol", []byte{IPv4OptionRR, 7, 4, 1, 2, 3, 4, 0}, []ipv4Option{{IPv4OptionRR, "\x04\x01\x02\x03\x04"}}, false},
		{"eol stops", []byte{1, 0, 0xff}, nil, false},
		{"two options", []byte{IPv4OptionLSRR, 3, 4, 1, IPv4OptionSSRR, 2, 0, 0}, []ipv4Option{{IPv4OptionLSRR, "\x04"}, {IPv4OptionSSRR, ""}}, false},
		{"timestamp", []byte{IPv4OptionTimestamp, 4, 5, 0}, []ipv4Option{{IPv4OptionTimestamp, "\x05\x00"}}, false},
		{"unknown exact fit", []byte{0x99, 4, 0xaa, 0xbb}, []ipv4Option{{0x99, "\xaa\xbb"}}, false},
		{"no length byte", []byte{1, 1, 1, IPv4OptionRR}, nil, true},
		{"length 0", []byte{IPv4OptionRR, 0, 0, 0}, nil, true},
		{"length 1", []byte{IPv4OptionRR, 1, 0, 0}, nil, true},
		{"length past end", []byte{IPv4OptionRR, 5, 0, 0}, nil, true},
		{"length 255", []byte{IPv4OptionRouterAlert, 4, 0, 0, IPv4OptionRR, 255, 0, 0}, []ipv4Option{{IPv4OptionRouterAlert, "\x00\x00"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []ipv4Option
			err := ParseIPv4Options(tt.opts, func(typ byte, data []byte) bool {
				got = append(got, ipv4Option{typ, string(data)})
				return true
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrIPv4OptionMalformed) {
				t.Errorf("err = %v, does not wrap ErrIPv4OptionMalformed", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseIPv4OptionsStop(t *testing.T) {
	opts := []byte{IPv4OptionRouterAlert, 4, 0, 0, IPv4OptionRR, 1, 0, 0} // malformed after the first
	calls := 0
	err := ParseIPv4Options(opts, func(byte, []byte) bool { calls++; return false })
	if err != nil || calls != 1 {
		t.Errorf("err = %v, calls = %d; want nil, 1", err, calls)
	}
}
