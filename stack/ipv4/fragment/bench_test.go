package fragment

import (
	"fmt"
	"testing"
)

// BenchmarkInsert reassembles datagrams of n 8-byte fragments arriving in
// random order; one op is one fragment. The ns/frag metric is the cost per
// fragment: with the B-tree it grows with log n, where a linear list would
// grow with n (compare frags=16 with frags=1024).
func BenchmarkInsert(b *testing.B) {
	for _, n := range []int{16, 64, 256, 1024, 4096} {
		b.Run(fmt.Sprintf("frags=%d", n), func(b *testing.B) {
			r := New(Options{MaxFragments: n})
			ps := shuffled(split(payload(n*8, 1), 8), uint64(n))
			b.ReportAllocs()
			id := 0
			for i := 0; b.Loop(); i++ {
				j := i % n
				if j == 0 {
					id++
				}
				p := ps[j]
				if _, _, done := r.Process(testKey(id), nil, uint16(p.off), p.more, p.data); done != (j == n-1) {
					b.Fatalf("fragment %d of %d: done = %v", j, n, done)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frag")
		})
	}
}

// BenchmarkFlood measures fragments of datagrams that never complete, at
// the memory bound, where every new datagram evicts an old one.
func BenchmarkFlood(b *testing.B) {
	r := New(Options{})
	frag := payload(1480, 2)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Process(testKey(i), nil, 0, true, frag)
	}
	b.ReportMetric(float64(r.Stats().Evicted)/float64(b.N), "evicted/op")
}
