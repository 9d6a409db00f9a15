package header

import "encoding/binary"

// UDPSize is the size of a UDP header.
const UDPSize = 8

// udpProtocolNumber is the IPv4 protocol number of UDP.
const udpProtocolNumber = 17

// UDP is a view of a UDP datagram (RFC 768): header and payload.
//
// Accessors assume IsValid returned true and may panic otherwise. The view
// does not copy.
type UDP []byte

// IsValid reports whether b holds a UDP header whose length field is at
// least 8 and within b. It never panics.
func (b UDP) IsValid() bool {
	if len(b) < UDPSize {
		return false
	}
	l := int(b.Length())
	return l >= UDPSize && l <= len(b)
}

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Length returns the length field: header plus payload.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Checksum returns the checksum field; zero means no checksum was sent.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns b[8:Length()].
func (b UDP) Payload() []byte { return b[UDPSize:b.Length()] }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// UDPChecksum returns the checksum b should carry: the complemented sum of
// the IPv4 pseudo header and b[:b.Length()], with the checksum field taken
// as zero. A computed zero is returned as 0xffff, since zero on the wire
// means no checksum (RFC 768). b must be valid.
func UDPChecksum(b UDP, src, dst [4]byte) uint16 {
	l := b.Length()
	sum := PseudoHeaderChecksum(udpProtocolNumber, src, dst, l)
	sum = Checksum(b[:6], sum)
	sum = Checksum(b[UDPSize:l], sum)
	if c := ^sum; c != 0 {
		return c
	}
	return 0xffff
}

// IsChecksumValid reports whether the checksum field is zero (the sender
// did not compute one) or verifies against the pseudo header built from src
// and dst. b must be valid.
func (b UDP) IsChecksumValid(src, dst [4]byte) bool {
	if b.Checksum() == 0 {
		return true
	}
	l := b.Length()
	sum := PseudoHeaderChecksum(udpProtocolNumber, src, dst, l)
	return Checksum(b[:l], sum) == 0xffff
}

// EncodeUDP writes an 8-byte UDP header to b with the checksum field zero.
// length covers header and payload.
func EncodeUDP(b []byte, srcPort, dstPort, length uint16) {
	_ = b[UDPSize-1]
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint16(b[4:6], length)
	b[6], b[7] = 0, 0
}
