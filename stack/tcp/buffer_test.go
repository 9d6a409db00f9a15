package tcp

import (
	"bytes"
	"math/rand"
	"testing"
)

func TestChunkBuf(t *testing.T) {
	var b chunkBuf
	var model []byte
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		if r.Intn(2) == 0 {
			p := make([]byte, r.Intn(3*chunkSize/2))
			r.Read(p)
			b.write(p)
			model = append(model, p...)
		} else {
			off := 0
			if len(model) > 0 {
				off = r.Intn(len(model))
			}
			p := make([]byte, r.Intn(chunkSize*2))
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
		if need := (b.head + b.n + chunkSize - 1) / chunkSize; b.n > 0 && len(b.chunks) != need {
			t.Fatalf("holds %d chunks for %d bytes at head %d", len(b.chunks), b.n, b.head)
		}
	}
	b.reset()
	if len(b.chunks) != 0 {
		t.Fatal("reset kept chunks")
	}
}
