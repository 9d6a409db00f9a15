package tcp_test

// The state machine of RFC 9293 (figure 5), every transition driven on a
// fake clock through the channel driver, and the test that drives it:
//
//	CLOSED → LISTEN (passive open)             TestHandshakeAndData
//	CLOSED → SYN-SENT (active open)            TestActiveOpen
//	LISTEN → SYN-RECEIVED (rcv SYN)            TestHandshakeAndData, TestSynReceivedTransitions
//	LISTEN → CLOSED (close)                    TestListenerClose
//	SYN-SENT → ESTABLISHED (rcv SYN-ACK)       TestActiveOpen
//	SYN-SENT → SYN-RECEIVED (crossing SYNs)    TestSimultaneousOpen
//	SYN-SENT → CLOSED (RST, close)             TestSynSentRefused, TestCloseInSynReceivedAndSynSent
//	SYN-RECEIVED → ESTABLISHED (rcv ACK)       TestHandshakeAndData, TestSynCookies
//	SYN-RECEIVED → CLOSED (RST, retries)       TestSynReceivedTransitions
//	SYN-RECEIVED → FIN-WAIT-1 (close)          TestCloseInSynReceivedAndSynSent
//	ESTABLISHED → FIN-WAIT-1 (close)           TestActiveCloseAndTimeWait
//	ESTABLISHED → CLOSE-WAIT (rcv FIN)         TestPassiveClose
//	ESTABLISHED → CLOSED (RST at RCV.NXT)      TestRFC5961
//	FIN-WAIT-1 → FIN-WAIT-2 (rcv ACK of FIN)   TestActiveCloseAndTimeWait
//	FIN-WAIT-1 → CLOSING (rcv FIN)             TestSimultaneousClose
//	FIN-WAIT-1 → TIME-WAIT (rcv FIN+ACK)       TestFinWait1ToTimeWait
//	FIN-WAIT-2 → TIME-WAIT (rcv FIN)           TestActiveCloseAndTimeWait
//	CLOSING → TIME-WAIT (rcv ACK of FIN)       TestSimultaneousClose
//	CLOSE-WAIT → LAST-ACK (close)              TestPassiveClose
//	LAST-ACK → CLOSED (rcv ACK of FIN)         TestPassiveClose
//	TIME-WAIT → CLOSED (2MSL timeout)          TestActiveCloseAndTimeWait
//
// LISTEN → SYN-SENT (a SEND on a listening socket) is not offered: no
// sockets API has it, Linux included.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/tcp/internal/syncookie"
)

func listen(t *testing.T, h *harness, port uint16, o tcp.ListenOptions) *tcp.Listener {
	t.Helper()
	l, err := h.tcp.Listen(netip.AddrPortFrom(ourIP, port), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func read(t *testing.T, c *tcp.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d: %v", n, err)
	}
	return b
}

func TestHandshakeAndData(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, true)
	pc.ack("P", []byte("hello")...)
	h.none() // the ACK is delayed
	if got := read(t, pc.c, 5); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	h.advance(40 * time.Millisecond)
	a := h.one()
	if !a.ACK || a.Ack != pc.sndNxt {
		t.Fatalf("delayed ACK: %v", describe([]*layers.TCP{a}))
	}
	// Two full-sized segments are ACKed at once.
	full := bytes.Repeat([]byte{1}, 1448)
	pc.ack("", full...)
	pc.ack("", full...)
	if a := h.one(); a.Ack != pc.sndNxt {
		t.Fatalf("ACK after two full segments: %v", describe([]*layers.TCP{a}))
	}
	// Our data reaches the peer, with timestamps echoed.
	if _, err := pc.c.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	d := h.one()
	if string(d.Payload) != "world" || d.Seq != pc.rcvNxt {
		t.Fatalf("data segment %v", describe([]*layers.TCP{d}))
	}
	if _, ecr, ok := findTS(d); !ok || ecr != pc.ts {
		t.Fatalf("TSecr %d, want the peer's last TSval %d", ecr, pc.ts)
	}
}

