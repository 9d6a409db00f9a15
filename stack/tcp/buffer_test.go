package tcp

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestChunkBuf checks the buffer against a byte slice through random
// writes, peeks and reads: large ones that span chunks, then small ones
// that stay in (and outgrow) the small buffer.
func TestChunkBuf(t *testing.T) {
	for _, maxWrite := range []int{3 * chunkSize / 2, smallSize / 3} {
		testChunkBuf(t, maxWrite)
	}
}

func testChunkBuf(t *testing.T, maxWrite int) {
	var b chunkBuf
	var model []byte
	r := rand.New(rand.NewSource(1))
	smallSeen := false
	for i := 0; i < 2000; i++ {
		if r.Intn(2) == 0 {
			p := make([]byte, r.Intn(maxWrite))
			r.Read(p)
			b.write(p)
			model = append(model, p...)
		} else {
			off := 0
			if len(model) > 0 {
				off = r.Intn(len(model))
			}
			p := make([]byte, r.Intn(2*maxWrite))
			n := b.peek(off, p)
			if !bytes.Equal(p[:n], model[off:off+n]) || n != min(len(p), len(model)-off) && len(model) > 0 {
				t.Fatalf("peek(%d) mismatch", off)
			}
			k := r.Intn(len(model) + 1)
			q := make([]byte, k)
			if got := b.read(q); got != k || !bytes.Equal(q, model[:k]) {
				t.Fatalf("read %d: got %d", k, got)
			}
			model = model[k:]
		}
		if b.len() != len(model) {
			t.Fatalf("len %d, model %d", b.len(), len(model))
		}
		switch {
		case b.n == 0:
			if b.small != nil || len(b.chunks) != 0 {
				t.Fatalf("empty, but holds a small buffer (%v) or %d chunks", b.small != nil, len(b.chunks))
			}
		case b.small != nil:
			smallSeen = true
			if len(b.chunks) != 0 || b.head+b.n > smallSize {
				t.Fatalf("small buffer with %d chunks, %d bytes at head %d", len(b.chunks), b.n, b.head)
			}
		default:
			if need := (int(b.head) + int(b.n) + chunkSize - 1) / chunkSize; len(b.chunks) != need {
				t.Fatalf("holds %d chunks for %d bytes at head %d", len(b.chunks), b.n, b.head)
			}
		}
	}
	if maxWrite < smallSize && !smallSeen {
		t.Fatal("small writes never used the small buffer")
	}
	b.reset()
	if len(b.chunks) != 0 || b.small != nil {
		t.Fatal("reset kept memory")
	}
}
