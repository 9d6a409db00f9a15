package afxdp

import (
	"fmt"
	"testing"
	"time"

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

// BenchmarkLoopIdle is the loop's idle pass on an empty queue, with
// IdleSpin negative so that it never sleeps: b.N passes, counted from
// Stats by the benchmark's goroutine.
func BenchmarkLoopIdle(b *testing.B) {
	q, _ := newMemQueue(b, Options{})
	p := poller.New(q, func(*poller.Batch) {}, poller.Options{IdleSpin: -1, PollTimeout: time.Hour})
	b.ReportAllocs()
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	for p.Stats().IdlePasses < uint64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	n := p.Stats().IdlePasses
	if err := p.Stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/pass")
}