func TestOutOfOrderAndSACK(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, true)
	base := pc.sndNxt
	pc.raw(base+10, pc.rcvNxt, "A", []byte("klmnopqrst")) // a hole at [0,10)
	a := h.one()
	if a.Ack != base {
		t.Fatalf("out-of-order data must be dup-ACKed at once: %v", describe([]*layers.TCP{a}))
	}
	if sb := sackBlocks(a); len(sb) != 1 || sb[0] != [2]uint32{base + 10, base + 20} {
		t.Fatalf("SACK blocks %v", sb)
	}
	// Overlapping retransmission with different bytes in the overlap: the
	// data already held wins and every byte is delivered once.
	pc.raw(base+5, pc.rcvNxt, "A", []byte("fgXXXXXXXX"))
	h.out()
	pc.raw(base, pc.rcvNxt, "A", []byte("abcdefghij")) // fills the hole
	a = h.one()
	if a.Ack != base+20 || len(sackBlocks(a)) != 0 {
		t.Fatalf("filling the gap must be ACKed at once, with no SACK left: %v", describe([]*layers.TCP{a}))
	}
	if got := read(t, pc.c, 20); string(got) != "abcdefghijklmnopqrst" {
		t.Fatalf("stream %q", got)
	}
	if st := h.tcp.Stats(); st.OFOQueued == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRFC5961(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	t.Run("RST outside the window is dropped", func(t *testing.T) {
		pc.raw(pc.sndNxt+10_000_000, 0, "R", nil)
		h.none()
		if h.tcp.Stats().RSTOutOfWindow != 1 || pc.c.State() != tcp.StateEstablished {
			t.Fatal("out-of-window RST not dropped")
		}
	})
	t.Run("RST in the window earns a challenge ACK, rate limited", func(t *testing.T) {
		pc.raw(pc.sndNxt+100, 0, "R", nil)
		a := h.one()
		if a.RST || !a.ACK || a.Ack != pc.sndNxt {
			t.Fatalf("want a challenge ACK: %v", describe([]*layers.TCP{a}))
		}
		pc.raw(pc.sndNxt+200, 0, "R", nil)
		h.none() // within 500 ms: suppressed
		st := h.tcp.Stats()
		if st.RSTInWindow != 2 || st.ChallengeACKs != 1 || st.ChallengeLimited != 1 {
			t.Fatalf("stats %+v", st)
		}
		h.advance(600 * time.Millisecond)
		h.out()
	})
	t.Run("SYN on an established connection earns a challenge ACK", func(t *testing.T) {
		pc.raw(pc.sndNxt+5, 0, "S", nil)
		a := h.one()
		if a.SYN || a.RST || a.Ack != pc.sndNxt {
			t.Fatalf("want a challenge ACK: %v", describe([]*layers.TCP{a}))
		}
		if h.tcp.Stats().SYNChallenges != 1 || pc.c.State() != tcp.StateEstablished {
			t.Fatal("SYN not challenged")
		}
		h.advance(600 * time.Millisecond)
	})
	t.Run("ACK beyond SND.NXT is discarded and ACKed", func(t *testing.T) {
		pc.raw(pc.sndNxt, pc.rcvNxt+1_000_000, "A", []byte("x"))
		a := h.one()
		if a.Ack != pc.sndNxt {
			t.Fatalf("data of a bad-ACK segment was accepted: %v", describe([]*layers.TCP{a}))
		}
		if h.tcp.Stats().ACKOutOfRange != 1 {
			t.Fatal("not counted")
		}
		h.advance(600 * time.Millisecond)
	})
	t.Run("data without ACK is not queued", func(t *testing.T) {
		pc.raw(pc.sndNxt, 0, "P", []byte("nope"))
		h.none()
		if b, _ := pc.c.Buffered(); b != 0 || h.tcp.Stats().DataNoACK != 1 {
			t.Fatal("data without ACK was queued")
		}
	})
	t.Run("RST at RCV.NXT resets", func(t *testing.T) {
		pc.raw(pc.sndNxt, 0, "R", nil)
		h.none() // never answer a RST
		pc.c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := pc.c.Read(make([]byte, 1)); !errors.Is(err, tcp.ErrConnReset) {
			t.Fatalf("read after reset: %v", err)
		}
		if h.tcp.Stats().RSTAccepted != 1 || h.tcp.Conns() != 0 {
			t.Fatal("connection not reset")
		}
	})
}

func TestPAWS(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, true)
	pc.ack("", []byte("ok")...)
	// A segment with an older timestamp is a stale duplicate.
	h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt, flags: "A", data: []byte("old"),
		opts: []layers.TCPOption{opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindNop), tsOpt(pc.ts-50, pc.tsEcr)}})
	if st := h.tcp.Stats(); st.PAWSRejected != 1 {
		t.Fatalf("PAWS not applied: %+v", st)
	}
	if got := read(t, pc.c, 2); string(got) != "ok" {
		t.Fatal(string(got))
	}
	if b, _ := pc.c.Buffered(); b != 0 {
		t.Fatal("PAWS-rejected data was queued")
	}
}

func TestZeroWindow(t *testing.T) {
	h := newHarness(t, tcp.Options{RcvBuf: 8192})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	chunk := bytes.Repeat([]byte{'z'}, 1024)
	for i := 0; i < 8; i++ { // fill the 8 KiB buffer
		pc.ack("", chunk...)
	}
	h.advance(50 * time.Millisecond)
	var last *layers.TCP
	for _, a := range h.out() {
		last = a
	}
	if last == nil || last.Window != 0 || last.Ack != pc.sndNxt {
		t.Fatalf("want a zero window ACK, got %v", describe([]*layers.TCP{last}))
	}
	// Data beyond a zero window is dropped and counted, and ACKed.
	pc.raw(pc.sndNxt, pc.rcvNxt, "A", chunk)
	a := h.one()
	if a.Window != 0 || a.Ack != pc.sndNxt {
		t.Fatalf("%v", describe([]*layers.TCP{a}))
	}
	// A zero-window probe (one byte) is answered with the window.
	pc.raw(pc.sndNxt, pc.rcvNxt, "A", []byte{1})
	if a := h.one(); a.Window != 0 {
		t.Fatalf("probe answer %v", describe([]*layers.TCP{a}))
	}
	st := h.tcp.Stats()
	if st.ZeroWindowDrops < 2 || st.BeyondWindow < 1025 {
		t.Fatalf("stats %+v", st)
	}
	// The reader drains: a window update opens the window.
	read(t, pc.c, 8192)
	upd := h.out()
	if len(upd) == 0 || upd[len(upd)-1].Window == 0 {
		t.Fatalf("no window update after the reader drained: %v", describe(upd))
	}
}

