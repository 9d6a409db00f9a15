package header

import (
	"encoding/binary"
	"testing"
)

func TestUDPRoundTrip(t *testing.T) {
	src, dst := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	tests := []struct {
		name    string
		sp, dp  uint16
		payload []byte
		padding int // bytes after Length(), such as link padding
	}{
		{"empty", 1, 2, nil, 0},
		{"dns", 53000, 53, []byte("\x12\x34\x01\x00\x00\x01"), 0},
		{"odd", 0xffff, 0, []byte{1, 2, 3}, 0},
		{"padded", 9, 9, []byte("x"), 17},
		{"large", 4789, 4789, make([]byte, 1472), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := uint16(UDPSize + len(tt.payload))
			b := make([]byte, int(l)+tt.padding)
			for i := int(l); i < len(b); i++ {
				b[i] = 0xee
			}
			EncodeUDP(b, tt.sp, tt.dp, l)
			copy(b[UDPSize:], tt.payload)
			u := UDP(b)
			if !u.IsValid() {
				t.Fatal("IsValid() = false")
			}
			if u.SrcPort() != tt.sp || u.DstPort() != tt.dp || u.Length() != l || u.Checksum() != 0 {
				t.Errorf("fields = %d %d %d %#04x, want %d %d %d 0", u.SrcPort(), u.DstPort(), u.Length(), u.Checksum(), tt.sp, tt.dp, l)
			}
			if string(u.Payload()) != string(tt.payload) {
				t.Errorf("Payload() = %x, want %x", u.Payload(), tt.payload)
			}
			if !u.IsChecksumValid(src, dst) {
				t.Error("zero checksum: IsChecksumValid() = false")
			}
			c := UDPChecksum(u, src, dst)
			if c == 0 {
				t.Fatal("UDPChecksum returned 0")
			}
			u.SetChecksum(c)
			if !u.IsChecksumValid(src, dst) {
				t.Error("IsChecksumValid() = false after SetChecksum")
			}
			if u.IsChecksumValid(src, [4]byte{10, 0, 0, 3}) {
				t.Error("IsChecksumValid() = true with another destination")
			}
			if UDPChecksum(u, src, dst) != c {
				t.Error("UDPChecksum depends on the checksum field")
			}
		})
	}
}

// TestUDPChecksumZero builds a datagram whose computed checksum is zero and
// checks it is sent as 0xffff (RFC 768) and verifies.
func TestUDPChecksumZero(t *testing.T) {
	src, dst := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	b := make([]byte, UDPSize+2)
	EncodeUDP(b, 1000, 2000, uint16(len(b)))
	// Choose the payload word so that the full sum is 0xffff.
	s := Checksum(b, PseudoHeaderChecksum(17, src, dst, uint16(len(b))))
	binary.BigEndian.PutUint16(b[8:], ^s)
	u := UDP(b)
	if got := UDPChecksum(u, src, dst); got != 0xffff {
		t.Fatalf("UDPChecksum = %#04x, want 0xffff", got)
	}
	u.SetChecksum(0xffff)
	if !u.IsChecksumValid(src, dst) {
		t.Error("IsChecksumValid() = false for 0xffff")
	}
}

func TestUDPIsValid(t *testing.T) {
	tests := []struct {
		name   string
		len    int
		length uint16
		want   bool
	}{
		{"nil", 0, 0, false},
		{"short", 7, 7, false},
		{"header only", 8, 8, true},
		{"length 0", 8, 0, false},
		{"length 7", 20, 7, false},
		{"length beyond", 20, 21, false},
		{"length exact", 20, 20, true},
		{"length shorter than buffer", 60, 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.len)
			if tt.len >= UDPSize {
				EncodeUDP(b, 1, 2, tt.length)
			}
			if got := UDP(b).IsValid(); got != tt.want {
				t.Errorf("IsValid() = %v, want %v", got, tt.want)
			}
		})
	}
}
