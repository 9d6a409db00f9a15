package header

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TCPMinimumSize is the size of a TCP header without options.
const TCPMinimumSize = 20

// tcpMaxOptionsSize is the most option bytes a TCP header can carry.
const tcpMaxOptionsSize = 40

// tcpProtocolNumber is the IPv4 protocol number of TCP.
const tcpProtocolNumber = 6

// TCP flags as returned by TCP.Flags.
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
	TCPFlagURG = 0x20
	TCPFlagECE = 0x40
	TCPFlagCWR = 0x80
)

// TCP option kinds (RFC 9293, RFC 7323, RFC 2018).
const (
	TCPOptionEOL           = 0
	TCPOptionNOP           = 1
	TCPOptionMSS           = 2
	TCPOptionWS            = 3
	TCPOptionSACKPermitted = 4
	TCPOptionSACK          = 5
	TCPOptionTS            = 8
)

// Lengths of the options ParseTCPOptions understands, type and length bytes
// included.
const (
	tcpOptionMSSLen           = 4
	tcpOptionWSLen            = 3
	tcpOptionSACKPermittedLen = 2
	tcpOptionTSLen            = 10
	tcpOptionSACKBlockLen     = 8
	tcpMaxSACKBlocks          = 4
)

// TCP is a view of a TCP segment (RFC 9293): header, options and payload.
//
// Accessors assume IsValid returned true and may panic otherwise. The view
// does not copy.
type TCP []byte

// IsValid reports whether b holds a TCP header: at least 20 bytes, with a
// data offset of at least 5 words that stays within b. It never panics.
func (b TCP) IsValid() bool {
	if len(b) < TCPMinimumSize {
		return false
	}
	off := b.DataOffset()
	return off >= TCPMinimumSize && off <= len(b)
}

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// DataOffset returns the header length in bytes, options included.
func (b TCP) DataOffset() int { return int(b[12]>>4) * 4 }

// Flags returns the eight flag bits (TCPFlagFIN ... TCPFlagCWR). The
// historic NS bit in byte 12 is not included.
func (b TCP) Flags() uint8 { return b[13] }

// Window returns the unscaled receive window.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[14:16]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[16:18]) }

// Urgent returns the urgent pointer.
func (b TCP) Urgent() uint16 { return binary.BigEndian.Uint16(b[18:20]) }

// Options returns the option bytes, b[20:DataOffset()].
func (b TCP) Options() []byte { return b[TCPMinimumSize:b.DataOffset()] }

// Payload returns the bytes after the header, b[DataOffset():].
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[16:18], v) }

// TCPChecksum returns the checksum b should carry: the complemented sum of
// the IPv4 pseudo header and all of b, with the checksum field taken as
// zero. b is the whole segment (the IPv4 payload), so len(b) fits 16 bits.
func TCPChecksum(b TCP, src, dst [4]byte) uint16 {
	sum := PseudoHeaderChecksum(tcpProtocolNumber, src, dst, uint16(len(b)))
	sum = Checksum(b[:16], sum)
	sum = Checksum(b[18:], sum)
	return ^sum
}

// IsChecksumValid reports whether the checksum over the pseudo header and
// all of b verifies. TCP has no "no checksum" value.
func (b TCP) IsChecksumValid(src, dst [4]byte) bool {
	sum := PseudoHeaderChecksum(tcpProtocolNumber, src, dst, uint16(len(b)))
	return Checksum(b, sum) == 0xffff
}

// TCPFields holds the values EncodeTCP writes.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Urgent           uint16
	Options          []byte // at most 40 bytes; padded to a multiple of 4
}