func TestBadChecksumAndOptions(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	h.send(seg{sport: 1, dport: 80, seq: 1, flags: "S", badCsum: true})
	h.none()
	// An MSS option whose length byte says 3.
	h.send(seg{sport: 1, dport: 80, seq: 1, flags: "S", opts: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 3, OptionData: []byte{5}}}})
	h.none()
	st := h.tcp.Stats()
	if st.InCsumErrors != 1 || st.BadOptions != 1 || st.PassiveOpens != 0 {
		t.Fatalf("stats %+v", st)
	}
	_ = l
}

func TestListenerEdgeCases(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	listen(t, h, 80, tcp.ListenOptions{})
	h.send(seg{sport: 5, dport: 80, seq: 1, flags: "R"})
	h.none() // RST to a listener: dropped
	h.send(seg{sport: 5, dport: 80, seq: 1, ack: 777, flags: "SA"})
	if r := h.one(); !r.RST || r.Seq != 777 {
		t.Fatalf("SYN-ACK to a listener: %v", describe([]*layers.TCP{r}))
	}
	h.send(seg{sport: 5, dport: 80, seq: 1, ack: 12345, flags: "A"})
	if r := h.one(); !r.RST || r.Seq != 12345 {
		t.Fatalf("bare ACK without a cookie: %v", describe([]*layers.TCP{r}))
	}
	h.send(seg{sport: 5, dport: 81, seq: 1, flags: "S"})
	if r := h.one(); !r.RST || !r.ACK || r.Ack != 2 {
		t.Fatalf("SYN to a closed port: %v", describe([]*layers.TCP{r}))
	}
	st := h.tcp.Stats()
	if st.ListenRSTDropped != 1 || st.ListenBadACK != 2 || st.NoPort != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSynCookies(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{SynQueue: 2})
	for i := 0; i < 2; i++ { // fill the SYN queue
		h.send(seg{sport: uint16(100 + i), dport: 80, seq: 1, flags: "S"})
	}
	h.out()
	// Beyond it: a stateless cookie, carrying MSS, SACK and WS in the TS.
	h.send(seg{sport: 200, dport: 80, seq: 5000, flags: "S", opts: []layers.TCPOption{opt(layers.TCPOptionKindMSS, 0x05, 0xb4),
		opt(layers.TCPOptionKindSACKPermitted), tsOpt(42, 0), opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindWindowScale, 7)}})
	sa := h.one()
	if !sa.SYN || !sa.ACK || sa.Ack != 5001 {
		t.Fatalf("cookie SYN-ACK %v", describe([]*layers.TCP{sa}))
	}
	if h.tcp.Stats().SyncookiesSent != 1 || h.tcp.Conns() != 2 {
		t.Fatal("the cookie SYN must not create state")
	}
	tsval, _, _ := findTS(sa)
	h.send(seg{sport: 200, dport: 80, seq: 5001, ack: sa.Seq + 1, flags: "A", data: []byte("via cookie"),
		opts: []layers.TCPOption{opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindNop), tsOpt(43, tsval)}})
	c, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, 10); string(got) != "via cookie" || h.tcp.Stats().SyncookiesRecv != 1 {
		t.Fatalf("cookie connection: %q %+v", got, h.tcp.Stats())
	}
	// Our timestamps must not go backwards from the cookie's TSval, or
	// the peer's PAWS drops everything we send after the handshake.
	h.out()
	c.Write([]byte("reply"))
	for _, s := range h.out() {
		if v, _, ok := findTS(s); !ok || int32(v-tsval) < 0 {
			t.Fatalf("TSval %d after a cookie SYN-ACK with TSval %d", v, tsval)
		}
	}
}

// A cookie handshake whose ACK and first data segment are lost: later
// data fails the cookie check (it is made from SEG.SEQ-1). It must be
// dropped silently, not reset, so that the client's retransmission from
// ISN+1 completes the handshake; a bare ACK that fails still gets a RST.
func TestSynCookieLostFirstSegment(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{SynQueue: 1})
	h.send(seg{sport: 100, dport: 80, seq: 1, flags: "S"}) // fills the SYN queue
	h.out()
	h.send(seg{sport: 200, dport: 80, seq: 5000, flags: "S"})
	sa := h.one()
	if !sa.SYN || !sa.ACK || h.tcp.Stats().SyncookiesSent != 1 {
		t.Fatalf("want a cookie SYN-ACK, got %v %+v", describe([]*layers.TCP{sa}), h.tcp.Stats())
	}
	// The ACK and "first " are lost; "second" arrives.
	h.send(seg{sport: 200, dport: 80, seq: 5001 + 6, ack: sa.Seq + 1, flags: "PA", data: []byte("second")})
	h.none()
	st := h.tcp.Stats()
	if st.SyncookiesDataDropped != 1 || st.SyncookiesFailed != 1 || st.OutRsts != 0 || h.tcp.Conns() != 1 {
		t.Fatalf("the out-of-order data segment after a cookie must be dropped silently: %+v", st)
	}
	// The client's RTO resends from ISN+1, which carries the cookie.
	h.send(seg{sport: 200, dport: 80, seq: 5001, ack: sa.Seq + 1, flags: "PA", data: []byte("first second")})
	c, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, 12); string(got) != "first second" || h.tcp.Stats().SyncookiesRecv != 1 {
		t.Fatalf("cookie connection after a lost first segment: %q %+v", got, h.tcp.Stats())
	}
	// A bare ACK with a bad cookie is still answered with a RST, in
	// cookie mode or not (TestSynCookieChallengeACK has the exception).
	h.out()
	h.send(seg{sport: 300, dport: 80, seq: 9000, ack: 12345, flags: "A"})
	if r := h.one(); !r.RST || r.Seq != 12345 || h.tcp.Stats().ListenBadACK != 1 {
		t.Fatalf("a bare ACK without a valid cookie: %v", describe([]*layers.TCP{r}))
	}
	// Outside cookie mode (a listener that never sent one), a bare ACK and
	// data with a bad cookie are reset.
	h2 := newHarness(t, tcp.Options{})
	listen(t, h2, 80, tcp.ListenOptions{})
	h2.send(seg{sport: 400, dport: 80, seq: 9000, ack: 777, flags: "PA", data: []byte("stale")})
	if r := h2.one(); !r.RST || r.Seq != 777 || h2.tcp.Stats().SyncookiesDataDropped != 0 {
		t.Fatalf("data without a valid cookie outside cookie mode: %v", describe([]*layers.TCP{r}))
	}
	h2.send(seg{sport: 401, dport: 80, seq: 9000, ack: 778, flags: "A"})
	if r := h2.one(); !r.RST || r.Seq != 778 || h2.tcp.Stats().SyncookiesACKDropped != 0 {
		t.Fatalf("a bare ACK without a valid cookie outside cookie mode: %v", describe([]*layers.TCP{r}))
	}
}

