package udp_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/udp"
)

// These tests drive the stack the way a receive loop does (Deliver for
// each frame of a batch, then EndBatch) from goroutines of their own, so
// they control exactly when a batch ends, or that it never does.

// bare is a stack with IPv4 and UDP and no driver: tests call Deliver and
// EndBatch themselves.
type bare struct {
	s *stack.Stack
	u *udp.UDP
}

func newBare(t testing.TB, o udp.Options) *bare {
	t.Helper()
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}})
	if err != nil {
		t.Fatal(err)
	}
	return &bare{s: s, u: udp.New(ipv4.New(s, ipv4.Options{}), o)}
}

func (b *bare) listen(t testing.TB, port uint16, o udp.SocketOptions) *udp.Conn {
	t.Helper()
	c, err := b.u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), port), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// producer plays one receive loop: its own scratch Packet, one queue.
type producer struct {
	s *stack.Stack
	q int
	p stack.Packet
}

func (p *producer) deliver(frame []byte) {
	p.p = stack.Packet{Frame: frame, Queue: p.q}
	p.s.Deliver(&p.p)
}

func (p *producer) end() { p.s.EndBatch(p.q) }

// payloadOff is where a UDP payload starts in the frames below.
const payloadOff = 14 + 20 + 8

// frameBuf builds a UDP frame to port with an n-byte payload and no UDP
// checksum, so that tests can write the payload in place.
func frameBuf(t testing.TB, sport, port uint16, n int) []byte {
	f := udpFrame(&testing.T{}, sport, port, make([]byte, n))
	f[payloadOff-2], f[payloadOff-1] = 0, 0
	return f
}

// past is a deadline that makes a read of an empty socket return at once.
var past = time.Unix(1, 0)

// TestQueueModel runs random sequences of deliveries, batch ends and
// reads against a model of the socket queue: FIFO order, RcvBuf
// accounting (payload plus 64 bytes each), publication at the batch end
// once the queue has ended a batch and at once before, truncation, the
// counters. Small RcvBufs make the ring wrap often.
func TestQueueModel(t *testing.T) {
	for _, tc := range []struct {
		rcvbuf, maxLen int
	}{
		{1000, 300},
		{4096, 1500},
		{64 << 10, 9000},
	} {
		t.Run(fmt.Sprintf("rcvbuf=%d", tc.rcvbuf), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.rcvbuf)))
			b := newBare(t, udp.Options{})
			c := b.listen(t, 9000, udp.SocketOptions{RcvBuf: tc.rcvbuf})
			c.SetReadDeadline(past)
			prod := &producer{s: b.s, q: 3}
			type rec struct {
				data []byte
				src  netip.AddrPort
			}
			var pending, published []rec
			used, drops, received := 0, 0, 0
			batched := false
			msgs := make([]udp.Message, 8)
			for step := 0; step < 20000; step++ {
				switch r := rng.IntN(10); {
				case r < 5: // a datagram
					n := rng.IntN(tc.maxLen + 1)
					sport := uint16(1 + rng.IntN(60000))
					f := frameBuf(t, sport, 9000, n)
					for i := 0; i < n; i++ {
						f[payloadOff+i] = byte(rng.Uint32())
					}
					prod.deliver(f)
					if used+n+64 > tc.rcvbuf {
						drops++
						break
					}
					used += n + 64
					r := rec{append([]byte(nil), f[payloadOff:payloadOff+n]...), netip.AddrPortFrom(peerIP, sport)}
					if batched {
						pending = append(pending, r)
					} else {
						published = append(published, r)
						received++
					}
				case r < 7: // the batch ends
					prod.end()
					batched = true
					published = append(published, pending...)
					received += len(pending)
					pending = pending[:0]
				default: // a read
					k := 1 + rng.IntN(len(msgs))
					bufLen := rng.IntN(tc.maxLen + 1)
					for i := range msgs[:k] {
						msgs[i] = udp.Message{Buf: make([]byte, bufLen)}
					}
					got, err := c.ReadBatch(msgs[:k])
					want := min(k, len(published))
					if want == 0 {
						if !errors.Is(err, os.ErrDeadlineExceeded) {
							t.Fatalf("step %d: read of an empty queue: %d, %v", step, got, err)
						}
						break
					}
					if err != nil || got != want {
						t.Fatalf("step %d: read %d, %v; want %d", step, got, err, want)
					}
					for i, m := range msgs[:got] {
						w := published[i]
						n := min(len(w.data), bufLen)
						if m.N != n || m.Truncated != (len(w.data) > bufLen) || m.Addr != w.src || string(m.Buf[:m.N]) != string(w.data[:n]) {
							t.Fatalf("step %d: message %d = {N:%d Truncated:%v Addr:%v}, want %d bytes from %v (buffer %d)",
								step, i, m.N, m.Truncated, m.Addr, len(w.data), w.src, bufLen)
						}
						used -= len(w.data) + 64
					}
					published = published[got:]
				}
				st := c.Stats()
				queuedLen := 0
				for _, r := range published {
					queuedLen += len(r.data) + 64
				}
				if st.Queued != len(published) || st.QueuedLen != queuedLen || st.Dropped != uint64(drops) || st.Received != uint64(received) {
					t.Fatalf("step %d: stats %+v; want queued %d (%d bytes), dropped %d, received %d",
						step, st, len(published), queuedLen, drops, received)
				}
				if us := b.u.Stats(); us.RcvbufErrors != uint64(drops) || us.InDatagrams != uint64(received) {
					t.Fatalf("step %d: udp stats %+v; want %d rcvbuf errors, %d in", step, us, drops, received)
				}
			}
			if drops == 0 || received == 0 {
				t.Fatalf("the sequence never dropped (%d) or never received (%d)", drops, received)
			}
		})
	}
}

