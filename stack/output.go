package stack

import (
	"github.com/rxpath/rxpath/stack/header"
)

// TxBuffer is scratch space for building one outgoing packet, with
// EthernetSize bytes of headroom for the link header. Get one with
// GetTxBuffer and return it with PutTxBuffer; it must not be used after.
type TxBuffer struct {
	b []byte
}

// Packet returns the buffer's IPv4 area (after the link headroom), large
// enough for a 65535-byte datagram.
func (t *TxBuffer) Packet() []byte { return t.b[header.EthernetSize:] }

// Frame returns the first EthernetSize+n bytes: the frame for an n-byte
// IPv4 packet written into Packet.
func (t *TxBuffer) Frame(n int) []byte { return t.b[:header.EthernetSize+n] }

// GetTxBuffer returns a transmit scratch buffer. Safe for concurrent use.
func (s *Stack) GetTxBuffer() *TxBuffer { return s.txPool.Get().(*TxBuffer) }

// PutTxBuffer returns a buffer from GetTxBuffer.
func (s *Stack) PutTxBuffer(t *TxBuffer) { s.txPool.Put(t) }

// WriteIPv4 sends frame, an IPv4 packet behind EthernetSize bytes of
// headroom, to next hop dst: it resolves the link address, writes the
// Ethernet header and transmits on the queue with ID queue, the one a
// reply's request arrived on (any other value picks the first queue). When the neighbour is still being resolved, a copy of
// the frame waits for the ARP reply. Safe for concurrent use.
func (s *Stack) WriteIPv4(queue int, dst [4]byte, frame []byte) error {
	var mac header.MAC
	switch {
	case s.IsBroadcast(dst) || dst[0]&0xf0 == 0xe0:
		mac = header.BroadcastMAC
		if dst[0]&0xf0 == 0xe0 { // RFC 1112 multicast mapping
			mac = header.MAC{0x01, 0x00, 0x5e, dst[1] & 0x7f, dst[2], dst[3]}
		}
	case !s.OnLink(dst):
		if !s.hasGW {
			s.st.txNoRoute.Add(1)
			return ErrNoRoute
		}
		mac = s.gateway
	default:
		var ok bool
		var err error
		mac, ok, err = s.neigh.resolve(queue, dst, frame)
		if !ok {
			return err // queued (nil) or refused
		}
	}
	header.EncodeEthernet(frame, mac, s.mac, header.EtherTypeIPv4)
	return s.transmit(queue, frame)
}

// transmit hands a complete frame to the link.
func (s *Stack) transmit(queue int, frame []byte) error {
	lb := s.link.Load()
	if lb == nil {
		return ErrNotAttached
	}
	if !lb.l.WritePacket(queue, frame) {
		s.st.txRingFull.Add(1)
		return ErrTxFull
	}
	s.st.txFrames.Add(1)
	return nil
}