// TestSynCookieChallengeACK: a client whose cookie handshake ACK and first
// data were all lost gets a SYN-ACK on its 4-tuple (a same-source SYN
// flood's) and answers with a challenge ACK at its SND.NXT, past ISN+1: a
// bare ACK whose cookie fails. It echoes our cookie's timestamp, so it is
// dropped quietly, and the client's retransmission from ISN+1 completes
// the handshake. (Reset, it died: TestSYNFlood's one failure in CI.) A
// bare ACK that echoes no cookie timestamp of ours still gets its RST,
// and once cookie mode is over so does every failing ACK.
func TestSynCookieChallengeACK(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l, sa, tsval := cookieSYNACK(t, h, 5000)
	// The ACK and 100 bytes of data are lost; the challenge ACK arrives.
	h.send(seg{sport: 200, dport: 80, seq: 5001 + 100, ack: sa.Seq + 1, flags: "A", opts: []layers.TCPOption{tsOpt(50, tsval)}})
	h.none()
	st := h.tcp.Stats()
	if st.SyncookiesACKDropped != 1 || st.SyncookiesFailed != 1 || st.OutRsts != 0 || st.ListenBadACK != 0 || h.tcp.Conns() != 1 {
		t.Fatalf("the challenge ACK after a lost first flight must be dropped quietly: %+v", st)
	}
	// The same ACK without timestamps, or echoing one we never sent, is
	// reset.
	for i, o := range [][]layers.TCPOption{nil, {tsOpt(50, tsval^0x5a5a0000)}} {
		h.send(seg{sport: 200, dport: 80, seq: 5001 + 100, ack: sa.Seq + 1, flags: "A", opts: o})
		if r := h.one(); !r.RST || r.Seq != sa.Seq+1 || h.tcp.Stats().ListenBadACK != uint64(i+1) {
			t.Fatalf("bare ACK %d echoing no cookie timestamp: %v %+v", i, describe([]*layers.TCP{r}), h.tcp.Stats())
		}
	}
	// The client's RTO resends from ISN+1, which carries the cookie.
	h.send(seg{sport: 200, dport: 80, seq: 5001, ack: sa.Seq + 1, flags: "PA", data: make([]byte, 100), opts: []layers.TCPOption{tsOpt(60, tsval)}})
	c, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, 100); len(got) != 100 || h.tcp.Stats().SyncookiesRecv != 1 {
		t.Fatalf("cookie connection after a lost first flight: %d bytes %+v", len(got), h.tcp.Stats())
	}
	// Once no cookie has been sent for syncookie.MaxAge, none can be
	// valid any more: the challenge ACK of a client like the one above is
	// reset.
	h.advance(syncookie.MaxAge)
	h.learnPeer()
	h.out()
	h.send(seg{sport: 300, dport: 80, seq: 9000, ack: 12345, flags: "A", opts: []layers.TCPOption{tsOpt(70, tsval)}})
	if r := h.one(); !r.RST || r.Seq != 12345 || h.tcp.Stats().ListenBadACK != 3 || h.tcp.Stats().SyncookiesACKDropped != 1 {
		t.Fatalf("a bare ACK without a valid cookie after cookie mode: %v %+v", describe([]*layers.TCP{r}), h.tcp.Stats())
	}
}

// cookieSYNACK listens on port 80 with a SYN queue of one, fills it from
// port 100, and sends a SYN with timestamps from port 200 at sequence
// number isn: the SYN-ACK must be a cookie. It returns the listener, the
// SYN-ACK and its TSval.
func cookieSYNACK(t *testing.T, h *harness, isn uint32) (*tcp.Listener, *layers.TCP, uint32) {
	t.Helper()
	l := listen(t, h, 80, tcp.ListenOptions{SynQueue: 1})
	h.send(seg{sport: 100, dport: 80, seq: 1, flags: "S"}) // fills the SYN queue
	h.out()
	h.send(seg{sport: 200, dport: 80, seq: isn, flags: "S", opts: []layers.TCPOption{tsOpt(42, 0)}})
	sa := h.one()
	tsval, _, ok := findTS(sa)
	if !sa.SYN || !sa.ACK || !ok || h.tcp.Stats().SyncookiesSent != 1 {
		t.Fatalf("want a cookie SYN-ACK with timestamps, got %v %+v", describe([]*layers.TCP{sa}), h.tcp.Stats())
	}
	return l, sa, tsval
}

