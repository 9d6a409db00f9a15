package cc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testMSS = 1000

// state is what a test observes of a NewReno.
type state struct {
	Cwnd, Ssthresh int
	InRecovery     bool
	DupAcks        int
}

func stateOf(c *NewReno) state {
	return state{Cwnd: c.Cwnd(), Ssthresh: c.Ssthresh(), InRecovery: c.InRecovery(), DupAcks: c.DupAcks()}
}

func TestNewNewRenoInitialWindow(t *testing.T) {
	tests := []struct {
		mss, want int
	}{
		{536, 5360},     // 10 MSS
		{1000, 10000},   // 10 MSS
		{1460, 14600},   // 10 MSS = 14600
		{4000, 14600},   // 14600
		{9000, 18000},   // 2 MSS
		{0, 5360},       // DefaultMSS
		{-1, 5360},      // DefaultMSS
		{65495, 130990}, // 2 MSS on loopback
	}
	for _, tt := range tests {
		c := NewNewReno(tt.mss)
		if c.Cwnd() != tt.want || c.Ssthresh() != MaxWindow || c.InRecovery() {
			t.Errorf("NewNewReno(%d): cwnd %d ssthresh %d recovery %v, want %d %d false",
				tt.mss, c.Cwnd(), c.Ssthresh(), c.InRecovery(), tt.want, MaxWindow)
		}
	}
}

func TestNewRenoSetMSS(t *testing.T) {
	c := NewNewReno(0)
	c.SetMSS(1460)
	if c.Cwnd() != 14600 || c.MSS() != 1460 {
		t.Fatalf("SetMSS(1460) before any ACK: cwnd %d mss %d, want 14600 1460", c.Cwnd(), c.MSS())
	}
	c.OnAck(1460, 0, 1460)
	c.SetMSS(1000)
	if c.Cwnd() != 14600+1460 {
		t.Errorf("SetMSS after an ACK changed cwnd to %d, want %d", c.Cwnd(), 14600+1460)
	}
	c.OnTimeout(10*1000, 0)
	c.SetMSS(9000)
	if c.Cwnd() != 9000 {
		t.Errorf("SetMSS(9000) with cwnd 1000: cwnd %d, want 9000", c.Cwnd())
	}
}

func TestNewRenoSlowStart(t *testing.T) {
	c := NewNewReno(testMSS)
	steps := []struct {
		acked int
		cwnd  int
	}{
		{1000, 11000},
		{2000, 12000}, // a delayed ACK still counts one MSS (L = 1)
		{500, 12500},
		{64000, 13500}, // a stretch ACK too
		{0, 13500},     // nothing acked
	}
	ack := uint32(0)
	for i, s := range steps {
		ack += uint32(s.acked)
		if c.OnAck(s.acked, 0, ack) {
			t.Errorf("step %d: OnAck asked for a retransmission outside recovery", i)
		}
		if c.Cwnd() != s.cwnd {
			t.Errorf("step %d: cwnd %d, want %d", i, c.Cwnd(), s.cwnd)
		}
	}
	// One round trip of per-segment ACKs doubles the window.
	c = NewNewReno(testMSS)
	for range c.Cwnd() / testMSS {
		ack += testMSS
		c.OnAck(testMSS, 0, ack)
	}
	if c.Cwnd() != 20000 {
		t.Errorf("cwnd after one round trip of slow start: %d, want 20000", c.Cwnd())
	}
}

// congestionAvoidance returns a NewReno with cwnd == ssthresh == window
// (a multiple of 2 MSS), left there by a fast recovery.
func congestionAvoidance(t *testing.T, window int) (*NewReno, uint32) {
	t.Helper()
	c := NewNewReno(testMSS)
	flight := 2 * window
	for range DupAckThreshold {
		c.OnDupAck(flight, 0, uint32(flight))
	}
	c.OnAck(flight, flight, uint32(flight))
	if c.Cwnd() != window || c.Ssthresh() != window || c.InRecovery() {
		t.Fatalf("setup: %+v, want cwnd = ssthresh = %d", stateOf(&c), window)
	}
	return &c, uint32(flight)
}

