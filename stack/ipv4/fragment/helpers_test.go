package fragment

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// piece is one fragment to feed.
type piece struct {
	off  int
	more bool
	data []byte
}

func (p piece) end() int { return p.off + len(p.data) }

// testKey returns a distinct key for id.
func testKey(id int) Key {
	return Key{
		Src:   [4]byte{192, 0, 2, byte(id >> 16)},
		Dst:   [4]byte{198, 51, 100, 1},
		ID:    uint16(id),
		Proto: 17,
	}
}

// payload returns n bytes that differ between seeds and positions.
func payload(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// split cuts p into fragments of size bytes (a multiple of 8), the last
// one final.
func split(p []byte, size int) []piece {
	var out []piece
	for off := 0; ; off += size {
		end := min(off+size, len(p))
		out = append(out, piece{off: off, more: end < len(p), data: p[off:end]})
		if end == len(p) {
			return out
		}
	}
}

// testHeader returns a 20-byte IPv4-like header that records the fragment
// offset, so a test can tell which fragment's header was kept.
func testHeader(off int, more bool) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	v := uint16(off / 8)
	if more {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], v)
	return h
}

func reversed(ps []piece) []piece {
	out := make([]piece, len(ps))
	for i, p := range ps {
		out[len(ps)-1-i] = p
	}
	return out
}

func shuffled(ps []piece, seed uint64) []piece {
	out := append([]piece(nil), ps...)
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// result is what the last call to Process returned.
type result struct {
	payload, hdr []byte
	done         bool
	doneAt       int // index of the piece that completed, or -1
}

// feed passes every piece to r, copying each payload into a scratch buffer
// that it then clobbers, to prove Process copies.
func feed(r *Reassembler, k Key, ps []piece) result {
	res := result{doneAt: -1}
	scratch := make([]byte, MaxPayload+100)
	for i, p := range ps {
		buf := scratch[:len(p.data)]
		copy(buf, p.data)
		hdr := testHeader(p.off, p.more)
		out, h, done := r.Process(k, hdr, uint16(p.off), p.more, buf)
		for j := range buf {
			buf[j] ^= 0xff
		}
		for j := range hdr {
			hdr[j] ^= 0xff
		}
		if done {
			res = result{payload: out, hdr: h, done: true, doneAt: i}
		}
	}
	return res
}