// TestSynCookieTakeover: a client's SYN gets a cookie; its ACK and first
// data are lost; a same-source flood's SYN on the client's 4-tuple then
// finds room in the SYN queue and makes a half-open connection there.
// The client's retransmission from ISN+1, which carries the cookie,
// replaces that connection instead of drawing challenge ACKs from it
// until it times out. (The client's ISN is far from the flood's, as
// random ISNs are: its segments are out of the half-open window.)
func TestSynCookieTakeover(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l, sa, tsval := cookieSYNACK(t, h, 3_000_000_000)
	// The flood's peer resets the first half-open connection, making
	// room; the flood's next SYN lands on the client's 4-tuple.
	h.send(seg{sport: 100, dport: 80, seq: 2, flags: "R"})
	h.send(seg{sport: 200, dport: 80, seq: 777, flags: "S"})
	ghost := h.one()
	if !ghost.SYN || ghost.Ack != 778 || h.tcp.Conns() != 1 {
		t.Fatalf("want a half-open connection for the flood's SYN: %v, %d conns", describe([]*layers.TCP{ghost}), h.tcp.Conns())
	}
	// A segment without a valid cookie is the half-open connection's
	// business: out of its window, a challenge ACK.
	h.send(seg{sport: 200, dport: 80, seq: 3_000_000_001, ack: sa.Seq + 2, flags: "PA", data: make([]byte, 100), opts: []layers.TCPOption{tsOpt(55, tsval)}})
	if r := h.one(); r.SYN || r.RST || r.Ack != 778 || h.tcp.Stats().SyncookiesTakeovers != 0 {
		t.Fatalf("a segment with a wrong cookie: %v %+v", describe([]*layers.TCP{r}), h.tcp.Stats())
	}
	// The client's retransmission carries the cookie.
	h.send(seg{sport: 200, dport: 80, seq: 3_000_000_001, ack: sa.Seq + 1, flags: "PA", data: make([]byte, 100), opts: []layers.TCPOption{tsOpt(60, tsval)}})
	c, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	st := h.tcp.Stats()
	if got := read(t, c, 100); len(got) != 100 || st.SyncookiesRecv != 1 || st.SyncookiesTakeovers != 1 || h.tcp.Conns() != 1 {
		t.Fatalf("cookie handshake over a half-open connection: %d bytes, %d conns, %+v", len(got), h.tcp.Conns(), st)
	}
	if a := h.one(); a.SYN || a.RST || a.Ack != 3_000_000_101 || a.Seq != sa.Seq+1 {
		t.Fatalf("the cookie connection's ACK: %v", describe([]*layers.TCP{a}))
	}
}

func TestPassiveClose(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	pc.ack("F", []byte("bye")...)
	if a := h.one(); a.Ack != pc.sndNxt {
		t.Fatalf("FIN not ACKed at once: %v", describe([]*layers.TCP{a}))
	}
	if pc.c.State() != tcp.StateCloseWait {
		t.Fatal(pc.c.State())
	}
	read(t, pc.c, 3)
	if _, err := pc.c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after FIN: %v", err)
	}
	pc.c.Write([]byte("reply")) // half-close: we can still send
	d := h.one()
	pc.rcvNxt += uint32(len(d.Payload))
	pc.c.Close()
	f := h.one()
	if !f.FIN || pc.c.State() != tcp.StateLastAck {
		t.Fatalf("want FIN in LAST-ACK: %v %v", describe([]*layers.TCP{f}), pc.c.State())
	}
	pc.rcvNxt++
	pc.ack("")
	if pc.c.State() != tcp.StateClosed || h.tcp.Conns() != 0 || h.tcp.TimeWaits() != 0 {
		t.Fatalf("after the last ACK: %v", pc.c.State())
	}
}

func TestActiveCloseAndTimeWait(t *testing.T) {
	h := newHarness(t, tcp.Options{TimeWait: 60 * time.Second})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	pc.c.Close()
	f := h.one()
	if !f.FIN || pc.c.State() != tcp.StateFinWait1 {
		t.Fatal("no FIN")
	}
	pc.rcvNxt++
	pc.ack("")
	if pc.c.State() != tcp.StateFinWait2 {
		t.Fatal(pc.c.State())
	}
	pc.ack("F")
	if a := h.one(); a.Ack != pc.sndNxt {
		t.Fatal("FIN not ACKed")
	}
	if h.tcp.TimeWaits() != 1 || h.tcp.Conns() != 0 {
		t.Fatal("not in TIME_WAIT")
	}
	// RFC 1337: a RST does not end TIME_WAIT.
	pc.raw(pc.sndNxt, 0, "R", nil)
	h.none()
	if h.tcp.TimeWaits() != 1 || h.tcp.Stats().TimeWaitRSTIgnore != 1 {
		t.Fatal("RST ended TIME_WAIT")
	}
	// A retransmitted FIN is ACKed again.
	pc.raw(pc.sndNxt-1, pc.rcvNxt, "FA", nil)
	if a := h.one(); a.Ack != pc.sndNxt {
		t.Fatal("retransmitted FIN not re-ACKed")
	}
	h.advance(61 * time.Second)
	if h.tcp.TimeWaits() != 0 {
		t.Fatal("TIME_WAIT did not expire")
	}
}

