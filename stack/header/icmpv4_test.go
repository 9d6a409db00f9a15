package header

import (
	"encoding/binary"
	"testing"
)

func TestICMPv4RoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		typ, code  uint8
		rest       uint32
		payload    []byte
		ident, seq uint16
	}{
		{"echo", ICMPv4Echo, 0, 0x12340001, []byte("abcdefgh"), 0x1234, 1},
		{"echo reply", ICMPv4EchoReply, 0, 0xffff0000, nil, 0xffff, 0},
		{"port unreachable", ICMPv4DstUnreachable, ICMPv4PortUnreachable, 0, []byte("\x45\x00\x00\x1c quoted datagram..."), 0, 0},
		{"frag needed", ICMPv4DstUnreachable, ICMPv4FragmentationNeeded, 1500, make([]byte, 28), 0, 1500},
		{"time exceeded odd", ICMPv4TimeExceeded, 0, 0, []byte{1, 2, 3}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, ICMPv4MinimumSize+len(tt.payload))
			EncodeICMPv4(b, tt.typ, tt.code, tt.rest)
			copy(b[ICMPv4MinimumSize:], tt.payload)
			m := ICMPv4(b)
			if !m.IsValid() {
				t.Fatal("IsValid() = false")
			}
			if m.Checksum() != 0 {
				t.Errorf("encoded Checksum() = %#04x, want 0", m.Checksum())
			}
			m.SetChecksum(^Checksum(m, 0))
			if !m.IsChecksumValid() {
				t.Error("IsChecksumValid() = false after SetChecksum")
			}
			if m.Type() != tt.typ || m.Code() != tt.code || m.Ident() != tt.ident || m.Sequence() != tt.seq {
				t.Errorf("fields = %d %d %d %d, want %d %d %d %d", m.Type(), m.Code(), m.Ident(), m.Sequence(), tt.typ, tt.code, tt.ident, tt.seq)
			}
			if binary.BigEndian.Uint32(b[4:8]) != tt.rest {
				t.Errorf("rest = %#08x, want %#08x", binary.BigEndian.Uint32(b[4:8]), tt.rest)
			}
			if string(m.Payload()) != string(tt.payload) {
				t.Errorf("Payload() = %x, want %x", m.Payload(), tt.payload)
			}
			// Turning an echo into a reply and fixing the checksum
			// incrementally, as the ICMP layer does.
			old := binary.BigEndian.Uint16(b[0:2])
			m.SetType(ICMPv4EchoReply)
			m.SetCode(0)
			m.SetChecksum(ChecksumUpdate16(m.Checksum(), old, binary.BigEndian.Uint16(b[0:2])))
			if !m.IsChecksumValid() {
				t.Error("IsChecksumValid() = false after SetType and incremental update")
			}
			m[len(m)-1] ^= 0x01
			if m.IsChecksumValid() {
				t.Error("IsChecksumValid() = true after corrupting a byte")
			}
		})
	}
}

func TestICMPv4IsValid(t *testing.T) {
	for n := 0; n <= 10; n++ {
		if got, want := ICMPv4(make([]byte, n)).IsValid(), n >= ICMPv4MinimumSize; got != want {
			t.Errorf("len %d: IsValid() = %v, want %v", n, got, want)
		}
	}
}
