package ooo

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// benchStart puts the benchmarks' sequence numbers across the 2^32 wrap.
const benchStart = seqnum.Value(1<<32 - 1<<20)

// fillRanges returns a queue holding n ranges of 512 bytes, stride bytes
// apart, the first one stride bytes beyond rcvNxt = benchStart.
func fillRanges(q *Queue, n, stride int, seg []byte) {
	q.Reset()
	for i := 1; i <= n; i++ {
		q.Insert(benchStart, benchStart.Add(seqnum.Size(i*stride)), seg)
	}
}

// BenchmarkInsert measures Insert against the number of held ranges. The
// cost should grow with log(ranges), not with ranges.
//
//   - gap: a 256-byte segment lands alone in the middle of a hole, the
//     general out-of-order case. The queue is rebuilt (untimed) after every
//     hole has been used once, so it holds between n and 2n ranges.
//   - slide: a steady state with n holes: each segment opens a new range
//     above the others, and the connection fills the lowest hole and pops
//     the range above it.
//   - duplicate: a retransmission of a random held range: the lookup and
//     the SACK refresh, no copy.
func BenchmarkInsert(b *testing.B) {
	seg := make([]byte, 512)
	for _, n := range []int{16, 1024} {
		b.Run(fmt.Sprintf("gap/ranges=%d", n), func(b *testing.B) {
			const stride = 4096
			q := New(1 << 30)
			order := rand.New(rand.NewPCG(1, uint64(n))).Perm(n)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				j := i % n
				if j == 0 {
					b.StopTimer()
					fillRanges(q, n, stride, seg)
					b.StartTimer()
				}
				at := benchStart.Add(seqnum.Size((order[j]+1)*stride + 2048))
				q.Insert(benchStart, at, seg[:256])
			}
			b.ReportMetric(float64(n), "ranges")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/insert")
		})
		b.Run(fmt.Sprintf("slide/ranges=%d", n), func(b *testing.B) {
			const stride = 2048
			q := New(1 << 30)
			fillRanges(q, n, stride, seg)
			rcvNxt, top := benchStart, benchStart.Add(seqnum.Size(n*stride))
			b.ReportAllocs()
			for b.Loop() {
				top = top.Add(stride)
				q.Insert(rcvNxt, top, seg)
				rcvNxt = q.Pop(rcvNxt.Add(stride), func([]byte) {})
			}
			b.ReportMetric(float64(n), "ranges")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/insert")
		})
		b.Run(fmt.Sprintf("duplicate/ranges=%d", n), func(b *testing.B) {
			const stride = 2048
			q := New(1 << 30)
			fillRanges(q, n, stride, seg)
			r := rand.New(rand.NewPCG(2, uint64(n)))
			b.ReportAllocs()
			for b.Loop() {
				at := benchStart.Add(seqnum.Size((1 + r.IntN(n)) * stride))
				q.Insert(benchStart, at, seg)
			}
			b.ReportMetric(float64(n), "ranges")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/insert")
		})
	}
}

// BenchmarkReassemble measures the common case end to end: one hole, then a
// run of MSS-sized segments appended to one range, then the hole filled and
// the range popped.
func BenchmarkReassemble(b *testing.B) {
	const mss, burst = 1460, 64
	seg := make([]byte, mss)
	q := New(1 << 22)
	rcvNxt := benchStart
	b.ReportAllocs()
	b.SetBytes(mss * burst)
	for b.Loop() {
		for i := 1; i < burst; i++ {
			q.Insert(rcvNxt, rcvNxt.Add(seqnum.Size(i*mss)), seg)
		}
		rcvNxt = q.Pop(rcvNxt.Add(mss), func([]byte) {})
	}
}
