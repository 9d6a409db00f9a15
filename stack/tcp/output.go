package tcp

import (
	"time"

	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp/internal/ooo"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// tsNow is our timestamp clock for this connection (ms, offset per
// connection so it does not leak uptime).
func (c *Conn) tsNow() uint32 { return c.t.cookies.TSNow() + c.tsOffset }

// rcvSpace is the free receive buffer, capped by the connection's share
// of Options.RcvMem: what the window may offer.
func (c *Conn) rcvSpace() int {
	used := c.rcv.len()
	if c.ofo != nil {
		used += c.ofo.Mem()
	}
	return max(0, min(c.t.opts.RcvBuf-used, c.rcvShare()))
}

// rcvShare is the window c may offer under Options.RcvMem: an equal share
// among the connections past the handshake, c counted in even before it
// is (a SYN-ACK offers the share the connection will have).
func (c *Conn) rcvShare() int {
	t := c.t
	if t.opts.RcvMem <= 0 {
		return t.opts.RcvBuf
	}
	n := t.sharing.Load()
	if !c.shared {
		n++
	}
	return max(t.opts.RcvMem/max(int(n), 1), 4*t.ourMSS())
}

// rcvWindow computes the window field to advertise and remembers the
// right edge. The right edge never moves left (RFC 9293 §3.8.6.2.2).
func (c *Conn) rcvWindow() uint16 {
	space := c.rcvSpace()
	if adv := int(c.rcvNxt.Size(c.rcvAdvRight)); c.rcvAdvRight.GreaterThan(c.rcvNxt) && adv > space {
		space = adv
	}
	w := min(space>>c.rcvWScale, 0xffff)
	c.rcvAdvRight = c.rcvNxt.Add(seqnum.Size(w << c.rcvWScale))
	return uint16(w)
}

// rcvWnd is the window currently open to the peer (RCV.WND).
func (c *Conn) rcvWnd() seqnum.Size {
	if c.rcvAdvRight.LessThanEq(c.rcvNxt) {
		return 0
	}
	return c.rcvNxt.Size(c.rcvAdvRight)
}

// segment options for a non-SYN segment: timestamps and SACK blocks.
func (c *Conn) encodeOptions(b []byte, withSACK bool) int {
	var o header.TCPOptions
	if c.tsOK {
		o.HasTS, o.TSVal, o.TSEcr = true, c.tsNow(), c.tsRecent
	}
	if withSACK && c.sackOK && c.ofo != nil && !c.ofo.Empty() {
		var blocks [4]ooo.Block
		n := c.ofo.SACK(blocks[:])
		for i := 0; i < n; i++ {
			o.SACK[i] = header.SACKBlock{Start: uint32(blocks[i].Start), End: uint32(blocks[i].End)}
		}
		o.NumSACK = n
	}
	if !o.HasTS && o.NumSACK == 0 {
		return 0
	}
	return header.EncodeTCPOptions(b, o)
}

// sendSegment sends one segment of the connection with the current ACK
// and window, carrying payload (which may be empty).
func (c *Conn) sendSegment(flags uint8, seq seqnum.Value, payload []byte, sack bool) {
	var ob [40]byte
	on := c.encodeOptions(ob[:], sack)
	c.sendWithOptions(flags|header.TCPFlagACK, seq, ob[:on], payload, 0, 0)
}

// sendData sends n bytes of the send buffer starting off bytes after
// SND.UNA, copied straight from the buffer into the frame.
func (c *Conn) sendData(flags uint8, seq seqnum.Value, off, n int) {
	var ob [40]byte
	on := c.encodeOptions(ob[:], true)
	c.sendWithOptions(flags|header.TCPFlagACK, seq, ob[:on], nil, off, n)
}

func (c *Conn) sendWithOptions(flags uint8, seq seqnum.Value, opts, payload []byte, sndOff, sndLen int) {
	t := c.t
	f := header.TCPFields{SrcPort: c.k.lport, DstPort: c.k.rport, Seq: uint32(seq), Flags: flags, Options: opts}
	if flags&header.TCPFlagACK != 0 {
		f.Ack = uint32(c.rcvNxt)
		f.Window = c.rcvWindow()
	} else {
		f.Window = uint16(min(c.t.opts.RcvBuf, 0xffff))
	}
	tb := t.s.GetTxBuffer()
	defer t.s.PutTxBuffer(tb)
	b := tb.Packet()[header.IPv4MinimumSize:]
	hl := header.EncodeTCP(b, f)
	n := hl + copy(b[hl:], payload)
	if sndLen > 0 {
		n += c.snd.peek(sndOff, b[n:n+sndLen])
	}
	h := header.TCP(b[:n])
	h.SetChecksum(header.TCPChecksum(h, c.k.laddr, c.k.raddr))
	t.st.outSegs.Add(1)
	if c.lp != nil && n == hl && flags&(header.TCPFlagFIN|header.TCPFlagRST) == 0 {
		// A pure ACK or SYN-ACK in a receive batch: staged, and sent
		// with the batch's others in one call at its end.
		t.ip.SendBatch(c.lp.tx, c.k.laddr, c.k.raddr, ipv4.ProtoTCP, tb, n)
	} else {
		t.ip.Send(c.queue, c.k.laddr, c.k.raddr, ipv4.ProtoTCP, tb, n)
	}
	if flags&header.TCPFlagACK != 0 {
		c.unackedSegs, c.ackNow = 0, false
		c.delackAt = 0 // the armed entry, if any, finds nothing to do
	}
}

// sendACK sends a pure ACK now.
func (c *Conn) sendACK() { c.sendSegment(0, c.sndNxt, nil, true) }

// sendRSTLocked resets the connection from our side.
func (c *Conn) sendRSTLocked() {
	c.t.st.outRsts.Add(1)
	c.t.sendRST(c.queue, c.k, c.sndNxt, c.rcvNxt, true)
}

// challengeACK sends an ACK subject to the per-connection rate limit
// (RFC 5961 §7; Linux's tcp_invalid_ratelimit). It reports whether it
// sent.
func (c *Conn) challengeACK() bool {
	now := c.t.clock()
	if !c.lastDupAck.IsZero() && now.Sub(c.lastDupAck) < c.t.opts.ChallengeAckInterval {
		c.t.st.challengeLimited.Add(1)
		return false
	}
	c.lastDupAck = now
	c.sendACK()
	return true
}

// sendSYNACK sends (or resends) the SYN-ACK of a passive open.
func (c *Conn) sendSYNACK() {
	o := header.TCPOptions{MSS: uint16(c.t.ourMSS()), HasMSS: true}
	if c.sndWScale != 0 || c.rcvWScale != 0 || c.wsOK() {
		o.HasWS, o.WS = true, c.rcvWScale
	}
	o.SACKPermitted = c.sackOK
	if c.tsOK {
		o.HasTS, o.TSVal, o.TSEcr = true, c.tsNow(), c.tsRecent
	}
	var ob [40]byte
	n := header.EncodeTCPOptions(ob[:], o)
	c.sendWithOptions(header.TCPFlagSYN|header.TCPFlagACK, c.iss, ob[:n], nil, 0, 0)
}

// wsOK reports whether window scaling was negotiated.
func (c *Conn) wsOK() bool { return c.rcvWScale != 0 || c.sndWScale != 0 }

// inFlight is the number of sequence numbers sent and not acknowledged.
func (c *Conn) inFlight() int { return int(c.sndUna.Size(c.sndNxt)) }

// unsent returns the bytes queued but never sent.
func (c *Conn) unsent() int {
	sentData := c.inFlight()
	if c.finSent {
		sentData--
	}
	return c.snd.len() - sentData
}

// trySend sends new data (and the FIN) as far as the congestion and
// receive windows allow. Nagle is off: request/response traffic wants its
// last small segment at once.
func (c *Conn) trySend() {
	if c.state != StateEstablished && c.state != StateCloseWait && c.state != StateFinWait1 && c.state != StateLastAck && c.state != StateClosing {
		return
	}
	if c.synOutstanding() {
		return // a CLOSE in SYN-RECEIVED: the FIN follows the ACK of our SYN
	}
	sent := false
	for c.unsent() > 0 {
		wnd := min(uint32(c.nr.Cwnd()), c.sndWnd)
		flight := uint32(c.inFlight())
		if flight >= wnd {
			break
		}
		n := min(c.unsent(), c.mss, int(wnd-flight))
		off := int(c.sndUna.Size(c.sndNxt))
		flags := uint8(0)
		if n == c.unsent() {
			flags = header.TCPFlagPSH
		}
		if !c.rttTiming {
			c.rttTiming, c.rttSeq, c.rttStart = true, c.sndNxt, c.t.clock()
		}
		c.sendData(flags, c.sndNxt, off, n)
		c.sndNxt = c.sndNxt.Add(seqnum.Size(n))
		sent = true
	}
	if c.finQueued && !c.finSent && c.unsent() == 0 {
		c.sendSegment(header.TCPFlagFIN, c.sndNxt, nil, true)
		c.finSeqOut, c.finEverSent = c.sndNxt, true
		c.sndNxt = c.sndNxt.Add(1)
		c.finSent = true
		sent = true
	}
	if sent && c.rtxAt == 0 {
		c.armRTO()
	}
	if c.unsent() > 0 && c.sndWnd == 0 && c.rtxAt == 0 {
		c.armRTO() // persist: probe the zero window when it fires
	}
}

func (c *Conn) armRTO() {
	at := c.t.clock().Add(c.rto.Timeout())
	c.rtxAt = at.UnixNano()
	if c.rtxSched == 0 || c.rtxAt < c.rtxSched {
		c.rtxSched = c.rtxAt
		c.t.timers.Schedule(&c.rtx, at)
	}
}

// stopRTO disarms the retransmission timer: the entry, if scheduled,
// finds no deadline when it fires.
func (c *Conn) stopRTO() { c.rtxAt = 0 }

// retransmitFirst resends the first unacknowledged segment.
func (c *Conn) retransmitFirst() {
	c.t.st.retransSegs.Add(1)
	c.rttTiming = false // Karn: no samples from retransmitted data
	if c.state == StateSynReceived {
		c.sendSYNACK()
		return
	}
	dataInFlight := c.inFlight()
	if c.finSent {
		dataInFlight--
	}
	if dataInFlight <= 0 {
		if c.finSent {
			c.sendSegment(header.TCPFlagFIN, c.sndUna, nil, true)
		}
		return
	}
	c.sendData(0, c.sndUna, 0, min(dataInFlight, c.mss))
}

// onRetransmitTimer is the RTO (and zero-window persist) timer.
func (c *Conn) onRetransmitTimer(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A callback taken off the heap runs even if the timer was re-armed
	// meanwhile: then it is not due yet.
	c.rtxSched = 0
	if c.state == StateClosed || c.state == StateTimeWait || c.rtxAt == 0 {
		return
	}
	if at := c.rtxAt; at > now.UnixNano() {
		c.rtxSched = at // re-armed since it was scheduled: not due yet
		c.t.timers.Schedule(&c.rtx, time.Unix(0, at))
		return
	}
	c.rtxAt = 0
	if c.inFlight() == 0 {
		if c.unsent() > 0 && c.sndWnd == 0 {
			// Zero-window probe, as Linux's tcp_xmit_probe_skb: an
			// empty segment at SND.UNA−1, which the peer answers with
			// its window. (A byte beyond the window would be taken by
			// a peer whose window update was lost, and its ACK, beyond
			// SND.NXT, discarded: we would probe forever.) A peer that
			// answers none of MaxRetries probes is gone, as in
			// tcp_probe_timer; processACK resets the count.
			c.retries++
			if c.retries > c.t.opts.MaxRetries {
				c.t.st.abortOnTimeout.Add(1)
				c.sendRSTLocked()
				c.terminate(ErrTimeout)
				return
			}
			c.sendSegment(0, c.sndUna.Add(^seqnum.Size(0)), nil, false)
			c.rto.Backoff()
			c.armRTO()
		}
		return
	}
	c.retries++
	if c.state == StateSynReceived && c.l != nil && c.retries > c.l.opts.SynRetries {
		c.t.st.attemptFails.Add(1)
		c.terminate(ErrTimeout) // a half-open connection goes quietly
		return
	}
	if c.retries > c.t.opts.MaxRetries {
		c.t.st.abortOnTimeout.Add(1)
		c.sendRSTLocked()
		c.terminate(ErrTimeout)
		return
	}
	c.t.st.timeouts.Add(1)
	if c.state == StateSynSent {
		c.t.st.retransSegs.Add(1)
		c.rto.Backoff()
		c.sendSYN()
		c.armRTO()
		return
	}
	c.nr.OnTimeout(c.inFlight(), uint32(c.sndMax()))
	c.rto.Backoff()
	c.t.st.retransSegs.Add(1)
	if c.synOutstanding() { // SYN-RECEIVED, or FIN-WAIT-1 after a CLOSE in it
		c.sendSYNACK()
		c.armRTO()
		return
	}
	// Go back N (RFC 5681 §3.1, RFC 6298 §5.4): resend from SND.UNA as
	// the loss window grows; the receiver discards what it already has.
	c.sndHigh = c.sndMax()
	c.sndNxt = c.sndUna
	c.finSent = false
	c.rttTiming = false
	c.trySend()
	c.armRTO()
}

// onDelayedAck is the delayed-ACK timer: it sends the ACK that waited,
// or re-arms for a deadline set after it was scheduled.
func (c *Conn) onDelayedAck(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delackArmed = false
	if c.state == StateClosed || c.delackAt == 0 {
		return
	}
	if at := c.delackAt; at > now.UnixNano() {
		c.delackArmed = true
		c.t.timers.Schedule(&c.delack, time.Unix(0, at))
		return
	}
	c.delackAt = 0
	if c.unackedSegs == 0 && !c.ackNow {
		return
	}
	c.t.st.delayedACKs.Add(1)
	c.sendACK()
}

// setDelayedAck starts the delayed-ACK wait unless one runs: a field
// write, and a timer entry scheduled only when none is.
func (c *Conn) setDelayedAck() {
	if c.delackAt != 0 {
		return
	}
	at := c.t.clock().Add(c.t.opts.DelayedAck)
	c.delackAt = at.UnixNano()
	if !c.delackArmed {
		c.delackArmed = true
		c.t.timers.Schedule(&c.delack, at)
	}
}

// onFinWait2Timer ends an orphaned connection stuck in FIN-WAIT-2.
func (c *Conn) onFinWait2Timer(time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateFinWait2 && c.userClosed {
		c.terminate(nil)
	}
}

// scheduleACK decides between an immediate and a delayed ACK: every
// second full-sized segment is ACKed at once, others wait DelayedAck. In a
// receive batch the decision is taken once, at the batch end (ackDecision).
func (c *Conn) scheduleACK(fullSized bool) {
	if fullSized {
		c.unackedSegs++
	} else if c.unackedSegs == 0 {
		c.unackedSegs = 1 // a small segment still needs its ACK
	}
	if c.lp != nil {
		c.deferToBatchEnd()
		return
	}
	c.ackDecision()
}

// ackDecision sends the ACK that is due now, or starts the delayed-ACK
// wait for one that is not.
func (c *Conn) ackDecision() {
	switch {
	case c.ackNow || c.unackedSegs >= 2:
		c.sendACK()
	case c.unackedSegs > 0:
		c.setDelayedAck()
	}
}

// maybeWindowUpdate sends a window update once the reader has drained
// enough, by Linux's rule in __tcp_cleanup_rbuf: the window open to the
// peer is at most half of what it can be, and the new one at least twice
// it and larger by a segment at least (a closed window reopening
// included, never a silly window), so a peer stopped or slowed by our
// window resumes. A reader that keeps up with a wide window sends
// nothing: the ACKs of the data carry the window.
func (c *Conn) maybeWindowUpdate() {
	if !c.state.synchronized() || c.state == StateTimeWait || c.finReceived {
		return
	}
	open := int(c.rcvWnd())
	space := c.rcvSpace()
	limit := min(c.t.opts.RcvBuf, c.rcvShare())
	if 2*open <= limit && space >= 2*open && space-open >= c.t.ourMSS() {
		c.t.st.windowUpdates.Add(1)
		c.sendACK()
	}
}
