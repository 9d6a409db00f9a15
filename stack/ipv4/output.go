package ipv4

import (
	"errors"

	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
)

// ErrTooBig is returned for a payload that does not fit one datagram.
var ErrTooBig = errors.New("payload exceeds the IPv4 maximum")

// Send sends the n bytes of transport header and payload written at
// tb.Packet()[20:] from src to dst as protocol proto, on the queue with ID
// queue (the one a reply's request came in on; any other value picks the
// first). It writes the IPv4 header in front and fragments to the MTU.
// Safe for concurrent use; tb stays the caller's.
func (ip *IPv4) Send(queue int, src, dst [4]byte, proto uint8, tb *stack.TxBuffer, n int) error {
	return ip.send(queue, nil, src, dst, proto, tb, n)
}

// SendBatch is Send with the packet staged in b (stack.Stack.WriteIPv4Batch)
// for b's next Flush, on b's queue. A packet that needs fragmenting is
// sent at once.
func (ip *IPv4) SendBatch(b *stack.TxBatch, src, dst [4]byte, proto uint8, tb *stack.TxBuffer, n int) error {
	return ip.send(b.Queue(), b, src, dst, proto, tb, n)
}

func (ip *IPv4) send(queue int, b *stack.TxBatch, src, dst [4]byte, proto uint8, tb *stack.TxBuffer, n int) error {
	if n+header.IPv4MinimumSize > header.IPv4MaximumSize {
		ip.st.sendErrors.Add(1)
		return ErrTooBig
	}
	mtu := ip.s.MTU()
	id := ip.s.NextIPID()
	total := header.IPv4MinimumSize + n
	if total <= mtu {
		header.EncodeIPv4(tb.Packet(), header.IPv4Fields{
			TotalLength: uint16(total), ID: id, TTL: ip.opts.TTL, Protocol: proto, Src: src, Dst: dst,
		})
		var err error
		if b != nil {
			err = ip.s.WriteIPv4Batch(b, dst, tb.Frame(total))
		} else {
			err = ip.s.WriteIPv4(queue, dst, tb.Frame(total))
		}
		if err != nil {
			ip.st.sendErrors.Add(1)
			return err
		}
		ip.st.sent.Add(1)
		return nil
	}
	// ip_fragment: payload chunks of a multiple of 8 bytes, each behind a
	// copy of the header with its offset and MF.
	payload := tb.Packet()[header.IPv4MinimumSize:total]
	chunk := (mtu - header.IPv4MinimumSize) &^ 7
	fb := ip.s.GetTxBuffer()
	defer ip.s.PutTxBuffer(fb)
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		var flags uint8
		if end < len(payload) {
			flags = header.IPv4FlagMoreFragments
		}
		pkt := fb.Packet()
		header.EncodeIPv4(pkt, header.IPv4Fields{
			TotalLength: uint16(header.IPv4MinimumSize + end - off), ID: id, Flags: flags, FragmentOffset: uint16(off),
			TTL: ip.opts.TTL, Protocol: proto, Src: src, Dst: dst,
		})
		copy(pkt[header.IPv4MinimumSize:], payload[off:end])
		if err := ip.s.WriteIPv4(queue, dst, fb.Frame(header.IPv4MinimumSize+end-off)); err != nil {
			ip.st.sendErrors.Add(1)
			return err
		}
		ip.st.sentFrags.Add(1)
	}
	ip.st.sent.Add(1)
	return nil
}
