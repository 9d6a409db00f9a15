package tcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/tcp/internal/ooo"
)

// TestRetransmitGivesUp: data the peer never acknowledges is resent from
// SND.UNA with the RTO doubling each time (RFC 6298 §5.5) up to MaxRTO,
// and after MaxRetries retransmissions the connection is aborted: a RST
// goes out, the reader and writer get ErrTimeout, the connection is gone
// and abort_on_timeout counts it (Linux's tcp_retries2).
func TestRetransmitGivesUp(t *testing.T) {
	const retries = 5
	const maxRTO = 3 * time.Second
	const step = 10 * time.Millisecond
	h := newHarness(t, tcp.Options{MaxRetries: retries, MaxRTO: maxRTO})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i)
	}
	if _, err := pc.c.Write(data); err != nil {
		t.Fatal(err)
	}
	if first := h.one(); first.Seq != pc.rcvNxt || len(first.Payload) != len(data) {
		t.Fatalf("first transmission %v", describe([]*layers.TCP{first}))
	}
	// Step the clock and note when each segment goes out.
	var at []time.Duration
	var elapsed time.Duration
	rst := false
	var rstSeq uint32
	for elapsed < time.Minute && !rst {
		h.advance(step)
		elapsed += step
		for _, s := range h.out() {
			switch {
			case s.RST:
				rst = true
				rstSeq = s.Seq
			case s.Seq == pc.rcvNxt && string(s.Payload) == string(data):
				at = append(at, elapsed)
			default:
				t.Fatalf("at %v sent %v", elapsed, describe([]*layers.TCP{s}))
			}
		}
	}
	if !rst || len(at) != retries {
		t.Fatalf("%d retransmissions, RST %v, in %v; want %d and a RST", len(at), rst, elapsed, retries)
	}
	// Each wait doubles the last, capped at MaxRTO; the last one is the
	// wait for the final retransmission's ACK before giving up.
	waits := []time.Duration{at[0]}
	for i := 1; i < len(at); i++ {
		waits = append(waits, at[i]-at[i-1])
	}
	waits = append(waits, elapsed-at[len(at)-1])
	for i := 1; i < len(waits); i++ {
		want := min(2*waits[i-1], maxRTO)
		if d := waits[i] - want; d < -step || d > step {
			t.Fatalf("waits %v: wait %d is %v, want %v (doubled, at most %v)", waits, i, waits[i], want, maxRTO)
		}
	}
	if rstSeq != pc.rcvNxt+uint32(len(data)) {
		t.Fatalf("RST at seq %d; want SND.NXT %d", rstSeq, pc.rcvNxt+uint32(len(data)))
	}
	if waits[len(waits)-1] != maxRTO {
		t.Fatalf("waits %v never reached MaxRTO", waits)
	}
	buf := make([]byte, 10)
	if _, err := pc.c.Read(buf); !errors.Is(err, tcp.ErrTimeout) {
		t.Fatalf("Read after the abort: %v; want ErrTimeout", err)
	}
	if _, err := pc.c.Write(buf); !errors.Is(err, tcp.ErrTimeout) {
		t.Fatalf("Write after the abort: %v; want ErrTimeout", err)
	}
	st := h.tcp.Stats()
	if h.tcp.Conns() != 0 || st.AbortOnTimeout != 1 || st.Timeouts != retries || st.RetransSegs != retries || st.CurrEstab != 0 {
		t.Fatalf("after the abort: %d connections, %+v; want 0, abort_on_timeout 1, timeouts and retransmits %d", h.tcp.Conns(), st, retries)
	}
	// A late ACK from the peer finds no connection: it is answered with a
	// RST, as any segment for no socket.
	h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt + uint32(len(data)), flags: "A"})
	if s := h.one(); !s.RST {
		t.Fatalf("late ACK answered with %v", describe(h.out()))
	}
}

