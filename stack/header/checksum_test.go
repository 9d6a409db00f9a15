package header

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"
)

// refChecksum is the textbook RFC 1071 loop: 16-bit words, end-around carry
// after every addition.
func refChecksum(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
		sum = sum&0xffff + sum>>16
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func newRand(t testing.TB) *rand.Rand {
	t.Helper()
	return rand.New(rand.NewPCG(1, 2))
}

func TestChecksumKnownVectors(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		initial uint16
		want    uint16
	}{
		{"empty", nil, 0, 0},
		{"empty initial", nil, 0x1234, 0x1234},
		// RFC 1071 section 3 example.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0, 0xddf2},
		{"rfc1071 initial", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0x220d, 0xffff},
		{"odd", []byte{0x01}, 0, 0x0100},
		{"odd 3", []byte{0x01, 0x02, 0x03}, 0, 0x0402},
		{"carry", []byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
		{"all ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, 0xffff},
		{"zeros", make([]byte, 100), 0, 0},
		// A captured IPv4 header with its checksum (0xb861) in place.
		{"ipv4 header", []byte{
			0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
		}, 0, 0xffff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checksum(tt.data, tt.initial); got != tt.want {
				t.Errorf("Checksum = %#04x, want %#04x", got, tt.want)
			}
			if got := refChecksum(tt.data, tt.initial); got != tt.want {
				t.Errorf("refChecksum = %#04x, want %#04x", got, tt.want)
			}
		})
	}
}

func TestChecksumRandom(t *testing.T) {
	r := newRand(t)
	buf := make([]byte, 4096)
	for i := 0; i < 5000; i++ {
		off := r.IntN(8) // unaligned starts
		n := r.IntN(len(buf) - off)
		if i%4 == 0 {
			n = r.IntN(80) // many short buffers, where the tail code runs
		}
		b := buf[off : off+n]
		fill := r.IntN(3)
		for j := range b {
			switch fill {
			case 0:
				b[j] = byte(r.Uint32())
			case 1:
				b[j] = 0xff // maximal carries
			default:
				b[j] = byte(r.Uint32()) | 0xf0
			}
		}
		initial := uint16(r.Uint32())
		if got, want := Checksum(b, initial), refChecksum(b, initial); got != want {
			t.Fatalf("len %d off %d initial %#04x: Checksum = %#04x, want %#04x", n, off, initial, got, want)
		}
	}
}

func TestChecksumChaining(t *testing.T) {
	r := newRand(t)
	b := make([]byte, 1501)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	want := Checksum(b, 0)
	for split := 0; split <= len(b); split += 2 {
		if got := Checksum(b[split:], Checksum(b[:split], 0)); got != want {
			t.Fatalf("split %d: chained = %#04x, want %#04x", split, got, want)
		}
		if got := ChecksumCombine(Checksum(b[:split], 0), Checksum(b[split:], 0)); got != want {
			t.Fatalf("split %d: combined = %#04x, want %#04x", split, got, want)
		}
	}
}

func TestChecksumCombine(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 10000; i++ {
		a, b := uint16(r.Uint32()), uint16(r.Uint32())
		var buf [2]byte
		binary.BigEndian.PutUint16(buf[:], b)
		if got, want := ChecksumCombine(a, b), refChecksum(buf[:], a); got != want {
			t.Fatalf("ChecksumCombine(%#04x, %#04x) = %#04x, want %#04x", a, b, got, want)
		}
	}
	if got := ChecksumCombine(0xffff, 0x0001); got != 0x0001 {
		t.Errorf("ChecksumCombine(0xffff, 1) = %#04x, want 1", got)
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	r := newRand(t)
	for i := 0; i < 10000; i++ {
		var src, dst [4]byte
		binary.BigEndian.PutUint32(src[:], r.Uint32())
		binary.BigEndian.PutUint32(dst[:], r.Uint32())
		proto := uint8(r.Uint32())
		length := uint16(r.Uint32())
		var ph [12]byte
		copy(ph[0:4], src[:])
		copy(ph[4:8], dst[:])
		ph[9] = proto
		binary.BigEndian.PutUint16(ph[10:12], length)
		if got, want := PseudoHeaderChecksum(proto, src, dst, length), refChecksum(ph[:], 0); got != want {
			t.Fatalf("PseudoHeaderChecksum(%d, %v, %v, %d) = %#04x, want %#04x", proto, src, dst, length, got, want)
		}
	}
}

func TestChecksumUpdate16(t *testing.T) {
	r := newRand(t)
	buf := make([]byte, IPv4MaxHeaderSize)
	for i := 0; i < 20000; i++ {
		opts := make([]byte, 4*r.IntN(11))
		for j := range opts {
			opts[j] = byte(r.Uint32())
		}
		f := randIPv4Fields(r)
		f.Options = opts
		hl := EncodeIPv4(buf, f)
		h := IPv4(buf[:hl])
		// Any 16-bit word but the checksum itself and the one holding the
		// IHL, which would change what the recomputation covers.
		off := 2 + 2*r.IntN(hl/2-1)
		if off == 10 {
			off = 8
		}
		old := binary.BigEndian.Uint16(h[off:])
		var nw uint16
		switch r.IntN(3) {
		case 0:
			nw = uint16(r.Uint32())
		case 1:
			nw = old - 0x100 // TTL decrement when off == 8
		default:
			nw = ^old
		}
		binary.BigEndian.PutUint16(h[off:], nw)
		got := ChecksumUpdate16(h.HeaderChecksum(), old, nw)
		if want := h.CalculateChecksum(); got != want {
			t.Fatalf("word %d %#04x -> %#04x: ChecksumUpdate16 = %#04x, recomputed %#04x", off, old, nw, got, want)
		}
		h.SetChecksum(got)
		if !h.IsChecksumValid() {
			t.Fatalf("updated checksum does not verify")
		}
	}
}

func TestMAC(t *testing.T) {
	tests := []struct {
		mac       MAC
		str       string
		multicast bool
		broadcast bool
	}{
		{MAC{}, "00:00:00:00:00:00", false, false},
		{MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, "02:42:ac:11:00:02", false, false},
		{MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}, "01:00:5e:00:00:fb", true, false},
		{MAC{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}, "33:33:00:00:00:01", true, false},
		{BroadcastMAC, "ff:ff:ff:ff:ff:ff", true, true},
		{MAC{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}, "fe:ff:ff:ff:ff:ff", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.mac.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := net.HardwareAddr(tt.mac[:]).String(); got != tt.str {
				t.Errorf("net.HardwareAddr.String() = %q, want %q", got, tt.str)
			}
			if got := tt.mac.IsMulticast(); got != tt.multicast {
				t.Errorf("IsMulticast() = %v, want %v", got, tt.multicast)
			}
			if got := tt.mac.IsBroadcast(); got != tt.broadcast {
				t.Errorf("IsBroadcast() = %v, want %v", got, tt.broadcast)
			}
		})
	}
}