// TestNoLossBelowRcvBuf fills a socket to exactly its RcvBuf in one batch
// and then past it: nothing below is lost, everything above is counted.
func TestNoLossBelowRcvBuf(t *testing.T) {
	const size, fits = 100, 50
	b := newBare(t, udp.Options{})
	c := b.listen(t, 9000, udp.SocketOptions{RcvBuf: fits * (size + 64)})
	prod := &producer{s: b.s, q: 0}
	prod.end() // a batched queue
	f := frameBuf(t, 7, 9000, size)
	for i := 0; i < fits+10; i++ {
		binary.BigEndian.PutUint32(f[payloadOff:], uint32(i))
		prod.deliver(f)
	}
	prod.end()
	if st, us := c.Stats(), b.u.Stats(); st.Queued != fits || st.Dropped != 10 || us.RcvbufErrors != 10 || us.InDatagrams != fits {
		t.Fatalf("socket %+v udp %+v", st, us)
	}
	c.SetReadDeadline(past)
	msgs := make([]udp.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	n, err := c.ReadBatch(msgs)
	if err != nil || n != fits {
		t.Fatalf("read %d, %v", n, err)
	}
	for i, m := range msgs[:n] {
		if seq := binary.BigEndian.Uint32(m.Buf); seq != uint32(i) || m.N != size {
			t.Fatalf("message %d: seq %d, %d bytes", i, seq, m.N)
		}
	}
	// The space is free again.
	prod.deliver(f)
	prod.end()
	if n, err := c.ReadBatch(msgs); n != 1 || err != nil {
		t.Fatalf("read after drain: %d, %v", n, err)
	}
}

// TestPublication covers the batch-end hook's absence: a queue that never
// ended a batch is published at once; a queue that has is published at
// its next batch end, and only then.
func TestPublication(t *testing.T) {
	b := newBare(t, udp.Options{})
	c := b.listen(t, 9000, udp.SocketOptions{})
	c.SetReadDeadline(past)
	msgs := make([]udp.Message, 8)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 64)
	}
	f := frameBuf(t, 7, 9000, 10)
	read := func() int {
		t.Helper()
		n, err := c.ReadBatch(msgs)
		if n == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v", err)
		}
		return n
	}
	for _, q := range []int{0, 5, -1, 1000} {
		p := &producer{s: b.s, q: q}
		p.deliver(f)
		p.deliver(f)
		if n := read(); n != 2 {
			t.Fatalf("queue %d without batch ends: read %d of 2 at once", q, n)
		}
	}
	p := &producer{s: b.s, q: 0}
	p.end()
	p.deliver(f)
	p.deliver(f)
	if n := read(); n != 0 {
		t.Fatalf("read %d before the batch ended", n)
	}
	if st := c.Stats(); st.Queued != 0 {
		t.Fatalf("stats before the batch end: %+v", st)
	}
	// Another queue's batch end publishes only its own.
	(&producer{s: b.s, q: 1}).end()
	if n := read(); n != 0 {
		t.Fatalf("read %d after another queue's batch end", n)
	}
	p.end()
	if n := read(); n != 2 {
		t.Fatalf("read %d of 2 after the batch end", n)
	}
	// Queue 5 has not ended a batch: still published at once.
	(&producer{s: b.s, q: 5}).deliver(f)
	if n := read(); n != 1 {
		t.Fatalf("read %d of 1 from an unbatched queue", n)
	}
}

