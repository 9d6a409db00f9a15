package header

import (
	"encoding/binary"
	"testing"
)

func TestARPRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		op   uint16
		sha  MAC
		spa  [4]byte
		tha  MAC
		tpa  [4]byte
	}{
		{"request", ARPRequest, MAC{2, 0, 0, 0, 0, 1}, [4]byte{10, 0, 0, 1}, MAC{}, [4]byte{10, 0, 0, 2}},
		{"reply", ARPReply, MAC{2, 0, 0, 0, 0, 2}, [4]byte{10, 0, 0, 2}, MAC{2, 0, 0, 0, 0, 1}, [4]byte{10, 0, 0, 1}},
		{"gratuitous", ARPRequest, MAC{0xde, 0xad, 0xbe, 0xef, 0, 1}, [4]byte{192, 168, 1, 7}, BroadcastMAC, [4]byte{192, 168, 1, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, ARPSize+18) // trailing link padding is allowed
			EncodeARP(b, tt.op, tt.sha, tt.spa, tt.tha, tt.tpa)
			a := ARP(b)
			if !a.IsValid() {
				t.Fatal("IsValid() = false")
			}
			if a.HardwareType() != 1 || a.ProtocolType() != EtherTypeIPv4 || a.HardwareLen() != 6 || a.ProtocolLen() != 4 {
				t.Errorf("fixed fields = %d %#04x %d %d", a.HardwareType(), a.ProtocolType(), a.HardwareLen(), a.ProtocolLen())
			}
			if a.Op() != tt.op {
				t.Errorf("Op() = %d, want %d", a.Op(), tt.op)
			}
			if a.SenderMAC() != tt.sha || a.SenderIP() != tt.spa || a.TargetMAC() != tt.tha || a.TargetIP() != tt.tpa {
				t.Errorf("addresses = %v %v %v %v, want %v %v %v %v",
					a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP(), tt.sha, tt.spa, tt.tha, tt.tpa)
			}
		})
	}
}

func TestARPIsValid(t *testing.T) {
	good := func() []byte {
		b := make([]byte, ARPSize)
		EncodeARP(b, ARPRequest, MAC{1}, [4]byte{1}, MAC{2}, [4]byte{2})
		return b
	}
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   bool
	}{
		{"good", func(b []byte) []byte { return b }, true},
		{"reply", func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], ARPReply); return b }, true},
		{"nil", func([]byte) []byte { return nil }, false},
		{"short", func(b []byte) []byte { return b[:ARPSize-1] }, false},
		{"htype 6", func(b []byte) []byte { b[1] = 6; return b }, false},
		{"ptype ipv6", func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], EtherTypeIPv6); return b }, false},
		{"hlen 8", func(b []byte) []byte { b[4] = 8; return b }, false},
		{"plen 16", func(b []byte) []byte { b[5] = 16; return b }, false},
		{"op 0", func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], 0); return b }, false},
		{"op 3 (rarp)", func(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], 3); return b }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ARP(tt.mutate(good())).IsValid(); got != tt.want {
				t.Errorf("IsValid() = %v, want %v", got, tt.want)
			}
		})
	}
}
