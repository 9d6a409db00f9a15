package tcp

import "sync"

// chunkSize is the unit a connection's buffers grow and shrink by, so a
// connection holds memory for what it buffers, not for its limit: a
// thousand idle connections cost little, a fast one grows to its limit.
const chunkSize = 64 << 10

// chunkFree keeps released chunks for reuse. Unlike a sync.Pool it is
// neither emptied by the garbage collector nor split per P, so a steady
// stream allocates nothing at all, whichever thread the poller runs on; it
// keeps at most maxFreeChunks (4 MiB) for the next burst.
var chunkFree struct {
	sync.Mutex
	c []*[chunkSize]byte
}

const maxFreeChunks = 64

func getChunk() *[chunkSize]byte {
	chunkFree.Lock()
	defer chunkFree.Unlock()
	if n := len(chunkFree.c); n > 0 {
		c := chunkFree.c[n-1]
		chunkFree.c[n-1] = nil
		chunkFree.c = chunkFree.c[:n-1]
		return c
	}
	return new([chunkSize]byte)
}

func putChunk(c *[chunkSize]byte) {
	chunkFree.Lock()
	defer chunkFree.Unlock()
	if len(chunkFree.c) < maxFreeChunks {
		chunkFree.c = append(chunkFree.c, c)
	}
}

// chunkBuf is a byte FIFO made of pooled chunks. Not safe for concurrent
// use: the connection's lock guards it.
type chunkBuf struct {
	chunks []*[chunkSize]byte
	// first backs chunks while it holds one chunk, the common case, so
	// that a buffer's first byte allocates no slice.
	first [1]*[chunkSize]byte
	head  int // offset of the first byte in chunks[0]
	n     int // bytes held
}

func (b *chunkBuf) len() int { return b.n }

// write appends p and returns how many bytes it took (all of them: the
// caller enforces the limit).
func (b *chunkBuf) write(p []byte) int {
	w := 0
	for w < len(p) {
		end := b.head + b.n
		ci, off := end/chunkSize, end%chunkSize
		if ci == len(b.chunks) {
			if b.chunks == nil {
				b.chunks = b.first[:0]
			}
			b.chunks = append(b.chunks, getChunk())
		}
		k := copy(b.chunks[ci][off:], p[w:])
		w += k
		b.n += k
	}
	return w
}

// read copies up to len(p) bytes from the front and removes them.
func (b *chunkBuf) read(p []byte) int {
	n := b.peek(0, p)
	b.discard(n)
	return n
}

// peek copies up to len(p) bytes starting off bytes from the front.
func (b *chunkBuf) peek(off int, p []byte) int {
	if off >= b.n {
		return 0
	}
	want := min(len(p), b.n-off)
	pos := b.head + off
	r := 0
	for r < want {
		ci, co := pos/chunkSize, pos%chunkSize
		k := copy(p[r:want], b.chunks[ci][co:])
		r += k
		pos += k
	}
	return r
}

// discard drops n bytes from the front, returning emptied chunks to the
// pool.
func (b *chunkBuf) discard(n int) {
	n = min(n, b.n)
	b.head += n
	b.n -= n
	drop := b.head / chunkSize
	if b.n == 0 {
		drop = len(b.chunks)
		b.head = 0
	}
	if drop > 0 {
		for i := 0; i < drop; i++ {
			putChunk(b.chunks[i])
			b.chunks[i] = nil
		}
		b.chunks = append(b.chunks[:0], b.chunks[drop:]...)
		b.head %= chunkSize
		if b.n == 0 {
			b.head = 0
		}
	}
}

// reset frees everything.
func (b *chunkBuf) reset() { b.discard(b.n) }