// TestTimeWaitOverflow: TIME_WAIT holds at most MaxTimeWait entries; one
// more pushes out the oldest, counted in time_wait_overflow, and a segment
// on the forgotten 4-tuple is handled as if there had never been one.
func TestTimeWaitOverflow(t *testing.T) {
	h := newHarness(t, tcp.Options{MaxTimeWait: 2})
	l := listen(t, h, 80, tcp.ListenOptions{})
	var pcs []*conn
	for i := range 3 {
		pc := h.establishFrom(l, uint16(40000+i), 80, false)
		pc.c.Close()
		if f := h.one(); !f.FIN {
			t.Fatalf("connection %d: no FIN", i)
		}
		pc.rcvNxt++
		pc.ack("F") // ACKs our FIN and sends the peer's: TIME_WAIT
		if a := h.one(); a.Ack != pc.sndNxt {
			t.Fatalf("connection %d: FIN not ACKed", i)
		}
		pcs = append(pcs, pc)
		h.advance(time.Second)
	}
	if n, st := h.tcp.TimeWaits(), h.tcp.Stats(); n != 2 || st.TimeWaitEntered != 3 || st.TimeWaitOverflow != 1 || h.tcp.Conns() != 0 {
		t.Fatalf("%d in TIME_WAIT, entered %d, overflow %d, %d connections; want 2, 3, 1, 0", n, st.TimeWaitEntered, st.TimeWaitOverflow, h.tcp.Conns())
	}
	// The newest is still in TIME_WAIT: a retransmitted FIN is ACKed.
	pcs[2].raw(pcs[2].sndNxt-1, pcs[2].rcvNxt, "FA", nil)
	if a := h.one(); a.RST || a.Ack != pcs[2].sndNxt {
		t.Fatalf("newest entry: retransmitted FIN answered with %v", describe([]*layers.TCP{a}))
	}
	// The oldest was pushed out: its retransmitted FIN finds only the
	// listener, which answers an ACK it has no cookie for with a RST.
	badACK := h.tcp.Stats().ListenBadACK
	pcs[0].raw(pcs[0].sndNxt-1, pcs[0].rcvNxt, "FA", nil)
	if a := h.one(); !a.RST {
		t.Fatalf("evicted entry: retransmitted FIN answered with %v; want a RST", describe([]*layers.TCP{a}))
	}
	if st := h.tcp.Stats(); st.ListenBadACK != badACK+1 || h.tcp.TimeWaits() != 2 {
		t.Fatalf("listen_bad_ack %d (was %d), %d in TIME_WAIT", st.ListenBadACK, badACK, h.tcp.TimeWaits())
	}
}

// TestOFOCapCounted: the out-of-order queue is bounded by RcvBuf, each
// held range charged RangeOverhead on top of its bytes, so a peer that
// scatters one-byte segments across the window pins no more than that.
// What does not fit is dropped and counted in ofo_dropped_bytes, what
// does in ofo_queued, and the segment that fills the hole still lands.
func TestOFOCapCounted(t *testing.T) {
	const rcvBuf = 8192
	const segs = 200
	h := newHarness(t, tcp.Options{RcvBuf: rcvBuf})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	// One byte at every other sequence number, beyond a one-byte hole.
	for i := range segs {
		pc.raw(pc.sndNxt+uint32(1+2*i), pc.rcvNxt, "A", []byte{byte(i)})
	}
	h.out()
	fit := rcvBuf / (ooo.RangeOverhead + 1)
	st := h.tcp.Stats()
	if st.OFOQueued != uint64(fit) || st.OFODropped != uint64(segs-fit) {
		t.Fatalf("ofo_queued %d, ofo_dropped_bytes %d; want %d held and %d dropped (%d-byte cap, %d bytes a range)",
			st.OFOQueued, st.OFODropped, fit, segs-fit, rcvBuf, ooo.RangeOverhead+1)
	}
	if st.BeyondWindow != 0 || st.OutOfWindow != 0 {
		t.Fatalf("beyond_window_bytes %d, out_of_window %d: the segments were all inside the window", st.BeyondWindow, st.OutOfWindow)
	}
	// The hole is filled: that byte and the one held right after it are
	// delivered, and the ACK moves past both.
	pc.raw(pc.sndNxt, pc.rcvNxt, "A", []byte{0xff})
	var ack uint32
	for _, s := range h.out() {
		ack = s.Ack
	}
	if ack != pc.sndNxt+2 {
		t.Fatalf("after filling the hole: ACK %d, want %d", ack, pc.sndNxt+2)
	}
	buf := make([]byte, 10)
	pc.c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := pc.c.Read(buf); err != nil || n != 2 || buf[0] != 0xff || buf[1] != 0 {
		t.Fatalf("Read: %d %v %x; want ff 00", n, err, buf[:n])
	}
}
