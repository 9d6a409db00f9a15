package tcp

import "sync"

// chunkSize is the unit a connection's buffers grow and shrink by, so a
// connection holds memory for what it buffers, not for its limit: a
// thousand idle connections cost little, a fast one grows to its limit.
const chunkSize = 64 << 10

// smallSize is the buffer a connection's first bytes go into while they
// fit: a request or a response of a few hundred bytes, the common case of
// a connection that carries one exchange, takes 2 KiB rather than a 64 KiB
// chunk (whose allocation and zeroing cost more than the exchange's
// segments when a server turns over connections faster than the free list
// holds chunks). Like Linux's skbs, memory follows what is buffered.
const smallSize = 2 << 10

// freeList keeps released buffers for reuse. Unlike a sync.Pool it is
// neither emptied by the garbage collector nor split per P, so a steady
// stream allocates nothing at all, whichever thread the poller runs on; it
// keeps at most max buffers for the next burst.
type freeList[T any] struct {
	mu  sync.Mutex
	max int
	c   []*T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.c); n > 0 {
		c := f.c[n-1]
		f.c[n-1] = nil
		f.c = f.c[:n-1]
		return c
	}
	return new(T)
}

func (f *freeList[T]) put(c *T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.c == nil {
		// Full size at once: growing it later would allocate on the
		// data path (TestInOrderZeroAllocs).
		f.c = make([]*T, 0, f.max)
	}
	if len(f.c) < f.max {
		f.c = append(f.c, c)
	}
}

// The free lists keep at most 4 MiB of chunks and 512 KiB of small
// buffers: room for a few hundred connections each holding a request
// and a response.
var (
	chunkFree = freeList[[chunkSize]byte]{max: 64}
	smallFree = freeList[[smallSize]byte]{max: 256}
)

// chunkBuf is a byte FIFO made of pooled chunks. Not safe for concurrent
// use: the connection's lock guards it.
type chunkBuf struct {
	// small holds the bytes instead of chunks while they fit in it
	// (chunks is nil then); head counts from its start. A buffer that
	// outgrew it once (chunks is no longer nil) goes to chunks from then
	// on: a stream refills its buffer from empty every batch and would pay
	// the move each time. (No flag for it: a Conn holds two buffers, and
	// 16 more bytes would take it into the next size class, 128 bytes a
	// connection.)
	small  *[smallSize]byte
	chunks []*[chunkSize]byte
	// first backs chunks while it holds one chunk, the common case, so
	// that a buffer's first byte allocates no slice.
	first [1]*[chunkSize]byte
	// head is the offset of the first byte in small or chunks[0], n the
	// bytes held: int32 keeps a Conn, which holds two buffers, in its
	// allocation size class (a buffer holds at most a window).
	head, n int32
}

func (b *chunkBuf) len() int { return int(b.n) }

// write appends p and returns how many bytes it took (all of them: the
// caller enforces the limit).
func (b *chunkBuf) write(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	head, n := int(b.head), int(b.n)
	if b.chunks == nil && n+len(p) <= smallSize {
		if b.small == nil {
			b.small = smallFree.get()
		} else if head+n+len(p) > smallSize {
			copy(b.small[:], b.small[head:head+n])
			head = 0
		}
		copy(b.small[head+n:], p)
		b.head, b.n = int32(head), int32(n+len(p))
		return len(p)
	}
	if b.small != nil {
		// Outgrown: the bytes move to the front of a chunk.
		c := chunkFree.get()
		copy(c[:], b.small[head:head+n])
		smallFree.put(b.small)
		b.small, head = nil, 0
		b.chunks = append(b.first[:0], c)
	}
	w := 0
	for w < len(p) {
		end := head + n
		ci, off := end/chunkSize, end%chunkSize
		if ci == len(b.chunks) {
			if b.chunks == nil {
				b.chunks = b.first[:0]
			}
			b.chunks = append(b.chunks, chunkFree.get())
		}
		k := copy(b.chunks[ci][off:], p[w:])
		w += k
		n += k
	}
	b.head, b.n = int32(head), int32(n)
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
	n := int(b.n)
	if off >= n {
		return 0
	}
	want := min(len(p), n-off)
	pos := int(b.head) + off
	if b.small != nil {
		return copy(p[:want], b.small[pos:])
	}
	r := 0
	for r < want {
		ci, co := pos/chunkSize, pos%chunkSize
		k := copy(p[r:want], b.chunks[ci][co:])
		r += k
		pos += k
	}
	return r
}

// discard drops k bytes from the front, returning emptied chunks to the
// pool.
func (b *chunkBuf) discard(k int) {
	head, n := int(b.head), int(b.n)
	k = min(k, n)
	head += k
	n -= k
	if b.small != nil {
		if n == 0 {
			smallFree.put(b.small)
			b.small, head = nil, 0
		}
		b.head, b.n = int32(head), int32(n)
		return
	}
	drop := head / chunkSize
	if n == 0 {
		drop = len(b.chunks)
		head = 0
	}
	if drop > 0 {
		for i := 0; i < drop; i++ {
			chunkFree.put(b.chunks[i])
			b.chunks[i] = nil
		}
		b.chunks = append(b.chunks[:0], b.chunks[drop:]...)
		head %= chunkSize
		if n == 0 {
			head = 0
		}
	}
	b.head, b.n = int32(head), int32(n)
}

// reset frees everything.
func (b *chunkBuf) reset() { b.discard(int(b.n)) }