// TestConcurrentProducers has batched loops, unbatched goroutines (two of
// them sharing a queue, as direct Deliver callers may) and readers at
// once, under the race detector: each producer's datagrams are read in
// order, none twice, and every one is either read or counted as dropped.
func TestConcurrentProducers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rcvbuf  int
		readers int
		spin    time.Duration
	}{
		{"roomy", 16 << 20, 1, 0},
		{"tight", 16 << 10, 1, -1},
		{"two-readers", 64 << 10, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const perProducer = 3000
			b := newBare(t, udp.Options{})
			c := b.listen(t, 9000, udp.SocketOptions{RcvBuf: tc.rcvbuf, ReadSpin: tc.spin})
			queues := []struct {
				q       int
				batched bool
			}{{0, true}, {1, true}, {2, true}, {5, false}, {100, false}, {100, false}}
			var wg sync.WaitGroup
			for id, pq := range queues {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := &producer{s: b.s, q: pq.q}
					rng := rand.New(rand.NewPCG(uint64(id), 2))
					f := frameBuf(t, uint16(id+1), 9000, 8+rng.IntN(200))
					for seq := 0; seq < perProducer; {
						for k := 1 + rng.IntN(64); k > 0 && seq < perProducer; k-- {
							binary.BigEndian.PutUint32(f[payloadOff:], uint32(id))
							binary.BigEndian.PutUint32(f[payloadOff+4:], uint32(seq))
							p.deliver(f)
							seq++
						}
						if pq.batched {
							p.end()
						}
					}
				}()
			}
			seen := make([][]bool, len(queues))
			for i := range seen {
				seen[i] = make([]bool, perProducer)
			}
			var mu sync.Mutex
			read := 0
			errc := make(chan error, tc.readers)
			var rwg sync.WaitGroup
			for r := 0; r < tc.readers; r++ {
				rwg.Add(1)
				go func() {
					defer rwg.Done()
					last := make([]int, len(queues))
					for i := range last {
						last[i] = -1
					}
					msgs := make([]udp.Message, 1+r*15)
					for i := range msgs {
						msgs[i].Buf = make([]byte, 2048)
					}
					for {
						n, err := c.ReadBatch(msgs)
						if err != nil {
							if !errors.Is(err, net.ErrClosed) {
								errc <- err
							}
							return
						}
						mu.Lock()
						for _, m := range msgs[:n] {
							id, seq := int(binary.BigEndian.Uint32(m.Buf)), int(binary.BigEndian.Uint32(m.Buf[4:]))
							if m.Addr.Port() != uint16(id+1) || seq <= last[id] || seen[id][seq] {
								mu.Unlock()
								errc <- fmt.Errorf("producer %d: seq %d after %d (from %v)", id, seq, last[id], m.Addr)
								return
							}
							last[id], seen[id][seq] = seq, true
							read++
						}
						mu.Unlock()
					}
				}()
			}
			stop := make(chan struct{})
			go func() { // Stats races with everything
				for {
					select {
					case <-stop:
						return
					default:
						c.Stats()
						b.u.Stats()
						time.Sleep(100 * time.Microsecond)
					}
				}
			}()
			wg.Wait()
			total := len(queues) * perProducer
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				r := read
				mu.Unlock()
				st := c.Stats()
				if r+int(st.Dropped) == total {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("read %d + dropped %d of %d; stats %+v", r, st.Dropped, total, st)
				}
				time.Sleep(time.Millisecond)
			}
			close(stop)
			c.Close()
			rwg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
			st, us := c.Stats(), b.u.Stats()
			if st.Received != uint64(read) || us.InDatagrams != uint64(read) || us.RcvbufErrors != st.Dropped || st.Queued != 0 {
				t.Errorf("read %d; socket %+v; udp %+v", read, st, us)
			}
			if tc.rcvbuf >= 16<<20 && st.Dropped != 0 {
				t.Errorf("dropped %d below RcvBuf", st.Dropped)
			}
		})
	}
}

