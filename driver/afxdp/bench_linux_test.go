package afxdp

import (
	"fmt"
	"testing"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/poller"
)

// batchSizes are the frames the fake kernel posts before each round: a
// full NAPI weight, and the small batches of a lightly loaded queue, where
// the per-round cost dominates.
var batchSizes = []int{1, 4, 64}

// BenchmarkPollRound runs one poller round over the real receive path
// (fill ring, rx ring, UMEM ledger, Queue) in plain memory: the kernel
// posts n frames, Poll refills, receives, hands them to an empty handler
// and releases them.
func BenchmarkPollRound(b *testing.B) {
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			q, k := newMemQueue(b, Options{})
			p := poller.New(q, func(*poller.Batch) {}, poller.Options{})
			frames := 0
			b.ReportAllocs()
			for b.Loop() {
				k.deliver(n)
				frames += p.Poll()
			}
			if frames != b.N*n {
				b.Fatalf("polled %d frames, want %d", frames, b.N*n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
		})
	}
	// An idle pass: the rx ring is empty.
	b.Run("idle", func(b *testing.B) {
		q, _ := newMemQueue(b, Options{})
		p := poller.New(q, func(*poller.Batch) {}, poller.Options{})
		b.ReportAllocs()
		for b.Loop() {
			if p.Poll() != 0 {
				b.Fatal("frames on an idle queue")
			}
		}
	})
}

// BenchmarkReceiveRelease is the driver alone: Receive, Release and
// Refill of a batch, without the poller.
func BenchmarkReceiveRelease(b *testing.B) {
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			q, k := newMemQueue(b, Options{})
			fr := make([]driver.Frame, n)
			frames := 0
			b.ReportAllocs()
			for b.Loop() {
				k.deliver(n)
				got := q.Receive(fr)
				q.Release(fr[:got])
				q.Refill()
				frames += got
			}
			if frames != b.N*n {
				b.Fatalf("received %d frames, want %d", frames, b.N*n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
		})
	}
}

// The receive path allocates nothing per frame or per round.
func TestPollRoundZeroAllocs(t *testing.T) {
	q, k := newMemQueue(t, Options{})
	// No time limit: a slow machine (or -race) must not end a round early.
	p := poller.New(q, func(*poller.Batch) {}, poller.Options{TimeLimit: time.Hour})
	for _, n := range []int{0, 1, 64, 300} {
		allocs := testing.AllocsPerRun(100, func() {
			k.deliver(n)
			if got := p.Poll(); got != n {
				t.Fatalf("polled %d frames, want %d", got, n)
			}
		})
		if allocs != 0 {
			t.Errorf("batch %d: %v allocations per round, want 0", n, allocs)
		}
	}
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
}
