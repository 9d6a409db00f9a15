package tcp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/stack/tcp"
)

// batched establishes a connection one segment at a time, then has the
// receive loop of queue 0 end a batch, so that from then on it batches.
func batched(t *testing.T) (*harness, *conn) {
	t.Helper()
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, true)
	h.s.EndBatch(0)
	return h, pc
}

// TestBatchOneACK: in-order segments of one connection in a poll batch
// earn no ACK until the batch ends, then exactly one that covers them
// all, and a reader blocked meanwhile is woken with all the batch's bytes.
func TestBatchOneACK(t *testing.T) {
	h, pc := batched(t)
	payload := bytes.Repeat([]byte{'x'}, 1448)
	got := make(chan int, 1)
	go func() {
		b := make([]byte, 64<<10)
		n, _ := pc.c.Read(b)
		got <- n
	}()
	for i := 0; i < 10; i++ {
		pc.ack("", payload...)
	}
	h.none()
	h.s.EndBatch(0)
	select {
	case n := <-got:
		if n == 0 || n > 10*1448 {
			t.Fatalf("reader got %d bytes", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader not woken at the end of the batch")
	}
	// The batch's ACK, then perhaps the window update of the reader's
	// drain (maybeWindowUpdate).
	segs := h.out()
	if len(segs) == 0 || len(segs) > 2 || segs[0].Ack != pc.sndNxt || len(segs[0].Payload) != 0 {
		t.Fatalf("batch end sent %v, want one ACK of %d (and a window update)", describe(segs), pc.sndNxt)
	}
	if len(segs) == 2 && (segs[1].Ack != pc.sndNxt || segs[1].Window <= segs[0].Window) {
		t.Fatalf("second segment %v is not a window update", describe(segs))
	}
	if st := h.tcp.Stats(); st.DelayedACKs != 0 {
		t.Fatalf("delayed ACKs %d, want 0", st.DelayedACKs)
	}
}

// TestBatchHoleDupACKs: a segment beyond a hole earns its own
// duplicate ACK with a SACK (the peer's loss recovery counts them), sent
// with the batch's transmits at its end, and the segment that fills the
// hole one ACK for the batch.
func TestBatchHoleDupACKs(t *testing.T) {
	h, pc := batched(t)
	p := bytes.Repeat([]byte{'y'}, 1000)
	start := pc.sndNxt
	pc.raw(start+1000, pc.rcvNxt, "A", p) // beyond the hole
	pc.raw(start+3000, pc.rcvNxt, "A", p) // beyond a second one
	pc.raw(start, pc.rcvNxt, "A", p)      // fills the first
	h.none()
	h.s.EndBatch(0)
	segs := h.out()
	if len(segs) != 3 {
		t.Fatalf("batch end sent %v, want two duplicate ACKs and one ACK", describe(segs))
	}
	for i, want := range []int{1, 2} {
		if d := segs[i]; d.Ack != start || len(sackBlocks(d)) != want {
			t.Fatalf("hole %d: sent %v sack %v, want a dup ACK of %d with %d SACK blocks", i, describe(segs[i:i+1]), sackBlocks(d), start, want)
		}
	}
	if a := segs[2]; a.Ack != start+2000 || len(sackBlocks(a)) != 1 {
		t.Fatalf("gap filled: sent %v, want an ACK of %d with the second hole's SACK", describe(segs[2:]), start+2000)
	}
	pc.sndNxt = start + 2000
	if b := read(t, pc.c, 2000); len(b) != 2000 {
		t.Fatalf("read %d bytes", len(b))
	}
}

// TestBatchDelayedACK: a single small segment in a batch waits for the
// delayed-ACK timer, which fires once; a later batch's ACK clears it.
func TestBatchDelayedACK(t *testing.T) {
	h, pc := batched(t)
	pc.ack("P", []byte("GET /")...)
	h.s.EndBatch(0)
	h.none()
	h.advance(20 * time.Millisecond)
	h.none()
	h.advance(25 * time.Millisecond)
	if a := h.one(); !a.ACK || a.Ack != pc.sndNxt {
		t.Fatalf("delayed ACK: %v, want ACK of %d", describe([]*layers.TCP{a}), pc.sndNxt)
	}
	if st := h.tcp.Stats(); st.DelayedACKs != 1 {
		t.Fatalf("delayed ACKs %d, want 1", st.DelayedACKs)
	}
	// The next small segment's wait starts afresh and is answered by a
	// reply, after which the timer finds nothing to send.
	pc.ack("P", []byte("GET /")...)
	h.s.EndBatch(0)
	h.none()
	if _, err := pc.c.Write([]byte("200")); err != nil {
		t.Fatal(err)
	}
	if r := h.one(); r.Ack != pc.sndNxt || string(r.Payload) != "200" {
		t.Fatalf("reply %v", describe([]*layers.TCP{r}))
	}
	h.advance(50 * time.Millisecond)
	h.none()
	if st := h.tcp.Stats(); st.DelayedACKs != 1 {
		t.Fatalf("delayed ACKs %d, want still 1", st.DelayedACKs)
	}
}

// TestBatchTwoConns: segments of two connections interleaved in a batch
// each get one ACK at its end.
func TestBatchTwoConns(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	a := h.establishFrom(l, 40000, 80, true)
	b := h.establishFrom(l, 40001, 80, true)
	h.s.EndBatch(0)
	p := bytes.Repeat([]byte{'z'}, 1448)
	for i := 0; i < 3; i++ {
		a.ack("", p...)
		b.ack("", p...)
		a.ack("", p...)
	}
	h.none()
	h.s.EndBatch(0)
	segs := h.out()
	if len(segs) != 2 {
		t.Fatalf("batch end sent %v, want one ACK per connection", describe(segs))
	}
	for _, s := range segs {
		want := a.sndNxt
		if uint16(s.DstPort) == b.sport {
			want = b.sndNxt
		}
		if s.Ack != want {
			t.Fatalf("ACK %v, want ack %d", describe([]*layers.TCP{s}), want)
		}
	}
}
