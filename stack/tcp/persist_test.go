package tcp_test

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/stack/tcp"
)

// Zero-window probes (the persist timer), found by FuzzWholeStack.

// A probe must not carry a byte beyond the window that the peer may
// acknowledge: if the peer's window update was lost, the peer takes the
// byte and acknowledges it, and that ACK, beyond SND.NXT, would be
// discarded — the sender would never learn the window and probe forever.
// The probe is a segment at SND.UNA−1 (Linux's tcp_xmit_probe_skb), which
// the peer answers with its window.
func TestPersistProbeLearnsWindow(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	// The peer closes its window.
	h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt, flags: "AZ"})
	h.none()
	if _, err := pc.c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	h.none() // nothing fits the window
	h.advance(time.Second)
	probe := h.one()
	if len(probe.Payload) != 0 || probe.Seq != pc.rcvNxt-1 || !probe.ACK {
		t.Fatalf("probe %v, want an empty ACK at SND.UNA-1 = %d", describe([]*layers.TCP{probe}), pc.rcvNxt-1)
	}
	// The peer's answer opens the window: the data goes out at once.
	h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt, flags: "A", win: 1000})
	d := h.one()
	if string(d.Payload) != "hello" || d.Seq != pc.rcvNxt {
		t.Fatalf("after the window opened: %v", describe([]*layers.TCP{d}))
	}
}

// A peer that answers no probe is gone: the connection ends after
// MaxRetries unanswered probes, as Linux's tcp_probe_timer ends it after
// tcp_retries2. Before, a peer that advertised a zero window and vanished
// kept the connection and its send buffer forever, even after Close.
func TestPersistGivesUp(t *testing.T) {
	h := newHarness(t, tcp.Options{MaxRetries: 3, MaxRTO: 4 * time.Second})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt, flags: "AZ"})
	if _, err := pc.c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	pc.c.Close()
	h.drain()
	// Answered probes keep it alive for as long as the peer answers.
	for i := 0; i < 10; i++ {
		h.advance(4 * time.Second)
		if segs := h.out(); len(segs) != 1 || len(segs[0].Payload) != 0 {
			t.Fatalf("probe %d: %v", i, describe(segs))
		}
		h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt, flags: "AZ"})
	}
	if n := h.tcp.Conns(); n != 1 {
		t.Fatalf("%d connections while the peer answers its probes", n)
	}
	// Unanswered, it ends.
	for i := 0; i < 10 && h.tcp.Conns() > 0; i++ {
		h.advance(4 * time.Second)
	}
	if n := h.tcp.Conns(); n != 0 {
		t.Fatalf("%d connections after the peer stopped answering probes", n)
	}
	if st := h.tcp.Stats(); st.AbortOnTimeout != 1 {
		t.Fatalf("abort_on_timeout %d, want 1", st.AbortOnTimeout)
	}
}
