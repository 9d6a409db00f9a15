package cc

// DefaultMSS is the sender MSS assumed when none is known (RFC 9293 3.7.1).
const DefaultMSS = 536

// MaxWindow bounds the congestion window and ssthresh: the largest window a
// TCP peer can advertise (65535 << 14, rounded up). It is also the initial
// ssthresh, "arbitrarily high" as RFC 5681 3.1 asks.
const MaxWindow = 1 << 30

// DupAckThreshold is the number of duplicate ACKs that triggers fast
// retransmit (RFC 5681 3.2).
const DupAckThreshold = 3

// NewReno is the congestion control of one connection: slow start and
// congestion avoidance of RFC 5681, with the fast retransmit and fast
// recovery of RFC 6582 (NewReno). Windows are counted in bytes.
//
// The connection reports three kinds of event:
//
//   - OnAck for every ACK that advances SND.UNA;
//   - OnDupAck for every duplicate ACK as RFC 5681 2 defines it (ACK number
//     equal to SND.UNA, data outstanding, no payload, no SYN or FIN, the
//     advertised window unchanged);
//   - OnTimeout when the retransmission timer expires.
//
// OnAck and OnDupAck return true when the first unacknowledged segment
// must be retransmitted now: on the third duplicate ACK (fast retransmit)
// and on each partial ACK during fast recovery. Besides that the caller
// sends new data while the bytes in flight are below Cwnd (and the peer's
// window allows).
//
// Use NewNewReno; the zero value is not ready. A NewReno is not safe for
// concurrent use.
type NewReno struct {
	mss      int
	cwnd     int
	ssthresh int

	// bytesAcked counts acknowledged bytes in congestion avoidance; cwnd
	// grows by one MSS each time it reaches cwnd (RFC 5681 3.1, byte
	// counting), about one MSS per round trip whatever the ACK pattern.
	bytesAcked int
	dupAcks    int

	// recover is the RFC 6582 recover point: SND.NXT when fast recovery was
	// entered or the retransmission timer last expired. While haveRecover
	// is set, fast retransmit is not entered again until the cumulative ACK
	// reaches recover; it is cleared once an ACK does, so a long transfer
	// never compares sequence numbers that drifted 2^31 apart.
	recover     uint32
	haveRecover bool
	inRecovery  bool

	timeouts int  // consecutive expirations without an ACK of new data
	started  bool // an ACK or a loss was seen: SetMSS keeps cwnd
}

// NewNewReno returns the congestion state of a new connection: the initial
// window of RFC 6928, min(10 MSS, max(2 MSS, 14600)), and an arbitrarily
// high ssthresh (MaxWindow). An mss of zero or less selects DefaultMSS.
func NewNewReno(mss int) NewReno {
	if mss <= 0 {
		mss = DefaultMSS
	}
	return NewReno{mss: mss, cwnd: initialWindow(mss), ssthresh: MaxWindow}
}

func initialWindow(mss int) int {
	return min(10*mss, max(2*mss, 14600))
}

// SetMSS changes the sender MSS, as when the peer's MSS option arrives or
// path MTU discovery lowers it. Before any ACK or loss the initial window is
// recomputed for the new MSS; afterwards cwnd is kept (but never below one
// MSS). An mss of zero or less selects DefaultMSS.
func (c *NewReno) SetMSS(mss int) {
	if mss <= 0 {
		mss = DefaultMSS
	}
	c.mss = mss
	if !c.started {
		c.cwnd = initialWindow(mss)
		return
	}
	c.cwnd = max(c.cwnd, mss)
}

