package header

import (
	"errors"
	"reflect"
	"testing"
)

func TestTCPRoundTrip(t *testing.T) {
	src, dst := [4]byte{192, 168, 0, 1}, [4]byte{192, 168, 0, 2}
	synOpts := make([]byte, 40)
	synOpts = synOpts[:EncodeTCPOptions(synOpts, TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTS: true, TSVal: 1, HasWS: true, WS: 7})]
	tests := []struct {
		name    string
		f       TCPFields
		payload []byte
		wantHL  int
	}{
		{"syn", TCPFields{SrcPort: 40000, DstPort: 80, Seq: 0xdeadbeef, Flags: TCPFlagSYN, Window: 65535, Options: synOpts}, nil, 40},
		{"ack data", TCPFields{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 0xffffffff, Flags: TCPFlagACK | TCPFlagPSH, Window: 502}, []byte("hello"), 20},
		{"all flags", TCPFields{Flags: 0xff, Urgent: 0x1234}, []byte{0}, 20},
		{"unpadded options", TCPFields{Flags: TCPFlagACK, Options: []byte{TCPOptionNOP, TCPOptionWS, 3, 2}}, nil, 24},
		{"odd options", TCPFields{Flags: TCPFlagACK, Options: []byte{TCPOptionWS, 3, 2}}, []byte{1, 2, 3}, 24},
		{"max options", TCPFields{Options: make([]byte, 40)}, nil, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.wantHL+len(tt.payload))
			for i := range b {
				b[i] = 0xcc
			}
			hl := EncodeTCP(b, tt.f)
			if hl != tt.wantHL {
				t.Fatalf("EncodeTCP = %d, want %d", hl, tt.wantHL)
			}
			copy(b[hl:], tt.payload)
			h := TCP(b)
			if !h.IsValid() {
				t.Fatal("IsValid() = false")
			}
			got := TCPFields{SrcPort: h.SrcPort(), DstPort: h.DstPort(), Seq: h.Seq(), Ack: h.Ack(), Flags: h.Flags(), Window: h.Window(), Urgent: h.Urgent(), Options: h.Options()}
			want := tt.f
			want.Options = make([]byte, hl-TCPMinimumSize)
			copy(want.Options, tt.f.Options)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fields:\n got %+v\nwant %+v", got, want)
			}
			if h.DataOffset() != hl || h.Checksum() != 0 || string(h.Payload()) != string(tt.payload) {
				t.Errorf("DataOffset %d Checksum %#04x Payload %x", h.DataOffset(), h.Checksum(), h.Payload())
			}
			c := TCPChecksum(h, src, dst)
			h.SetChecksum(c)
			if h.Checksum() != c || !h.IsChecksumValid(src, dst) {
				t.Error("IsChecksumValid() = false after SetChecksum")
			}
			if TCPChecksum(h, src, dst) != c {
				t.Error("TCPChecksum depends on the checksum field")
			}
			if h.IsChecksumValid(src, [4]byte{192, 168, 0, 3}) {
				t.Error("IsChecksumValid() = true with another destination")
			}
		})
	}
}