func TestSimultaneousClose(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	pc.c.Close()
	h.one()     // our FIN
	pc.ack("F") // the peer's FIN, not yet acking ours
	if pc.c.State() != tcp.StateClosing {
		t.Fatalf("state %v, want CLOSING", pc.c.State())
	}
	h.out()
	pc.rcvNxt++ // now the peer ACKs our FIN
	pc.ack("")
	if h.tcp.TimeWaits() != 1 {
		t.Fatal("CLOSING + ACK must enter TIME_WAIT")
	}
}

func TestActiveOpen(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	type res struct {
		c   *tcp.Conn
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := h.tcp.Dial(t.Context(), netip.AddrPortFrom(peerIP, 9))
		done <- res{c, err}
	}()
	var syn *layers.TCP
	deadline := time.Now().Add(5 * time.Second)
	for syn == nil && time.Now().Before(deadline) {
		if s := h.out(); len(s) > 0 {
			syn = s[0]
		}
		time.Sleep(time.Millisecond)
	}
	if syn == nil || !syn.SYN || syn.ACK {
		t.Fatal("no SYN")
	}
	// Retransmitted after the initial RTO.
	h.advance(time.Second)
	if r := h.one(); !r.SYN || r.Seq != syn.Seq {
		t.Fatal("SYN not retransmitted")
	}
	h.send(seg{sport: 9, dport: uint16(syn.SrcPort), seq: 500, ack: syn.Seq + 1, flags: "SA"})
	r := <-done
	if r.err != nil || r.c.State() != tcp.StateEstablished {
		t.Fatalf("dial: %v", r.err)
	}
	if a := h.one(); !a.ACK || a.Ack != 501 {
		t.Fatal("handshake ACK")
	}
}