func TestNewRenoCongestionAvoidance(t *testing.T) {
	for _, segsPerAck := range []int{1, 2, 3} {
		c, ack := congestionAvoidance(t, 20000)
		// Each round trip the sender sends cwnd bytes and the receiver
		// acknowledges them segsPerAck segments at a time.
		for rtt := range 10 {
			before := c.Cwnd()
			for left := before; left > 0; {
				n := min(left, segsPerAck*testMSS)
				left -= n
				ack += uint32(n)
				c.OnAck(n, left, ack)
			}
			if got := c.Cwnd() - before; got != testMSS {
				t.Errorf("%d segments per ACK, round trip %d: cwnd grew %d, want one MSS (%d)", segsPerAck, rtt, got, testMSS)
			}
		}
	}
}

func TestNewRenoFastRetransmit(t *testing.T) {
	c := NewNewReno(testMSS)
	const flight, sndNxt = 20000, 20000
	want := []struct {
		retransmit bool
		state      state
	}{
		{false, state{Cwnd: 10000, Ssthresh: MaxWindow, DupAcks: 1}},
		{false, state{Cwnd: 10000, Ssthresh: MaxWindow, DupAcks: 2}},
		// ssthresh = flight/2, cwnd = ssthresh + 3 MSS.
		{true, state{Cwnd: 13000, Ssthresh: 10000, InRecovery: true, DupAcks: 3}},
		// Further duplicates inflate, never retransmit again.
		{false, state{Cwnd: 14000, Ssthresh: 10000, InRecovery: true, DupAcks: 4}},
		{false, state{Cwnd: 15000, Ssthresh: 10000, InRecovery: true, DupAcks: 5}},
		{false, state{Cwnd: 16000, Ssthresh: 10000, InRecovery: true, DupAcks: 6}},
	}
	for i, w := range want {
		got := c.OnDupAck(flight, 0, sndNxt)
		if got != w.retransmit {
			t.Errorf("dup ACK %d: retransmit %v, want %v", i+1, got, w.retransmit)
		}
		if diff := cmp.Diff(w.state, stateOf(&c)); diff != "" {
			t.Errorf("dup ACK %d (-want +got):\n%s", i+1, diff)
		}
	}
}

func TestNewRenoSsthreshFloor(t *testing.T) {
	c := NewNewReno(testMSS)
	for range DupAckThreshold {
		c.OnDupAck(3000, 0, 3000)
	}
	if c.Ssthresh() != 2*testMSS || c.Cwnd() != 5*testMSS {
		t.Errorf("small flight: %+v, want ssthresh 2 MSS, cwnd 5 MSS", stateOf(&c))
	}
}

