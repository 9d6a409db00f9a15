package header

import "encoding/binary"

// ICMPv4MinimumSize is the size of the fixed ICMPv4 header.
const ICMPv4MinimumSize = 8

// ICMPv4 message types.
const (
	ICMPv4EchoReply      = 0
	ICMPv4DstUnreachable = 3
	ICMPv4Echo           = 8
	ICMPv4TimeExceeded   = 11
)

// Codes of ICMPv4DstUnreachable.
const (
	ICMPv4PortUnreachable     = 3
	ICMPv4FragmentationNeeded = 4
)

// ICMPv4 is a view of an ICMPv4 message (RFC 792): the 8-byte header and the
// message body.
//
// Accessors assume IsValid returned true and panic otherwise. The view does
// not copy.
type ICMPv4 []byte

// IsValid reports whether b holds the 8-byte ICMPv4 header. It does not
// check the checksum or the type.
func (b ICMPv4) IsValid() bool { return len(b) >= ICMPv4MinimumSize }

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[0] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[1] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Ident returns the identifier of an echo or echo reply (bytes 4-5).
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Sequence returns the sequence number of an echo or echo reply (bytes 6-7).
func (b ICMPv4) Sequence() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the bytes after the 8-byte header.
func (b ICMPv4) Payload() []byte { return b[ICMPv4MinimumSize:] }

// SetType sets the message type. The checksum is not updated.
func (b ICMPv4) SetType(v uint8) { b[0] = v }

// SetCode sets the message code. The checksum is not updated.
func (b ICMPv4) SetCode(v uint8) { b[1] = v }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// IsChecksumValid reports whether the checksum over the whole message, b,
// verifies. ICMPv4 has no pseudo header.
func (b ICMPv4) IsChecksumValid() bool { return Checksum(b, 0) == 0xffff }

// EncodeICMPv4 writes an 8-byte ICMPv4 header to b with the checksum field
// zero; rest fills bytes 4-7 (identifier and sequence for echo, unused or
// next-hop MTU for errors). The caller computes the checksum over header and
// payload: b.SetChecksum(^Checksum(msg, 0)).
func EncodeICMPv4(b []byte, typ, code uint8, rest uint32) {
	_ = b[ICMPv4MinimumSize-1]
	b[0] = typ
	b[1] = code
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint32(b[4:8], rest)
}