// readerLoop reads c until it fails, sending what each read returned.
func readerLoop(c *udp.Conn, size int) (<-chan int, <-chan error) {
	ns, errc := make(chan int, 16), make(chan error, 1)
	go func() {
		msgs := make([]udp.Message, size)
		for i := range msgs {
			msgs[i].Buf = make([]byte, 64)
		}
		for {
			n, err := c.ReadBatch(msgs)
			if err != nil {
				errc <- err
				return
			}
			ns <- n
		}
	}()
	return ns, errc
}

// waitParked waits until n readers are parked on c.
func waitParked(t *testing.T, c *udp.Conn, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.ParkedReaders() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers parked, want %d", c.ParkedReaders(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestWakeOncePerBatch parks a reader and delivers batches of 64: the
// reader is not woken before the batch ends, and is woken once for it.
func TestWakeOncePerBatch(t *testing.T) {
	b := newBare(t, udp.Options{})
	c := b.listen(t, 9000, udp.SocketOptions{ReadSpin: -1})
	p := &producer{s: b.s, q: 0}
	p.end()
	ns, errc := readerLoop(c, 64)
	f := frameBuf(t, 7, 9000, 18)
	for batch := 1; batch <= 5; batch++ {
		waitParked(t, c, 1)
		for i := 0; i < 64; i++ {
			p.deliver(f)
		}
		select {
		case n := <-ns:
			t.Fatalf("batch %d: the reader returned %d before the batch ended", batch, n)
		case <-time.After(10 * time.Millisecond):
		}
		p.end()
		select {
		case n := <-ns:
			if n != 64 {
				t.Fatalf("batch %d: read %d of 64", batch, n)
			}
		case err := <-errc:
			t.Fatal(err)
		case <-time.After(5 * time.Second):
			t.Fatalf("batch %d: the reader was not woken", batch)
		}
		if w := c.Stats().Wakeups; w != uint64(batch) {
			t.Fatalf("after %d batches: %d wakeups", batch, w)
		}
	}
}

// TestReadWakeups: whatever a reader is doing (spinning or parked, with
// or without a deadline), Close and deadline changes reach it.
func TestReadWakeups(t *testing.T) {
	for _, spin := range []time.Duration{-1, time.Hour} {
		parked := spin < 0
		wait := func(t *testing.T, c *udp.Conn, n int) {
			if parked {
				waitParked(t, c, n)
			} else {
				time.Sleep(20 * time.Millisecond) // spinning
			}
		}
		t.Run(fmt.Sprintf("spin=%v", spin), func(t *testing.T) {
			t.Run("close", func(t *testing.T) {
				b := newBare(t, udp.Options{})
				c := b.listen(t, 9000, udp.SocketOptions{ReadSpin: spin})
				_, errc1 := readerLoop(c, 4)
				_, errc2 := readerLoop(c, 1)
				wait(t, c, 2)
				c.Close()
				for _, errc := range []<-chan error{errc1, errc2} {
					select {
					case err := <-errc:
						if !errors.Is(err, net.ErrClosed) {
							t.Fatalf("read after close: %v", err)
						}
					case <-time.After(5 * time.Second):
						t.Fatal("Close did not wake the reader")
					}
				}
			})
			t.Run("deadline-set", func(t *testing.T) {
				b := newBare(t, udp.Options{})
				c := b.listen(t, 9000, udp.SocketOptions{ReadSpin: spin})
				_, errc := readerLoop(c, 4)
				wait(t, c, 1)
				start := time.Now()
				c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
				select {
				case err := <-errc:
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Fatalf("read past the deadline: %v", err)
					}
					if d := time.Since(start); d < 10*time.Millisecond {
						t.Fatalf("returned after %v, before the deadline", d)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the new deadline did not reach the reader")
				}
			})
			t.Run("deadline-lifted", func(t *testing.T) {
				b := newBare(t, udp.Options{})
				c := b.listen(t, 9000, udp.SocketOptions{ReadSpin: spin})
				const dl = 300 * time.Millisecond
				start := time.Now()
				c.SetReadDeadline(start.Add(dl))
				ns, errc := readerLoop(c, 4)
				wait(t, c, 1)
				c.SetReadDeadline(time.Time{})
				if lift := time.Since(start); lift > dl/2 {
					t.Skipf("lifted the deadline only after %v: the machine is too busy for this test", lift)
				}
				select {
				case err := <-errc:
					t.Fatalf("the lifted deadline fired: %v", err)
				case <-time.After(2 * dl):
				}
				(&producer{s: b.s, q: 9}).deliver(frameBuf(t, 7, 9000, 1))
				select {
				case n := <-ns:
					if n != 1 {
						t.Fatalf("read %d", n)
					}
				case err := <-errc:
					t.Fatal(err)
				case <-time.After(5 * time.Second):
					t.Fatal("the reader was not woken by data")
				}
			})
		})
	}
}

// TestQueueModeZeroAllocs: neither side allocates per datagram, and a
// parked reader's wakeup (with a deadline, so its timer too) allocates
// nothing either.
func TestQueueModeZeroAllocs(t *testing.T) {
	b := newBare(t, udp.Options{})
	c := b.listen(t, 9000, udp.SocketOptions{ReadSpin: -1})
	f := frameBuf(t, 7, 9000, 18)
	msgs := make([]udp.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 64)
	}
	buf := make([]byte, 64)
	c.SetReadDeadline(past)
	for _, tc := range []struct {
		name    string
		q       int
		batched bool
	}{{"unbatched", 7, false}, {"overflow-lane", 500, false}, {"batched", 0, true}} {
		p := &producer{s: b.s, q: tc.q}
		end := func() {
			if tc.batched {
				p.end()
			}
		}
		end()
		allocs := testing.AllocsPerRun(100, func() {
			for i := 0; i < 64; i++ {
				p.deliver(f)
			}
			end()
			if n, err := c.ReadBatch(msgs); n != 64 || err != nil {
				t.Fatalf("ReadBatch %d, %v", n, err)
			}
			p.deliver(f)
			end()
			if n, _, err := c.ReadFromUDPAddrPort(buf); n != 18 || err != nil {
				t.Fatalf("ReadFromUDPAddrPort %d, %v", n, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per 65 datagrams", tc.name, allocs)
		}
	}

	c.SetReadDeadline(time.Now().Add(time.Hour))
	p := &producer{s: b.s, q: 0}
	kick, done := make(chan struct{}), make(chan struct{})
	defer close(kick)
	go func() {
		for range kick {
			for c.ParkedReaders() == 0 {
				time.Sleep(50 * time.Microsecond)
			}
			for i := 0; i < 64; i++ {
				p.deliver(f)
			}
			p.end()
			done <- struct{}{}
		}
	}()
	w0 := c.Stats().Wakeups
	allocs := testing.AllocsPerRun(50, func() {
		kick <- struct{}{}
		if n, err := c.ReadBatch(msgs); n != 64 || err != nil {
			t.Fatalf("ReadBatch %d, %v", n, err)
		}
		<-done
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per parked read", allocs)
	}
	if w := c.Stats().Wakeups - w0; w != 51 {
		t.Errorf("%d wakeups in 51 parked reads", w)
	}
}
