package afxdp

import (
	"fmt"
	"testing"

	"github.com/rxpath/rxpath/poller"
)

// BenchmarkLoop runs the poller's own loop (Run) over the real receive
// path in plain memory, one batch of n frames per round: Weight and Budget
// are n, and the handler posts the next round's frames, as a NIC would
// while the poller works. What a round costs here is what it costs a
// running poller: unlike BenchmarkPollRound (Poll called directly, which
// reads the clock and publishes on every call), the loop publishes its
// counters about once a millisecond. The handler closes the queue after
// b.N batches, which ends the loop. The fake kernel's work is in the
// numbers too: a few ns per frame.
func BenchmarkLoop(b *testing.B) {
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			q, k := newMemQueue(b, Options{})
			batches := 0
			p := poller.New(q, func(*poller.Batch) {
				if batches++; batches == b.N {
					b.StopTimer() // Run calls the handler on this goroutine
					q.Close()
					return
				}
				k.deliver(n)
			}, poller.Options{Weight: n, Budget: n})
			k.deliver(n)
			b.ReportAllocs()
			b.ResetTimer()
			if err := p.Run(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if s := p.Stats(); s.Processed != uint64(b.N*n) {
				b.Fatalf("processed %d frames, want %d", s.Processed, b.N*n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
		})
	}
}
