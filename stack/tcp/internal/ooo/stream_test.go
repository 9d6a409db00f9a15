package ooo

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// TestRandomStream sends a 1 MiB stream as random segments (random offsets
// and lengths, reordered, duplicated, overlapping, some entirely old) to a
// simulated connection, starting near the 2^32 wrap, and checks that the
// reassembled stream is the original: every byte delivered exactly once, in
// order. The connection delivers in-order segments itself and then pops the
// queue, sometimes only on the next segment, as a lazy caller might.
func TestRandomStream(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		start  seqnum.Value
		maxLen int
		window int
	}{
		{"roomy", 4 << 20, 1<<32 - 300_000, 3000, 256 << 10},
		{"tight limit", 32 << 10, 1<<32 - 700_000, 3000, 256 << 10},
		{"small segments", 256 << 10, 1<<32 - 10, 40, 16 << 10},
		{"many holes", 4 << 20, 1<<32 - 100_000, 300, 1 << 20},
		{"jumbo segments", 1 << 20, 1<<32 - 65536, 100_000, 512 << 10},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			stream := make([]byte, 1<<20)
			for j := range stream {
				stream[j] = byte(r.Uint32())
			}
			q := New(tt.limit)
			buf := make([]byte, tt.maxLen)
			out := make([]byte, 0, len(stream))
			rcv := 0    // offset of rcvNxt in the stream
			popped := 0 // bytes the queue delivered
			maxRanges := 0
			seq := func(off int) seqnum.Value { return tt.start.Add(seqnum.Size(off)) }
			popTo := func() {
				nxt := q.Pop(seq(rcv), func(c []byte) {
					out = append(out, c...)
					popped += len(c)
				})
				rcv += int(seq(rcv).Size(nxt))
			}
			for iter := 0; rcv < len(stream); iter++ {
				if iter > 2_000_000 {
					t.Fatalf("no progress: rcvNxt at %d of %d", rcv, len(stream))
				}
				var off int
				switch p := r.IntN(100); {
				case p < 5: // old or straddling duplicate
					off = max(0, rcv-r.IntN(5000))
				case p < 8: // the next in-order segment
					off = rcv
				default: // ahead, mostly not far
					off = rcv + min(int(r.ExpFloat64()*float64(tt.window)/8), tt.window)
				}
				n := 1 + r.IntN(tt.maxLen)
				if r.IntN(4) == 0 {
					n = 1 + r.IntN(8)
				}
				end := min(off+n, len(stream))
				if off >= end {
					continue
				}
				if off <= rcv && end > rcv {
					// In order: the connection delivers it itself.
					out = append(out, stream[rcv:end]...)
					rcv = end
					if r.IntN(5) != 0 {
						popTo()
					}
				} else {
					seg := buf[:end-off]
					copy(seg, stream[off:end])
					before := q.Bytes()
					stored, dropped := q.Insert(seq(rcv), seq(off), seg)
					if stored < 0 || dropped < 0 || stored+dropped > len(seg) {
						t.Fatalf("Insert(%d, %d, %d bytes) = (%d, %d)", rcv, off, len(seg), stored, dropped)
					}
					if pruned := before + stored - q.Bytes(); pruned < 0 {
						t.Fatalf("Insert: negative eviction %d", pruned)
					}
					// The queue must have copied: scribble over the buffer.
					for j := range seg {
						seg[j] ^= 0xa5
					}
					if r.IntN(50) == 0 {
						popTo()
					}
				}
				if len(out) != rcv {
					t.Fatalf("delivered %d bytes, rcvNxt at %d", len(out), rcv)
				}
				maxRanges = max(maxRanges, q.Ranges())
				if q.Mem() > tt.limit {
					t.Fatalf("Mem() = %d over limit %d", q.Mem(), tt.limit)
				}
				if iter%512 == 0 {
					if err := checkInvariants(q); err != nil {
						t.Fatalf("iteration %d: %v", iter, err)
					}
				}
			}
			t.Logf("%d of %d bytes came out of the queue; up to %d ranges held", popped, len(stream), maxRanges)
			if popped < len(stream)/2 {
				t.Errorf("only %d bytes came out of the queue: the test barely exercises it", popped)
			}
			if !bytes.Equal(out, stream) {
				for j := range out {
					if out[j] != stream[j] {
						t.Fatalf("reassembled stream differs from byte %d", j)
					}
				}
			}
			if err := checkInvariants(q); err != nil {
				t.Fatal(err)
			}
			if q.Pop(seq(rcv), func([]byte) { t.Fatal("delivered past the end of the stream") }); !q.Empty() {
				t.Fatalf("queue holds %d bytes after the whole stream", q.Bytes())
			}
		})
	}
}