// EncodeTCP writes a TCP header to b with the data offset derived from
// f.Options, which are padded with zero (end of option list) bytes to a
// multiple of 4, and the checksum field zero. It returns the header length.
// b must have room for the header; options longer than 40 bytes are a
// programming error and panic.
func EncodeTCP(b []byte, f TCPFields) int {
	if len(f.Options) > tcpMaxOptionsSize {
		panic("header: TCP options longer than 40 bytes")
	}
	hl := TCPMinimumSize + (len(f.Options)+3)&^3
	h := b[:hl]
	binary.BigEndian.PutUint16(h[0:2], f.SrcPort)
	binary.BigEndian.PutUint16(h[2:4], f.DstPort)
	binary.BigEndian.PutUint32(h[4:8], f.Seq)
	binary.BigEndian.PutUint32(h[8:12], f.Ack)
	h[12] = uint8(hl/4) << 4
	h[13] = f.Flags
	binary.BigEndian.PutUint16(h[14:16], f.Window)
	h[16], h[17] = 0, 0
	binary.BigEndian.PutUint16(h[18:20], f.Urgent)
	n := copy(h[TCPMinimumSize:], f.Options)
	clear(h[TCPMinimumSize+n:])
	return hl
}

// SACKBlock is one selective acknowledgment block: the bytes from Start up
// to, not including, End (RFC 2018).
type SACKBlock struct {
	Start, End uint32
}

// TCPOptions holds the TCP options the stack understands. Each Has field
// (or SACKPermitted, NumSACK) says whether the option was present. Entries
// of SACK from NumSACK on are zero after ParseTCPOptions.
type TCPOptions struct {
	MSS           uint16
	HasMSS        bool
	WS            uint8 // shift count as sent; RFC 7323 says to use 14 for larger values
	HasWS         bool
	SACKPermitted bool
	HasTS         bool
	TSVal, TSEcr  uint32
	SACK          [4]SACKBlock
	NumSACK       int // valid entries in SACK
}

// ErrTCPOptionMalformed is wrapped by every error ParseTCPOptions returns.
var ErrTCPOptionMalformed = errors.New("malformed TCP option")

// Preallocated so the per-packet path never allocates, even when it fails.
var (
	errTCPOptionNoLength  = fmt.Errorf("%w: missing length byte", ErrTCPOptionMalformed)
	errTCPOptionShortLen  = fmt.Errorf("%w: length below 2", ErrTCPOptionMalformed)
	errTCPOptionOverflows = fmt.Errorf("%w: length runs past the options", ErrTCPOptionMalformed)
	errTCPOptionMSS       = fmt.Errorf("%w: MSS length is not 4", ErrTCPOptionMalformed)
	errTCPOptionWS        = fmt.Errorf("%w: window scale length is not 3", ErrTCPOptionMalformed)
	errTCPOptionSACKPerm  = fmt.Errorf("%w: SACK-permitted length is not 2", ErrTCPOptionMalformed)
	errTCPOptionTS        = fmt.Errorf("%w: timestamps length is not 10", ErrTCPOptionMalformed)
	errTCPOptionSACK      = fmt.Errorf("%w: SACK length is not 2+8n with 1 <= n <= 4", ErrTCPOptionMalformed)
)