// OnAck handles an ACK that acknowledges new data: acked is by how many
// bytes it advanced SND.UNA, flightSize the bytes still outstanding after
// it, ack its cumulative acknowledgment number (the new SND.UNA).
//
// Outside fast recovery cwnd grows: by min(acked, MSS) in slow start
// (cwnd < ssthresh; RFC 3465 byte counting with L = 1 MSS), by one MSS per
// cwnd bytes acknowledged in congestion avoidance. It returns false.
//
// In fast recovery (RFC 6582 3.2 step 3):
//
//   - a full ACK, one that reaches the recover point, deflates cwnd to
//     min(ssthresh, max(flightSize, MSS) + MSS), leaves fast recovery and
//     returns false;
//   - a partial ACK deflates cwnd by acked, adds back one MSS if acked is
//     at least one MSS, stays in fast recovery and returns true: the caller
//     retransmits the first unacknowledged segment now.
//
// The caller restarts the retransmission timer on every ACK of new data
// (RFC 6298 5.3), partial ACKs included: the "Slow-but-Steady" variant of
// RFC 6582 4. An acked of zero or less is ignored.
func (c *NewReno) OnAck(acked, flightSize int, ack uint32) (retransmit bool) {
	if acked <= 0 {
		return false
	}
	c.started = true
	c.timeouts = 0
	if c.inRecovery {
		if seqGEQ(ack, c.recover) {
			c.cwnd = min(c.ssthresh, max(flightSize, c.mss)+c.mss)
			c.inRecovery = false
			c.haveRecover = false
			c.dupAcks = 0
			c.bytesAcked = 0
			return false
		}
		c.cwnd -= acked
		if acked >= c.mss {
			c.cwnd += c.mss
		}
		c.cwnd = max(c.cwnd, c.mss)
		return true
	}
	c.dupAcks = 0
	if c.haveRecover && seqGEQ(ack, c.recover) {
		c.haveRecover = false
	}
	if c.cwnd < c.ssthresh {
		c.cwnd += min(acked, c.mss)
	} else {
		c.bytesAcked += acked
		if c.bytesAcked >= c.cwnd {
			c.bytesAcked -= c.cwnd
			c.cwnd += c.mss
		}
		c.bytesAcked = min(c.bytesAcked, c.cwnd)
	}
	c.cwnd = min(c.cwnd, MaxWindow)
	return false
}

// OnDupAck handles a duplicate ACK: flightSize is the bytes outstanding,
// ack the ACK number (SND.UNA), sndNxt the sequence number after the
// highest one sent (SND.NXT; a sender that rewinds SND.NXT for go-back-N
// passes the highest one it ever sent).
//
// On the third duplicate ACK it enters fast retransmit and fast recovery
// (RFC 5681 3.2 steps 2 and 3): ssthresh = max(flightSize/2, 2 MSS),
// cwnd = ssthresh + 3 MSS, recover = sndNxt, and it returns true: the
// caller retransmits the first unacknowledged segment now. It does not when
// ack has not reached the recover point of the previous fast recovery or
// timeout (RFC 6582 3.2 step 2): those duplicates are echoes of segments
// already retransmitted, not a new loss. In fast recovery each further
// duplicate ACK inflates cwnd by one MSS (RFC 5681 3.2 step 4), which lets
// the caller send new data as segments leave the network.
func (c *NewReno) OnDupAck(flightSize int, ack, sndNxt uint32) (retransmit bool) {
	c.started = true
	c.dupAcks++
	if c.inRecovery {
		c.cwnd = min(c.cwnd+c.mss, MaxWindow)
		return false
	}
	if c.dupAcks != DupAckThreshold {
		return false
	}
	if c.haveRecover && !seqGEQ(ack, c.recover) {
		return false
	}
	c.ssthresh = max(flightSize/2, 2*c.mss)
	c.cwnd = min(c.ssthresh+DupAckThreshold*c.mss, MaxWindow)
	c.recover = sndNxt
	c.haveRecover = true
	c.inRecovery = true
	c.bytesAcked = 0
	return true
}

// OnTimeout handles the expiry of the retransmission timer (RFC 5681 3.1
// equation 4 and RFC 6582 3.2 step 4): ssthresh = max(flightSize/2, 2 MSS),
// cwnd = one MSS (the loss window), fast recovery is left and recover is
// set to sndNxt (as in OnDupAck) so the duplicate ACKs that the
// retransmissions provoke do not start a fast retransmit. On a second and
// later expiry without an ACK of new data in between, ssthresh is kept, as
// RFC 5681 3.1 notes.
func (c *NewReno) OnTimeout(flightSize int, sndNxt uint32) {
	c.started = true
	if c.timeouts == 0 {
		c.ssthresh = max(flightSize/2, 2*c.mss)
	}
	c.timeouts++
	c.cwnd = c.mss
	c.inRecovery = false
	c.dupAcks = 0
	c.bytesAcked = 0
	c.recover = sndNxt
	c.haveRecover = true
}

// Cwnd returns the congestion window in bytes.
func (c *NewReno) Cwnd() int { return c.cwnd }

// Ssthresh returns the slow start threshold in bytes.
func (c *NewReno) Ssthresh() int { return c.ssthresh }

// MSS returns the sender MSS.
func (c *NewReno) MSS() int { return c.mss }

// InRecovery reports whether the connection is in fast recovery.
func (c *NewReno) InRecovery() bool { return c.inRecovery }

// DupAcks returns the number of consecutive duplicate ACKs; a sender doing
// limited transmit (RFC 3042) sends one new segment on the first and the
// second.
func (c *NewReno) DupAcks() int { return c.dupAcks }

// seqGEQ reports whether sequence number a is at or after b, modulo 2^32.
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }
