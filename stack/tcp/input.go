package tcp

import (
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp/internal/ooo"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// tsBefore reports a < b in timestamp space (RFC 7323 §5.2).
func tsBefore(a, b uint32) bool { return int32(a-b) < 0 }

// acceptable is the sequence acceptance test of RFC 9293 §3.10.7.4.
func (c *Conn) acceptable(seg *segment) bool {
	n := seg.seqLen()
	wnd := c.rcvWnd()
	if n == 0 {
		if wnd == 0 {
			return seg.seq == c.rcvNxt
		}
		return seg.seq.InWindow(c.rcvNxt, wnd)
	}
	if wnd == 0 {
		return false
	}
	return seg.seq.InWindow(c.rcvNxt, wnd) || seg.seq.Add(n-1).InWindow(c.rcvNxt, wnd)
}

// handleSegment processes a segment for this connection (c.mu held):
// tcp_rcv_established and tcp_rcv_state_process.
func (c *Conn) handleSegment(seg *segment) {
	t := c.t
	switch c.state {
	case StateClosed:
		t.sendResetFor(seg)
		return
	case StateSynSent:
		c.handleSynSent(seg)
		return
	case StateSynReceived:
		if c.cookieTakeover(seg) {
			return
		}
	}
	// PAWS (RFC 7323 §5.3): a segment with an old timestamp is a stale
	// duplicate. RSTs are exempt.
	if c.tsOK && seg.opts.HasTS && !seg.has(header.TCPFlagRST) && tsBefore(seg.opts.TSVal, c.tsRecent) {
		t.st.pawsRejected.Add(1)
		c.challengeACK()
		return
	}
	if !c.acceptable(seg) {
		switch {
		case seg.has(header.TCPFlagRST):
			t.st.rstOutOfWindow.Add(1)
		case seg.seq == c.rcvNxt.Add(^seqnum.Size(0)) && len(seg.payload) <= 1 && !seg.has(header.TCPFlagSYN|header.TCPFlagFIN):
			// A keepalive probe: SEG.SEQ = RCV.NXT−1 with zero or one
			// byte. Answer it so the peer knows we are alive.
			t.st.keepaliveACKs.Add(1)
			c.sendACK()
		default:
			t.st.outOfWindow.Add(1)
			if len(seg.payload) > 0 && c.rcvWnd() == 0 {
				t.st.zeroWindow.Add(1)
				t.st.beyondWindow.Add(uint64(len(seg.payload)))
				c.sendACK() // a zero-window probe gets the window at once
				return
			}
			c.challengeACK()
		}
		return
	}
	// RST (RFC 5961 §3.2): only a RST exactly at RCV.NXT resets.
	if seg.has(header.TCPFlagRST) {
		if seg.seq != c.rcvNxt {
			t.st.rstInWindow.Add(1)
			if c.challengeACK() {
				t.st.challengeACKs.Add(1)
			}
			return
		}
		t.st.rstAccepted.Add(1)
		if c.state == StateSynReceived {
			t.st.attemptFails.Add(1)
			c.terminate(ErrConnRefused)
			return
		}
		t.st.estabResets.Add(1)
		c.terminate(ErrConnReset)
		return
	}
	// SYN on a synchronized connection (RFC 5961 §4): challenge ACK.
	if seg.has(header.TCPFlagSYN) {
		if c.state == StateSynReceived && seg.seq.Add(1) == c.rcvNxt {
			c.sendSYNACK() // the peer did not get our SYN-ACK
			return
		}
		t.st.synChallenges.Add(1)
		if c.challengeACK() {
			t.st.challengeACKs.Add(1)
		}
		return
	}
	if !seg.has(header.TCPFlagACK) {
		// RFC 9293: "if the ACK bit is off, drop the segment".
		t.st.dataNoACK.Add(1)
		return
	}
	if c.state == StateSynReceived {
		if seg.ack != c.sndNxt {
			t.sendRST(c.queue, c.k, seg.ack, 0, false)
			return
		}
		if !c.completePassiveOpen(seg) {
			return
		}
	} else if c.synOutstanding() {
		// FIN-WAIT-1 after a CLOSE in SYN-RECEIVED: the ACK of our SYN
		// completes the handshake, and processACK's trySend sends the
		// FIN that waited for it.
		if seg.ack != c.iss.Add(1) {
			t.sendRST(c.queue, c.k, seg.ack, 0, false)
			return
		}
		c.stopRTO()
		c.retries = 0
		c.sndUna = seg.ack
		c.sndWnd = uint32(seg.wnd) << c.sndWScale
		c.maxSndWnd = c.sndWnd
		c.sndWl1, c.sndWl2 = seg.seq, seg.ack
		c.setupBuffers()
	}
	// RFC 5961 §5: ACK outside [SND.UNA−MAX.SND.WND, SND.NXT].
	if seg.ack.GreaterThan(c.sndMax()) || seg.ack.LessThan(c.sndUna.Add(-seqnum.Size(max(c.maxSndWnd, 1)))) {
		t.st.ackOutOfRange.Add(1)
		c.challengeACK()
		return
	}
	if c.tsOK && seg.opts.HasTS && seg.seq.LessThanEq(c.rcvNxt) {
		c.tsRecent = seg.opts.TSVal // RFC 7323 §4.3
	}
	c.processACK(seg)
	switch c.state {
	case StateClosed, StateTimeWait:
		return
	}
	c.processData(seg)
	if c.ackNow {
		if c.lp != nil && c.ackDefer {
			c.deferToBatchEnd() // in-order data: the batch's one ACK
		} else {
			c.sendACK()
		}
	}
}

// processACK handles the ACK field: window update, acknowledged data,
// RTT, congestion control and the states that wait for our FIN's ACK.
func (c *Conn) processACK(seg *segment) {
	t := c.t
	ack := seg.ack
	wnd := uint32(seg.wnd) << c.sndWScale
	if c.inFlight() == 0 {
		c.retries = 0 // an answer to our zero-window probes, if any
	}
	// SND.WND update (RFC 9293 §3.10.7.4, fifth check).
	windowChanged := false
	if c.sndWl1.LessThan(seg.seq) || c.sndWl1 == seg.seq && c.sndWl2.LessThanEq(ack) {
		windowChanged = wnd != c.sndWnd
		c.sndWnd, c.sndWl1, c.sndWl2 = wnd, seg.seq, ack
		c.maxSndWnd = max(c.maxSndWnd, wnd)
	}
	if ack.GreaterThan(c.sndUna) {
		acked := int(c.sndUna.Size(ack))
		finAcked := c.finEverSent && ack.GreaterThan(c.finSeqOut)
		data := acked
		if finAcked && c.finSeqOut.GreaterThanEq(c.sndUna) {
			data-- // the FIN's sequence number is not a byte of the buffer
		}
		c.snd.discard(data)
		c.sndUna = ack
		if c.sndNxt.LessThan(ack) {
			c.sndNxt = ack // acknowledged beyond a go-back-N rewind
			if finAcked {
				c.finSent = true
			}
		}
		c.retries = 0
		// RTT: from the echoed timestamp, else Karn's timed segment.
		now := t.clock()
		if c.tsOK && seg.opts.HasTS && seg.opts.TSEcr != 0 {
			if d := int32(c.tsNow() - seg.opts.TSEcr); d >= 0 {
				c.rto.Sample(msDuration(d))
			}
		} else if c.rttTiming && ack.GreaterThan(c.rttSeq) {
			c.rto.Sample(now.Sub(c.rttStart))
		}
		if c.rttTiming && ack.GreaterThan(c.rttSeq) {
			c.rttTiming = false
		}
		if c.nr.OnAck(acked, c.inFlight(), uint32(ack)) {
			c.retransmitFirst() // partial ACK in fast recovery
		}
		if c.inFlight() == 0 {
			c.stopRTO()
		} else {
			c.armRTO()
		}
		c.wakeWriters()
		if finAcked {
			switch c.state {
			case StateFinWait1:
				c.state = StateFinWait2
				if c.userClosed {
					t.timers.Schedule(&c.finWait2, now.Add(t.opts.FinTimeout))
				}
			case StateClosing:
				c.enterTimeWait()
				return
			case StateLastAck:
				c.terminate(nil)
				return
			}
		}
	} else if ack == c.sndUna && len(seg.payload) == 0 && !seg.has(header.TCPFlagFIN) && !windowChanged && c.inFlight() > 0 {
		if c.nr.OnDupAck(c.inFlight(), uint32(ack), uint32(c.sndMax())) {
			t.st.fastRetrans.Add(1)
			c.retransmitFirst()
		}
	}
	c.trySend()
}

// sndMax is the highest sequence number sent plus one. sndHigh starts at
// the first SND.NXT and keeps the high-water mark across go-back-N
// rewinds.
func (c *Conn) sndMax() seqnum.Value {
	if c.sndNxt.GreaterThan(c.sndHigh) {
		c.sndHigh = c.sndNxt
	}
	return c.sndHigh
}

// processData handles the segment text and FIN (RFC 9293 §3.10.7.4,
// seventh and eighth checks).
func (c *Conn) processData(seg *segment) {
	t := c.t
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
	default:
		return // a FIN has been received: nothing more to deliver
	}
	seq, data := seg.seq, seg.payload
	fin := seg.has(header.TCPFlagFIN)
	// In a batch, the ACK that in-order data or a FIN earns waits for the
	// batch end; duplicates, data beyond the window and holes are
	// answered at once (the peer's loss recovery counts those ACKs).
	c.ackDefer = c.lp != nil
	finAt := seg.seq.Add(seqnum.Size(len(seg.payload)))
	if seq.LessThan(c.rcvNxt) { // left edge already received
		d := int(seq.Size(c.rcvNxt))
		d = min(d, len(data))
		t.st.dupBytes.Add(uint64(d))
		data, seq = data[d:], seq.Add(seqnum.Size(d))
		c.ackNow = true
		c.ackDefer = false
	}
	if len(data) > 0 {
		right := c.rcvNxt.Add(c.rcvWnd())
		if end := seq.Add(seqnum.Size(len(data))); end.GreaterThan(right) {
			cut := int(right.Size(end))
			cut = min(cut, len(data))
			t.st.beyondWindow.Add(uint64(cut))
			if cut == len(data) {
				t.st.zeroWindow.Add(1)
			}
			data = data[:len(data)-cut]
			fin = false
			c.ackNow = true
			c.ackDefer = false
		}
	}
	if len(data) > 0 {
		if seq == c.rcvNxt {
			c.deliver(data)
			c.rcvNxt = c.rcvNxt.Add(seqnum.Size(len(data)))
			if c.ofo != nil && !c.ofo.Empty() {
				c.rcvNxt = c.ofo.Pop(c.rcvNxt, c.deliver)
				c.ackNow = true // a gap was filled
			}
			// A full-sized segment, judged like Linux's rcv_mss: the
			// largest segment seen so far (options shrink the payload).
			full := len(seg.payload) >= c.rcvMSS
			c.rcvMSS = max(c.rcvMSS, min(len(seg.payload), c.t.ourMSS()))
			c.scheduleACK(full)
		} else {
			if c.ofo == nil {
				c.ofo = ooo.New(t.opts.RcvBuf)
			}
			stored, dropped := c.ofo.Insert(c.rcvNxt, seq, data)
			if stored > 0 {
				t.st.ofoQueued.Add(1)
			}
			t.st.ofoDropped.Add(uint64(dropped))
			c.ackNow = true // a hole: dup ACK with SACK at once
			c.ackDefer = false
		}
	}
	if fin {
		if finAt == c.rcvNxt {
			c.consumeFIN()
		} else if finAt.GreaterThan(c.rcvNxt) {
			c.finPending, c.finSeq = true, finAt
			c.ackNow = true
		}
	}
	if c.finPending && c.finSeq == c.rcvNxt {
		c.consumeFIN()
	}
}

// deliver hands in-order stream bytes to the reader or the handler.
func (c *Conn) deliver(b []byte) {
	if c.handler != nil {
		c.handler(b)
		return
	}
	c.rcv.write(b)
	if c.lp != nil {
		c.wakePending = true // once, at the end of the batch
		c.deferToBatchEnd()
		return
	}
	c.wakeReaders()
}

// consumeFIN processes the peer's FIN once everything before it arrived.
func (c *Conn) consumeFIN() {
	c.finPending = false
	c.rcvNxt = c.rcvNxt.Add(1)
	c.finReceived = true
	c.ackNow = true
	c.closeDone()
	c.wakeReaders()
	switch c.state {
	case StateEstablished:
		c.state = StateCloseWait
	case StateFinWait1:
		if c.finEverSent && c.sndUna.GreaterThan(c.finSeqOut) {
			c.sendACK()
			c.enterTimeWait()
			return
		}
		c.state = StateClosing // simultaneous close
	case StateFinWait2:
		c.sendACK()
		c.enterTimeWait()
	}
}

// enterTimeWait moves the connection into the TIME_WAIT table and ends it.
func (c *Conn) enterTimeWait() {
	c.t.st.twEntered.Add(1)
	c.t.tw.add(c)
	c.terminate(nil)
}

// handleSynSent processes a segment in SYN-SENT (RFC 9293 §3.10.7.3).
func (c *Conn) handleSynSent(seg *segment) {
	t := c.t
	if seg.has(header.TCPFlagACK) && (seg.ack.LessThanEq(c.iss) || seg.ack.GreaterThan(c.sndNxt)) {
		if !seg.has(header.TCPFlagRST) {
			t.sendRST(c.queue, c.k, seg.ack, 0, false)
		}
		return
	}
	if seg.has(header.TCPFlagRST) {
		if seg.has(header.TCPFlagACK) {
			t.st.attemptFails.Add(1)
			c.terminate(ErrConnRefused)
		}
		return
	}
	if !seg.has(header.TCPFlagSYN) {
		return
	}
	c.irs = seg.seq
	c.rcvNxt = seg.seq.Add(1)
	c.negotiate(&seg.opts, true)
	if c.tsOK {
		c.tsRecent = seg.opts.TSVal
	}
	c.sndWl1, c.sndWl2 = seg.seq, seg.ack
	if seg.has(header.TCPFlagACK) {
		c.sndUna = seg.ack
		c.sndWnd = uint32(seg.wnd) << c.sndWScale
		c.maxSndWnd = c.sndWnd
		c.stopRTO()
		c.establish()
		c.rcvAdvRight = c.rcvNxt
		c.sendACK()
		c.wakeWriters()
		c.processData(seg)
		return
	}
	// Simultaneous open: SYN-SENT → SYN-RECEIVED, answer with a SYN-ACK.
	c.state = StateSynReceived
	c.sndWnd = uint32(seg.wnd)
	c.rcvAdvRight = c.rcvNxt
	c.sendSYNACK()
	c.armRTO()
}

// negotiate applies the peer's SYN options. With active, the window
// scale we offered stands only if the peer offered one too.
func (c *Conn) negotiate(o *header.TCPOptions, active bool) {
	c.mss = defaultMSS
	if o.HasMSS {
		c.mss = max(int(o.MSS), minMSS)
	}
	c.mss = min(c.mss, c.t.ourMSS())
	if o.HasWS {
		c.sndWScale = min(o.WS, 14)
		c.rcvWScale = rcvWScaleFor(c.t.opts.RcvBuf)
	} else {
		c.sndWScale, c.rcvWScale = 0, 0
	}
	c.sackOK = o.SACKPermitted
	c.tsOK = o.HasTS
	_ = active
}

// cookieTakeover hands seg to the listener when it completes a SYN-cookie
// handshake on the 4-tuple of c, a half-open connection of that listener,
// and reports whether it did. Under a SYN flood from the client's own
// address (hping3 -S walks every source port), the listener answers a
// client's SYN with a cookie and keeps nothing; the flood's next SYN on
// that 4-tuple then finds room in the SYN queue and makes c, which holds
// the 4-tuple: every segment of the client, its cookie ACK included,
// reaches c, is out of its window and gets at most a rate-limited
// challenge ACK, and the client, established on its side, retransmits
// until c gives up (SynRetries, about a minute) and then until cookie
// mode ends. A segment that passes the cookie check cannot be c's (c's
// ISS is no cookie) and cannot be forged without the secret: c goes
// quietly, and the handshake the client completed takes its place.
func (c *Conn) cookieTakeover(seg *segment) bool {
	l, t := c.l, c.t
	if l == nil || !seg.has(header.TCPFlagACK) || seg.has(header.TCPFlagSYN|header.TCPFlagRST) || seg.ack == c.sndNxt {
		return false
	}
	p, ok := t.cookies.Check(tuple(seg.k), uint32(seg.seq), uint32(seg.ack), seg.opts.HasTS, seg.opts.TSEcr, t.clock())
	if !ok {
		return false
	}
	t.st.cookieTakeovers.Add(1)
	t.st.attemptFails.Add(1)
	c.terminate(ErrConnRefused)
	l.acceptCookie(seg, p)
	return true
}