// ParseTCPOptions resets *o and fills it from opts (as returned by
// TCP.Options). It understands MSS, window scale, SACK-permitted,
// timestamps and SACK; other options are skipped by their length. The walk
// stops at an end-of-list option or at the end of opts. When an option
// appears twice, the last one wins.
//
// A length below 2, a length running past opts, a multi-byte option with no
// room for its length byte, or a known option with the wrong length (MSS 4,
// window scale 3, SACK-permitted 2, timestamps 10, SACK 2+8n with
// 1 <= n <= 4) returns an error wrapping ErrTCPOptionMalformed; *o then
// holds the options before it. ParseTCPOptions never panics and never
// allocates.
func ParseTCPOptions(opts []byte, o *TCPOptions) error {
	*o = TCPOptions{}
	for len(opts) > 0 {
		kind := opts[0]
		switch kind {
		case TCPOptionEOL:
			return nil
		case TCPOptionNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return errTCPOptionNoLength
		}
		l := int(opts[1])
		if l < 2 {
			return errTCPOptionShortLen
		}
		if l > len(opts) {
			return errTCPOptionOverflows
		}
		data := opts[2:l]
		switch kind {
		case TCPOptionMSS:
			if l != tcpOptionMSSLen {
				return errTCPOptionMSS
			}
			o.MSS = binary.BigEndian.Uint16(data)
			o.HasMSS = true
		case TCPOptionWS:
			if l != tcpOptionWSLen {
				return errTCPOptionWS
			}
			o.WS = data[0]
			o.HasWS = true
		case TCPOptionSACKPermitted:
			if l != tcpOptionSACKPermittedLen {
				return errTCPOptionSACKPerm
			}
			o.SACKPermitted = true
		case TCPOptionTS:
			if l != tcpOptionTSLen {
				return errTCPOptionTS
			}
			o.TSVal = binary.BigEndian.Uint32(data[0:4])
			o.TSEcr = binary.BigEndian.Uint32(data[4:8])
			o.HasTS = true
		case TCPOptionSACK:
			n := len(data) / tcpOptionSACKBlockLen
			if len(data)%tcpOptionSACKBlockLen != 0 || n < 1 || n > tcpMaxSACKBlocks {
				return errTCPOptionSACK
			}
			o.SACK = [tcpMaxSACKBlocks]SACKBlock{}
			for i := range n {
				blk := data[i*tcpOptionSACKBlockLen:]
				o.SACK[i] = SACKBlock{
					Start: binary.BigEndian.Uint32(blk[0:4]),
					End:   binary.BigEndian.Uint32(blk[4:8]),
				}
			}
			o.NumSACK = n
		}
		opts = opts[l:]
	}
	return nil
}

// EncodeTCPOptions writes the options present in o to b and returns the
// number of bytes written, always a multiple of 4 and at most 40. The
// layout is the one Linux uses, with NOPs for alignment:
//
//	MSS                      2 4 mss
//	SACK-permitted + TS      4 2 8 10 tsval tsecr   (or NOP NOP 8 10 ... / NOP NOP 4 2)
//	window scale             NOP 3 3 ws
//	SACK blocks              NOP NOP 5 2+8n blocks
//
// SACK blocks beyond what fits in 40 bytes are left out: four fit alone,
// three next to timestamps. b must have room for the result; 40 bytes always suffice.
func EncodeTCPOptions(b []byte, o TCPOptions) int {
	n := 0
	if o.HasMSS {
		b[n], b[n+1] = TCPOptionMSS, tcpOptionMSSLen
		binary.BigEndian.PutUint16(b[n+2:n+4], o.MSS)
		n += 4
	}
	switch {
	case o.HasTS:
		if o.SACKPermitted {
			b[n], b[n+1] = TCPOptionSACKPermitted, tcpOptionSACKPermittedLen
		} else {
			b[n], b[n+1] = TCPOptionNOP, TCPOptionNOP
		}
		b[n+2], b[n+3] = TCPOptionTS, tcpOptionTSLen
		binary.BigEndian.PutUint32(b[n+4:n+8], o.TSVal)
		binary.BigEndian.PutUint32(b[n+8:n+12], o.TSEcr)
		n += 12
	case o.SACKPermitted:
		b[n], b[n+1] = TCPOptionNOP, TCPOptionNOP
		b[n+2], b[n+3] = TCPOptionSACKPermitted, tcpOptionSACKPermittedLen
		n += 4
	}
	if o.HasWS {
		b[n], b[n+1], b[n+2], b[n+3] = TCPOptionNOP, TCPOptionWS, tcpOptionWSLen, o.WS
		n += 4
	}
	blocks := min(max(o.NumSACK, 0), tcpMaxSACKBlocks, (tcpMaxOptionsSize-n-4)/tcpOptionSACKBlockLen)
	if blocks > 0 {
		b[n], b[n+1] = TCPOptionNOP, TCPOptionNOP
		b[n+2], b[n+3] = TCPOptionSACK, uint8(2+blocks*tcpOptionSACKBlockLen)
		n += 4
		for _, blk := range o.SACK[:blocks] {
			binary.BigEndian.PutUint32(b[n:n+4], blk.Start)
			binary.BigEndian.PutUint32(b[n+4:n+8], blk.End)
			n += tcpOptionSACKBlockLen
		}
	}
	return n
}