func TestSimultaneousOpen(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	done := make(chan *tcp.Conn, 1)
	go func() {
		c, err := h.tcp.Dial(t.Context(), netip.AddrPortFrom(peerIP, 9))
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	var syn *layers.TCP
	for syn == nil {
		if s := h.out(); len(s) > 0 {
			syn = s[0]
		}
		time.Sleep(time.Millisecond)
	}
	h.send(seg{sport: 9, dport: uint16(syn.SrcPort), seq: 500, flags: "S"}) // crossing SYNs
	sa := h.one()
	if !sa.SYN || !sa.ACK || sa.Seq != syn.Seq || sa.Ack != 501 {
		t.Fatalf("want our SYN-ACK in SYN-RECEIVED: %v", describe([]*layers.TCP{sa}))
	}
	h.send(seg{sport: 9, dport: uint16(syn.SrcPort), seq: 501, ack: syn.Seq + 1, flags: "A"})
	select {
	case c := <-done:
		if c.State() != tcp.StateEstablished {
			t.Fatal(c.State())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("simultaneous open never established")
	}
}

func TestRetransmission(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	pc.c.Write(bytes.Repeat([]byte{9}, 3000)) // three segments (MSS 1460)
	first := h.out()
	if len(first) != 3 {
		t.Fatalf("sent %v", describe(first))
	}
	h.advance(1100 * time.Millisecond) // the initial RTO
	r := h.out()
	if len(r) == 0 || r[0].Seq != pc.rcvNxt || len(r[0].Payload) == 0 {
		t.Fatalf("no retransmission from SND.UNA: %v", describe(r))
	}
	pc.rcvNxt += 3000
	pc.ack("")
	if st := h.tcp.Stats(); st.Timeouts != 1 || st.RetransSegs < 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, snd := pc.c.Buffered(); snd != 0 {
		t.Fatalf("%d bytes still unacknowledged", snd)
	}
}

func TestAcceptQueueFull(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	listen(t, h, 80, tcp.ListenOptions{Backlog: 1})
	for i := 0; i < 2; i++ {
		sport := uint16(300 + i)
		h.send(seg{sport: sport, dport: 80, seq: 1, flags: "S"})
		if i == 1 {
			h.none() // the accept queue is full: the SYN is dropped
			break
		}
		sa := h.one()
		h.send(seg{sport: sport, dport: 80, seq: 2, ack: sa.Seq + 1, flags: "A"})
	}
	if st := h.tcp.Stats(); st.ListenOverflows != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFinWait1ToTimeWait(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	pc.c.Close()
	h.one()
	pc.rcvNxt++
	pc.ack("F") // FIN and the ACK of ours in one segment
	h.one()
	if h.tcp.TimeWaits() != 1 {
		t.Fatal("FIN-WAIT-1 + FIN/ACK must go straight to TIME-WAIT")
	}
}

func TestSynReceivedTransitions(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	listen(t, h, 80, tcp.ListenOptions{SynRetries: 2})
	// SYN-RECEIVED → CLOSED by a RST at RCV.NXT.
	h.send(seg{sport: 7, dport: 80, seq: 100, flags: "S"})
	h.one()
	h.send(seg{sport: 7, dport: 80, seq: 101, flags: "R"})
	if h.tcp.Conns() != 0 {
		t.Fatal("RST did not end SYN-RECEIVED")
	}
	// SYN-RECEIVED: the SYN-ACK is retransmitted, then given up.
	h.send(seg{sport: 8, dport: 80, seq: 100, flags: "S"})
	h.one()
	for i := 0; i < 2; i++ {
		h.advance(5 * time.Second)
		if s := h.out(); len(s) != 1 || !s[0].SYN || !s[0].ACK {
			t.Fatalf("retransmission %d: %v", i, describe(s))
		}
	}
	h.advance(30 * time.Second)
	h.none()
	if h.tcp.Conns() != 0 || h.tcp.Stats().AttemptFails < 2 {
		t.Fatalf("half-open connection not given up: %d conns", h.tcp.Conns())
	}
}

func TestSynSentRefused(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := h.tcp.Dial(t.Context(), netip.AddrPortFrom(peerIP, 9))
		errc <- err
	}()
	var syn *layers.TCP
	for syn == nil {
		if s := h.out(); len(s) > 0 {
			syn = s[0]
		}
		time.Sleep(time.Millisecond)
	}
	h.send(seg{sport: 9, dport: uint16(syn.SrcPort), seq: 0, ack: syn.Seq + 1, flags: "RA"})
	if err := <-errc; !errors.Is(err, tcp.ErrConnRefused) {
		t.Fatalf("dial: %v", err)
	}
}

func TestTimeWaitReuse(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	pc.c.Close()
	h.one()
	pc.rcvNxt++
	pc.ack("F")
	h.out()
	// A new SYN with a higher sequence number starts a new incarnation.
	h.send(seg{sport: pc.sport, dport: 80, seq: pc.sndNxt + 100000, flags: "S"})
	if s := h.one(); !s.SYN || !s.ACK {
		t.Fatalf("SYN in TIME-WAIT: %v", describe([]*layers.TCP{s}))
	}
	if st := h.tcp.Stats(); st.TimeWaitReused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestInOrderZeroAllocs: steady-state in-order segments allocate nothing,
// in handler mode and with a reader draining the receive buffer, one by
// one and in receive batches (EndBatch after each segment).
func TestInOrderZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	for _, mode := range []string{"handler", "reader", "handler-batched", "reader-batched"} {
		t.Run(mode, func(t *testing.T) {
			batch := strings.HasSuffix(mode, "-batched")
			mode = strings.TrimSuffix(mode, "-batched")
			h := newHarness(t, tcp.Options{})
			var got int
			o := tcp.ListenOptions{}
			if mode == "handler" {
				o.Handler = func(*tcp.Conn) func([]byte) { return func(b []byte) { got += len(b) } }
			}
			l := listen(t, h, 80, o)
			pc := h.establish(l, 80, false)
			const runs = 400
			frames := make([][]byte, 0, runs+2)
			payload := bytes.Repeat([]byte{3}, 1448)
			for i := 0; i < runs+2; i++ {
				pc.h.send(seg{}) // keep gopacket warm; dropped: port 0
				frames = append(frames, h.frame(pc, payload))
			}
			h.out()
			h.q.DiscardTx(true) // the fake wire's copies are not the stack's
			buf := make([]byte, 4096)
			if batch {
				h.s.EndBatch(0)
			}
			step := func(i int) {
				h.deliverRaw(frames[i])
				if batch {
					h.s.EndBatch(0)
				}
				if mode == "reader" {
					pc.c.Read(buf)
				}
				h.drain()
			}
			// Garbage from earlier tests must not trigger a collection
			// mid-run (see below): collect now, then hold the GC off.
			runtime.GC()
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			step(0) // warm up: the first chunk, the first ACK
			step(1)
			// Count every allocation over the run, not a per-run average
			// rounded down as AllocsPerRun does. (A garbage collection
			// empties the stack's tx buffer sync.Pool, costing a few
			// allocations per GC cycle, not per segment; a receiver that
			// allocates nothing does not trigger GCs. Receive chunks come
			// from a free list the GC does not touch.)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := 2; i < runs+2; i++ {
				step(i)
			}
			runtime.ReadMemStats(&after)
			if n := after.Mallocs - before.Mallocs; n != 0 {
				t.Fatalf("%d allocations over %d in-order segments, want 0", n, runs)
			}
			if mode == "handler" && got < runs*1448 {
				t.Fatalf("handler got %d bytes", got)
			}
		})
	}
}

// frame builds the next in-order data segment of pc.
func (h *harness) frame(pc *conn, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: peerIP.AsSlice(), DstIP: ourIP.AsSlice()}
	tc := &layers.TCP{SrcPort: layers.TCPPort(pc.sport), DstPort: layers.TCPPort(pc.dport), Seq: pc.sndNxt, Ack: pc.rcvNxt, ACK: true, Window: 65535}
	tc.SetNetworkLayerForChecksum(ip)
	pc.sndNxt += uint32(len(payload))
	return h.ser(&layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tc, gopacket.Payload(payload))
}

// Options.RcvMem is shared: each connection's window is capped at its
// share, a new connection's SYN-ACK offers the smaller share, and an
// established connection's right edge never moves left but advances
// only by the new share.
func TestRcvMemShare(t *testing.T) {
	h := newHarness(t, tcp.Options{RcvMem: 40000})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	h.send(seg{sport: 40001, dport: 80, seq: 77, flags: "S", opts: []layers.TCPOption{opt(layers.TCPOptionKindMSS, 0x05, 0xb4)}})
	sa := h.one()
	if !sa.SYN || sa.Window != 20000 {
		t.Fatalf("second connection's SYN-ACK: %v window %d, want 20000 (RcvMem/2)", describe([]*layers.TCP{sa}), sa.Window)
	}
	// A half-open connection (a SYN flood's, say) takes no share: the
	// first one's window stays whole.
	pc.ack("P", bytes.Repeat([]byte{'x'}, 1000)...)
	h.advance(500 * time.Millisecond) // the delayed ACK, before the SYN-ACK's RTO
	if out := h.out(); len(out) != 1 || out[0].SYN || out[0].Window != 40000 {
		t.Fatalf("with the second connection half-open: %v, want one ACK offering 40000", describe(out))
	}
	read(t, pc.c, 1000)
	// Once its handshake completes the two share RcvMem.
	h.send(seg{sport: 40001, dport: 80, seq: 78, ack: sa.Seq + 1, flags: "A"})
	h.out()
	var wins []uint16
	for range 30 {
		pc.ack("P", bytes.Repeat([]byte{'x'}, 1000)...)
		for _, s := range h.out() {
			wins = append(wins, s.Window)
		}
	}
	h.advance(time.Second) // the last delayed ACK
	for _, s := range h.out() {
		wins = append(wins, s.Window)
	}
	// The first ACKs keep the old right edge (40000 bytes past the
	// handshake); once it is nearer than the share, the share is offered.
	if len(wins) == 0 || wins[0] != 40000-2000 || wins[len(wins)-1] != 20000 {
		t.Fatalf("windows %v: want the old edge first, then 20000", wins)
	}
	if got := read(t, pc.c, 30000); len(got) != 30000 {
		t.Fatalf("read %d bytes", len(got))
	}
}