// TestNewRenoRecovery walks fast recovery through partial ACKs to the full
// ACK, RFC 6582 3.2 step 3.
func TestNewRenoRecovery(t *testing.T) {
	type step struct {
		dup        bool // a duplicate ACK, else an ACK of acked bytes
		acked      int
		flight     int // outstanding after the event
		retransmit bool
		state      state
	}
	const iss = 0xffff_f000 // recover wraps past 2^32
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "partial ACKs then full ACK",
			steps: []step{
				// Entered with flight 20000: ssthresh 10000, cwnd 13000, recover iss+20000.
				{dup: true, flight: 20000, state: state{Cwnd: 14000, Ssthresh: 10000, InRecovery: true, DupAcks: 4}},
				// Partial ACK of 3 MSS: deflate by 3000, add back 1000.
				{acked: 3000, flight: 17000, retransmit: true, state: state{Cwnd: 12000, Ssthresh: 10000, InRecovery: true, DupAcks: 4}},
				// Partial ACK of less than an MSS: no add-back.
				{acked: 500, flight: 16500, retransmit: true, state: state{Cwnd: 11500, Ssthresh: 10000, InRecovery: true, DupAcks: 4}},
				{dup: true, flight: 16500, state: state{Cwnd: 12500, Ssthresh: 10000, InRecovery: true, DupAcks: 5}},
				// A huge partial ACK never drops cwnd below one MSS.
				{acked: 15500, flight: 1000, retransmit: true, state: state{Cwnd: 1000, Ssthresh: 10000, InRecovery: true, DupAcks: 5}},
				// Full ACK: cwnd = min(ssthresh, max(flight, MSS) + MSS).
				{acked: 1000, flight: 0, state: state{Cwnd: 2000, Ssthresh: 10000}},
				// Then slow start up to ssthresh.
				{acked: 1000, state: state{Cwnd: 3000, Ssthresh: 10000}},
			},
		},
		{
			name: "full ACK with new data in flight deflates to ssthresh",
			steps: []step{
				{acked: 20000, flight: 15000, state: state{Cwnd: 10000, Ssthresh: 10000}},
				// Congestion avoidance: 10 MSS acked for one more MSS.
				{acked: 9000, flight: 6000, state: state{Cwnd: 10000, Ssthresh: 10000}},
				{acked: 1000, flight: 5000, state: state{Cwnd: 11000, Ssthresh: 10000}},
			},
		},
		{
			name: "full ACK beyond recover",
			steps: []step{
				{acked: 22000, flight: 0, state: state{Cwnd: 2000, Ssthresh: 10000}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewNewReno(testMSS)
			una := uint32(iss)
			sndNxt := una + 20000
			for range DupAckThreshold - 1 {
				c.OnDupAck(20000, una, sndNxt)
			}
			if !c.OnDupAck(20000, una, sndNxt) {
				t.Fatal("third duplicate ACK did not ask for a fast retransmit")
			}
			for i, s := range tt.steps {
				var got bool
				if s.dup {
					got = c.OnDupAck(s.flight, una, sndNxt)
				} else {
					una += uint32(s.acked)
					got = c.OnAck(s.acked, s.flight, una)
				}
				if got != s.retransmit {
					t.Errorf("step %d: retransmit %v, want %v", i, got, s.retransmit)
				}
				if diff := cmp.Diff(s.state, stateOf(&c)); diff != "" {
					t.Errorf("step %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestNewRenoTimeout(t *testing.T) {
	c := NewNewReno(testMSS)
	for range DupAckThreshold {
		c.OnDupAck(40000, 0, 40000)
	}
	c.OnTimeout(40000, 40000)
	if diff := cmp.Diff(state{Cwnd: 1000, Ssthresh: 20000}, stateOf(&c)); diff != "" {
		t.Errorf("first timeout (-want +got):\n%s", diff)
	}
	// Backed-off expiry of the same data: ssthresh is not lowered again.
	c.OnTimeout(40000, 40000)
	if diff := cmp.Diff(state{Cwnd: 1000, Ssthresh: 20000}, stateOf(&c)); diff != "" {
		t.Errorf("second timeout (-want +got):\n%s", diff)
	}
	// Slow start from the loss window.
	c.OnAck(1000, 0, 1000)
	c.OnAck(1000, 0, 2000)
	if c.Cwnd() != 3000 {
		t.Errorf("cwnd after two ACKs: %d, want 3000", c.Cwnd())
	}
	// After an ACK of new data, a timeout computes ssthresh afresh.
	c.OnTimeout(3000, 40000)
	if diff := cmp.Diff(state{Cwnd: 1000, Ssthresh: 2000}, stateOf(&c)); diff != "" {
		t.Errorf("timeout after progress (-want +got):\n%s", diff)
	}
}

// TestNewRenoNoReentry is the RFC 6582 3.2 step 2 "bugfix": duplicate ACKs
// below the recover point of the last fast recovery or timeout do not start
// another fast retransmit.
func TestNewRenoNoReentry(t *testing.T) {
	t.Run("after timeout", func(t *testing.T) {
		c := NewNewReno(testMSS)
		const sndMax = 30000
		c.OnTimeout(30000, sndMax)
		ssthresh := c.Ssthresh()
		// Go-back-N: the retransmission of 0..1000 is ACKed, and the
		// receiver, holding 2000..30000, repeats ACK 1000 for the
		// retransmissions it already has.
		c.OnAck(1000, 1000, 1000)
		for i := range 6 {
			if c.OnDupAck(1000, 1000, sndMax) {
				t.Fatalf("dup ACK %d below recover started a fast retransmit", i+1)
			}
		}
		if c.InRecovery() || c.Ssthresh() != ssthresh {
			t.Fatalf("below recover: %+v, want ssthresh %d and no recovery", stateOf(&c), ssthresh)
		}
		// Past recover, a new loss is recovered by fast retransmit again.
		c.OnAck(sndMax-1000, 0, sndMax)
		for range DupAckThreshold - 1 {
			c.OnDupAck(10000, sndMax, sndMax+10000)
		}
		if !c.OnDupAck(10000, sndMax, sndMax+10000) {
			t.Fatalf("third dup ACK past recover did not start a fast retransmit: %+v", stateOf(&c))
		}
	})
	t.Run("at the recover point", func(t *testing.T) {
		// A full ACK exactly at recover, then the first new segment is lost:
		// the duplicates carry ACK == recover and do start fast retransmit.
		c := NewNewReno(testMSS)
		for range DupAckThreshold {
			c.OnDupAck(20000, 0, 20000)
		}
		c.OnAck(20000, 8000, 20000)
		for range DupAckThreshold - 1 {
			c.OnDupAck(8000, 20000, 28000)
		}
		if !c.OnDupAck(8000, 20000, 28000) {
			t.Fatalf("third dup ACK at recover did not start a fast retransmit: %+v", stateOf(&c))
		}
	})
	t.Run("across sequence wrap", func(t *testing.T) {
		c := NewNewReno(testMSS)
		una := uint32(0xffff_ff00)
		c.OnTimeout(20000, una+20000) // recover wraps to 0x4d20
		for range 5 {
			if c.OnDupAck(20000, una, una+20000) {
				t.Fatal("dup ACK below a wrapped recover started a fast retransmit")
			}
		}
		c.OnAck(20000, 0, una+20000)
		for range DupAckThreshold - 1 {
			c.OnDupAck(5000, una+20000, una+25000)
		}
		if !c.OnDupAck(5000, una+20000, una+25000) {
			t.Fatal("third dup ACK past a wrapped recover did not start a fast retransmit")
		}
	})
	t.Run("an ACK resets the count", func(t *testing.T) {
		c := NewNewReno(testMSS)
		c.OnDupAck(20000, 0, 20000)
		c.OnDupAck(20000, 0, 20000)
		c.OnAck(1000, 19000, 1000)
		c.OnDupAck(19000, 1000, 20000)
		if c.OnDupAck(19000, 1000, 20000) || c.DupAcks() != 2 {
			t.Fatalf("dup ACK count not reset by an ACK of new data: %+v", stateOf(&c))
		}
	})
}

func TestNewRenoWindowBound(t *testing.T) {
	c := NewNewReno(65495)
	ack := uint32(0)
	for range 100000 {
		ack += 65495
		c.OnAck(65495, 0, ack)
	}
	if c.Cwnd() != MaxWindow {
		t.Errorf("cwnd %d, want bound %d", c.Cwnd(), MaxWindow)
	}
}

// sink keeps results alive so the compiler cannot drop the calls measured.
var sink int

func TestZeroAllocs(t *testing.T) {
	c := NewNewReno(1460)
	r := NewRTO(0, 0, 0)
	var ack uint32
	allocs := testing.AllocsPerRun(1000, func() {
		r.Sample(12345678)
		r.Backoff()
		sink += int(r.Timeout() + r.SRTT() + r.RTTVar())
		ack += 1460
		c.OnAck(1460, 14600, ack)
		for range 4 {
			c.OnDupAck(14600, ack, ack+14600)
		}
		c.OnAck(1460, 13140, ack+1460)
		c.OnAck(13140, 0, ack+14600)
		ack += 14600
		c.OnTimeout(14600, ack)
		c.SetMSS(1460)
		sink += c.Cwnd() + c.Ssthresh() + c.DupAcks()
	})
	if allocs != 0 {
		t.Errorf("allocations per run: %v, want 0", allocs)
	}
}

func BenchmarkNewRenoAck(b *testing.B) {
	b.ReportAllocs()
	c := NewNewReno(1460)
	r := NewRTO(0, 0, 0)
	var ack uint32
	for i := range b.N {
		ack += 1460
		if i%64 == 0 {
			for range DupAckThreshold {
				c.OnDupAck(64*1460, ack, ack+64*1460)
			}
		}
		c.OnAck(1460, 32*1460, ack)
		r.Sample(10000000)
	}
	sink += c.Cwnd() + int(r.Timeout())
}
