package header

import "testing"

func TestEthernet(t *testing.T) {
	dst := MAC{0x01, 0x02, 0x03, 0x04, 0x05, 0x06}
	src := MAC{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	tests := []struct {
		name    string
		typ     uint16
		payload []byte
	}{
		{"ipv4", EtherTypeIPv4, []byte{0x45, 0x00}},
		{"arp", EtherTypeARP, make([]byte, 46)},
		{"ipv6", EtherTypeIPv6, nil},
		{"vlan", EtherTypeVLAN, []byte{0x00, 0x01, 0x08, 0x00}},
		{"802.3 length", 0x002e, []byte{0xaa}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, EthernetSize+len(tt.payload))
			EncodeEthernet(b, dst, src, tt.typ)
			copy(b[EthernetSize:], tt.payload)
			e := Ethernet(b)
			if !e.IsValid() {
				t.Fatal("IsValid() = false")
			}
			if got := e.Dst(); got != dst {
				t.Errorf("Dst() = %v, want %v", got, dst)
			}
			if got := e.Src(); got != src {
				t.Errorf("Src() = %v, want %v", got, src)
			}
			if got := e.Type(); got != tt.typ {
				t.Errorf("Type() = %#04x, want %#04x", got, tt.typ)
			}
			if got := e.Payload(); string(got) != string(tt.payload) || len(got) != len(tt.payload) {
				t.Errorf("Payload() = %x, want %x", got, tt.payload)
			}
		})
	}
}

func TestEthernetIsValid(t *testing.T) {
	for n := 0; n <= 20; n++ {
		if got, want := Ethernet(make([]byte, n)).IsValid(), n >= EthernetSize; got != want {
			t.Errorf("len %d: IsValid() = %v, want %v", n, got, want)
		}
	}
	if Ethernet(nil).IsValid() {
		t.Error("nil: IsValid() = true")
	}
}