// CLOSE in SYN-RECEIVED (RFC 9293 §3.10.4): a Dial cancelled during a
// simultaneous open enters FIN-WAIT-1. Its FIN waits for the ACK of our
// SYN (the SYN-ACK is retransmitted meanwhile), then the orphan finishes
// its close: FIN-WAIT-2 on the FIN's ACK, TIME-WAIT on the peer's FIN.
// CLOSE in SYN-SENT deletes the connection without a segment.
func TestCloseInSynReceivedAndSynSent(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	dial := func() (context.CancelFunc, chan error, *layers.TCP) {
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := h.tcp.Dial(ctx, netip.AddrPortFrom(peerIP, 9))
			errc <- err
		}()
		for {
			if s := h.out(); len(s) > 0 {
				return cancel, errc, s[0]
			}
			time.Sleep(time.Millisecond)
		}
	}

	cancel, errc, syn := dial()
	sport := uint16(syn.SrcPort)
	h.send(seg{sport: 9, dport: sport, seq: 500, flags: "S"}) // crossing SYNs
	if sa := h.one(); !sa.SYN || !sa.ACK {
		t.Fatalf("want our SYN-ACK in SYN-RECEIVED: %v", describe([]*layers.TCP{sa}))
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("dial: %v", err)
	}
	h.none() // FIN-WAIT-1, the FIN held back until our SYN is acknowledged
	h.advance(1100 * time.Millisecond)
	if r := h.one(); !r.SYN || !r.ACK || r.FIN {
		t.Fatalf("want the SYN-ACK retransmitted: %v", describe([]*layers.TCP{r}))
	}
	h.send(seg{sport: 9, dport: sport, seq: 501, ack: syn.Seq + 1, flags: "A"})
	fin := h.one()
	if !fin.FIN || !fin.ACK || fin.Seq != syn.Seq+1 || fin.Ack != 501 {
		t.Fatalf("want our FIN once the SYN is acknowledged: %v", describe([]*layers.TCP{fin}))
	}
	// FIN-WAIT-1 → FIN-WAIT-2 on its ACK.
	h.send(seg{sport: 9, dport: sport, seq: 501, ack: syn.Seq + 2, flags: "A"})
	h.none()
	if h.tcp.Conns() != 1 {
		t.Fatal("the orphan must wait in FIN-WAIT-2 for the peer's FIN")
	}
	h.send(seg{sport: 9, dport: sport, seq: 501, ack: syn.Seq + 2, flags: "FA"})
	if a := h.one(); !a.ACK || a.Ack != 502 || h.tcp.TimeWaits() != 1 {
		t.Fatalf("want the ACK of the peer's FIN and TIME-WAIT: %v, %d in TIME-WAIT", describe([]*layers.TCP{a}), h.tcp.TimeWaits())
	}

	cancel, errc, _ = dial()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("dial: %v", err)
	}
	h.none()
	if h.tcp.Conns() != 0 {
		t.Fatal("a cancelled SYN-SENT connection must be deleted")
	}
}

// LISTEN → CLOSED: closing a listener resets what waits in its accept
// queue, drops its half-open connections quietly, fails Accept, and the
// port then answers SYNs with a RST.
func TestListenerClose(t *testing.T) {
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	h.send(seg{sport: 7, dport: 80, seq: 100, flags: "S"}) // stays half-open
	h.one()
	h.send(seg{sport: 8, dport: 80, seq: 200, flags: "S"}) // established, never accepted
	sa := h.one()
	h.send(seg{sport: 8, dport: 80, seq: 201, ack: sa.Seq + 1, flags: "A"})
	h.none()
	if h.tcp.Conns() != 2 {
		t.Fatalf("%d connections before Close, want 2", h.tcp.Conns())
	}
	l.Close()
	if r := h.one(); !r.RST || r.DstPort != 8 || r.Seq != sa.Seq+1 {
		t.Fatalf("want a RST for the unaccepted connection only: %v", describe([]*layers.TCP{r}))
	}
	if h.tcp.Conns() != 0 {
		t.Fatalf("%d connections after Close", h.tcp.Conns())
	}
	if _, err := l.AcceptTCP(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	h.send(seg{sport: 9, dport: 80, seq: 300, flags: "S"})
	if r := h.one(); !r.RST || !r.ACK || r.Ack != 301 {
		t.Fatalf("SYN to a closed listener's port: %v", describe([]*layers.TCP{r}))
	}
}
