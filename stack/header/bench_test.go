package header

import (
	"math/rand/v2"
	"testing"
)

func benchmarkChecksum(b *testing.B, n int) {
	r := rand.New(rand.NewPCG(3, 4))
	buf := randBytes(r, n)
	b.ReportAllocs()
	b.SetBytes(int64(n))
	var s uint16
	for b.Loop() {
		s = Checksum(buf, s)
	}
	sink += uint64(s)
}

func BenchmarkChecksum64(b *testing.B)   { benchmarkChecksum(b, 64) }
func BenchmarkChecksum1500(b *testing.B) { benchmarkChecksum(b, 1500) }

func BenchmarkIPv4Validate(b *testing.B) {
	pkt := make([]byte, 1500)
	EncodeIPv4(pkt, IPv4Fields{TotalLength: 1500, TTL: 64, Protocol: 17, Src: [4]byte{10, 0, 0, 1}, Dst: [4]byte{10, 0, 0, 2}})
	h := IPv4(pkt)
	b.ReportAllocs()
	for b.Loop() {
		if h.Validate(len(pkt)) != IPv4OK || !h.IsChecksumValid() {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkParseTCPOptions(b *testing.B) {
	var buf [40]byte
	opts := buf[:EncodeTCPOptions(buf[:], TCPOptions{HasTS: true, TSVal: 1, TSEcr: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}, NumSACK: 3})]
	b.ReportAllocs()
	var o TCPOptions
	for b.Loop() {
		if err := ParseTCPOptions(opts, &o); err != nil {
			b.Fatal(err)
		}
	}
}
