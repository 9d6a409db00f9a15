package ooo

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// TestZeroAllocs checks that, once its pools are warm, the queue allocates
// nothing per segment: ranges, chunks and tree nodes are all recycled.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	seg := make([]byte, 1460)
	tests := []struct {
		name string
		fn   func(q *Queue, rcvNxt seqnum.Value) seqnum.Value
	}{
		{"reorder and pop", func(q *Queue, rcvNxt seqnum.Value) seqnum.Value {
			// Out of order with a duplicate and an overlap, then the hole.
			for _, i := range []int{5, 3, 4, 1, 3, 2} {
				q.Insert(rcvNxt, rcvNxt.Add(seqnum.Size(i*1000)), seg)
			}
			return q.Pop(rcvNxt.Add(1000), func([]byte) {})
		}},
		{"prune", func(q *Queue, rcvNxt seqnum.Value) seqnum.Value {
			// High data, then low data that evicts it.
			for i := 40; i < 50; i++ {
				q.Insert(rcvNxt, rcvNxt.Add(seqnum.Size(i*2000)), seg)
			}
			for i := 1; i < 10; i++ {
				q.Insert(rcvNxt, rcvNxt.Add(seqnum.Size(i*2000)), seg)
			}
			var sack [4]Block
			q.SACK(sack[:])
			q.Reset()
			return rcvNxt.Add(100)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := New(8 * (1460 + RangeOverhead))
			rcvNxt := seqnum.Value(1<<32 - 10000)
			for range 100 {
				rcvNxt = tt.fn(q, rcvNxt)
			}
			if n := testing.AllocsPerRun(1000, func() { rcvNxt = tt.fn(q, rcvNxt) }); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
		})
	}
}

// TestHeapBound checks that the heap the queue really uses stays within a
// small factor of Mem whatever the segment sizes, so the limit bounds
// memory: a full 4 MiB queue of one-byte ranges, of sizes just past a size
// class, of MSS-sized segments.
func TestHeapBound(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation")
	}
	const limit = 4 << 20
	for _, tc := range []struct{ seg, gap int }{{1, 1}, {1, 3000}, {65, 1}, {1460, 1}, {2049, 1}, {70000, 1}} {
		t.Run(fmt.Sprintf("seg=%d/gap=%d", tc.seg, tc.gap), func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.GC() // twice: the first only moves pooled items to the victim cache
			runtime.ReadMemStats(&before)
			q := New(limit)
			data := make([]byte, tc.seg)
			for i := 1; ; i++ {
				if s, _ := q.Insert(0, seqnum.Value(i*(tc.seg+tc.gap)), data); s < tc.seg {
					break
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			runtime.KeepAlive(q)
			ratio := float64(heap) / float64(q.Mem())
			t.Logf("Mem %d, heap %d: %.2fx", q.Mem(), heap, ratio)
			if ratio > 4 {
				t.Errorf("queue uses %d bytes of heap for Mem %d (%.2fx), want at most 4x", heap, q.Mem(), ratio)
			}
		})
	}
}