func TestTCPIsValid(t *testing.T) {
	tests := []struct {
		name string
		n    int
		off  uint8
		want bool
	}{
		{"nil", 0, 0, false},
		{"19 bytes", 19, 5, false},
		{"minimal", 20, 5, true},
		{"offset 4", 20, 4, false},
		{"offset 0", 40, 0, false},
		{"offset 6 in 20 bytes", 20, 6, false},
		{"offset 15 in 60 bytes", 60, 15, true},
		{"offset 15 in 59 bytes", 59, 15, false},
		{"payload", 100, 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.n)
			if tt.n > 12 {
				b[12] = tt.off << 4
			}
			if got := TCP(b).IsValid(); got != tt.want {
				t.Errorf("IsValid() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseTCPOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []byte
		want    TCPOptions
		wantErr bool
	}{
		{"empty", nil, TCPOptions{}, false},
		{"mss", []byte{2, 4, 0x05, 0xb4}, TCPOptions{MSS: 1460, HasMSS: true}, false},
		{"linux syn", []byte{
			2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
		}, TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTS: true, TSVal: 1, HasWS: true, WS: 7}, false},
		{"ts", []byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8}, TCPOptions{HasTS: true, TSVal: 0x01020304, TSEcr: 0x05060708}, false},
		{"sack 1", []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}, TCPOptions{SACK: [4]SACKBlock{{1, 2}}, NumSACK: 1}, false},
		{"sack 4", []byte{5, 34,
			0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
			0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8, 0, 0,
		}, TCPOptions{SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}, NumSACK: 4}, false},
		{"ws above 14 kept", []byte{3, 3, 15, 0}, TCPOptions{HasWS: true, WS: 15}, false},
		{"unknown skipped", []byte{30, 4, 0, 0, 2, 4, 0, 1}, TCPOptions{MSS: 1, HasMSS: true}, false},
		{"unknown length 2", []byte{99, 2, 2, 4, 0, 2}, TCPOptions{MSS: 2, HasMSS: true}, false},
		{"eol stops", []byte{2, 4, 0, 1, 0, 2, 4, 0, 2}, TCPOptions{MSS: 1, HasMSS: true}, false},
		{"eol hides garbage", []byte{0, 2, 0}, TCPOptions{}, false},
		{"last wins", []byte{2, 4, 0, 1, 2, 4, 0, 2}, TCPOptions{MSS: 2, HasMSS: true}, false},
		{"mss length 3", []byte{2, 3, 0, 0}, TCPOptions{}, true},
		{"mss length 5", []byte{2, 5, 0, 0, 0}, TCPOptions{}, true},
		{"ws length 4", []byte{3, 4, 0, 0}, TCPOptions{}, true},
		{"sackperm length 3", []byte{4, 3, 0, 0}, TCPOptions{}, true},
		{"ts length 8", []byte{8, 8, 0, 0, 0, 0, 0, 0}, TCPOptions{}, true},
		{"sack no blocks", []byte{5, 2, 0, 0}, TCPOptions{}, true},
		{"sack length 11", []byte{5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}, TCPOptions{}, true},
		{"sack 5 blocks", append([]byte{5, 42}, make([]byte, 40)...), TCPOptions{}, true},
		{"no length byte", []byte{1, 1, 1, 2}, TCPOptions{}, true},
		{"length 0", []byte{99, 0, 0, 0}, TCPOptions{}, true},
		{"length 1", []byte{99, 1, 0, 0}, TCPOptions{}, true},
		{"length past end", []byte{2, 4, 0, 1, 99, 9, 0, 0}, TCPOptions{MSS: 1, HasMSS: true}, true},
		{"mss truncated", []byte{1, 1, 2, 4, 5}, TCPOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TCPOptions{MSS: 9999, HasMSS: true, NumSACK: 3} // must be reset
			err := ParseTCPOptions(tt.opts, &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrTCPOptionMalformed) {
				t.Errorf("err = %v, does not wrap ErrTCPOptionMalformed", err)
			}
			if got != tt.want {
				t.Errorf("options:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeTCPOptions(t *testing.T) {
	sack := [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	tests := []struct {
		name      string
		o         TCPOptions
		wantLen   int
		wantSACKs int // blocks expected back after clamping
		wantBytes []byte
	}{
		{"none", TCPOptions{}, 0, 0, nil},
		{"mss", TCPOptions{MSS: 1460, HasMSS: true}, 4, 0, []byte{2, 4, 0x05, 0xb4}},
		{"sackperm", TCPOptions{SACKPermitted: true}, 4, 0, []byte{1, 1, 4, 2}},
		{"ts", TCPOptions{HasTS: true, TSVal: 1, TSEcr: 2}, 12, 0, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}},
		{"ws", TCPOptions{HasWS: true, WS: 14}, 4, 0, []byte{1, 3, 3, 14}},
		{"linux syn", TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTS: true, TSVal: 1, HasWS: true, WS: 7}, 20, 0,
			[]byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}},
		{"sack 4", TCPOptions{SACK: sack, NumSACK: 4}, 36, 4, nil},
		{"sack 4 with ts", TCPOptions{HasTS: true, SACK: sack, NumSACK: 4}, 40, 3, nil},
		{"sack 4 with everything", TCPOptions{HasMSS: true, HasTS: true, HasWS: true, SACKPermitted: true, SACK: sack, NumSACK: 4}, 40, 2, nil},
		{"sack count above 4", TCPOptions{SACK: sack, NumSACK: 9}, 36, 4, nil},
		{"sack count negative", TCPOptions{SACK: sack, NumSACK: -1}, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, 40)
			n := EncodeTCPOptions(b, tt.o)
			if n != tt.wantLen || n%4 != 0 {
				t.Fatalf("EncodeTCPOptions = %d, want %d", n, tt.wantLen)
			}
			if tt.wantBytes != nil && string(b[:n]) != string(tt.wantBytes) {
				t.Errorf("bytes = %v, want %v", b[:n], tt.wantBytes)
			}
			var got TCPOptions
			if err := ParseTCPOptions(b[:n], &got); err != nil {
				t.Fatalf("ParseTCPOptions: %v", err)
			}
			want := tt.o
			want.NumSACK = tt.wantSACKs
			want.SACK = [4]SACKBlock{}
			copy(want.SACK[:], tt.o.SACK[:tt.wantSACKs])
			if got != want {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
