package ipv4

import (
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
)

// receiveICMP is icmp_rcv for what an end host answers: echo.
func (ip *IPv4) receiveICMP(p *stack.Packet) {
	c := &ip.st
	c.icmpIn.Add(1)
	m := header.ICMPv4(p.Data)
	if !m.IsValid() {
		c.icmpTooShort.Add(1)
		return
	}
	if !m.IsChecksumValid() {
		c.icmpBadChecksum.Add(1)
		return
	}
	if m.Type() != header.ICMPv4Echo {
		c.icmpOtherIgnored.Add(1)
		return
	}
	if p.Broadcast {
		// icmp_echo_ignore_broadcasts: no smurf amplification.
		c.icmpEchoIgnored.Add(1)
		return
	}
	tb := ip.s.GetTxBuffer()
	defer ip.s.PutTxBuffer(tb)
	out := tb.Packet()[header.IPv4MinimumSize:]
	n := copy(out, m)
	r := header.ICMPv4(out[:n])
	r.SetType(header.ICMPv4EchoReply)
	r.SetCode(0)
	r.SetChecksum(0)
	r.SetChecksum(^header.Checksum(r, 0))
	if err := ip.Send(p.Queue, p.Dst, p.Src, ProtoICMP, tb, n); err == nil {
		c.icmpEchoReplies.Add(1)
	}
}

// allowError takes a token from the ICMP error bucket.
func (ip *IPv4) allowError() bool {
	now := ip.s.Now()
	ip.bucketMu.Lock()
	defer ip.bucketMu.Unlock()
	if !ip.last.IsZero() {
		ip.tokens += now.Sub(ip.last).Seconds() * float64(ip.opts.ICMPErrorRate)
		ip.tokens = min(ip.tokens, float64(ip.opts.ICMPErrorBurst))
	}
	ip.last = now
	if ip.tokens < 1 {
		return false
	}
	ip.tokens--
	return true
}

// maxErrorQuote is how much of the offending datagram an ICMP error
// carries beyond its IP header (RFC 1812 allows up to 576 bytes in all).
const maxErrorQuote = 64

// SendUnreachable answers p, a packet delivered to us, with a destination
// unreachable of the given code, subject to the rate limit. Like Linux it
// never answers broadcast or multicast, ICMP errors, or non-first
// fragments.
func (ip *IPv4) SendUnreachable(p *stack.Packet, code uint8) {
	c := &ip.st
	h := p.Network
	if p.Broadcast || h.FragmentOffset() != 0 {
		return
	}
	if h.Protocol() == ProtoICMP {
		if m := header.ICMPv4(p.Data); !m.IsValid() || m.Type() != header.ICMPv4Echo {
			return
		}
	}
	if !ip.allowError() {
		c.icmpRateLimited.Add(1)
		return
	}
	tb := ip.s.GetTxBuffer()
	defer ip.s.PutTxBuffer(tb)
	out := tb.Packet()[header.IPv4MinimumSize:]
	header.EncodeICMPv4(out, header.ICMPv4DstUnreachable, code, 0)
	n := header.ICMPv4MinimumSize
	n += copy(out[n:], h[:h.HeaderLength()])
	n += copy(out[n:], p.Data[:min(len(p.Data), maxErrorQuote)])
	m := header.ICMPv4(out[:n])
	m.SetChecksum(^header.Checksum(m, 0))
	if ip.Send(p.Queue, p.Dst, p.Src, ProtoICMP, tb, n) == nil {
		c.icmpErrorsSent.Add(1)
	}
}
