package header

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// IPv4 header sizes.
const (
	IPv4MinimumSize   = 20
	IPv4MaximumSize   = 65535
	IPv4MaxHeaderSize = 60
)

// IPv4 flags as returned by IPv4.Flags.
const (
	IPv4FlagMoreFragments = 1
	IPv4FlagDontFragment  = 2
)

// IPv4 is a view of an IPv4 packet: header, options and payload (RFC 791).
//
// Call Validate or IsValid first. Accessors assume the view was validated
// and may panic or return garbage otherwise. Setters write in place; the view
// does not copy.
type IPv4 []byte

// IPv4Error names why an IPv4 header is invalid, so that each reason can
// have its own drop counter.
type IPv4Error int

// Reasons returned by IPv4.Validate.
const (
	// IPv4OK means the header is valid.
	IPv4OK IPv4Error = iota
	// IPv4TooShort means fewer than 20 bytes are available.
	IPv4TooShort
	// IPv4BadVersion means the version field is not 4.
	IPv4BadVersion
	// IPv4BadIHL means IHL is below 5 or the header runs past the buffer.
	IPv4BadIHL
	// IPv4BadTotalLength means the total length is below 20 or below the
	// header length.
	IPv4BadTotalLength
	// IPv4TotalLengthBeyondFrame means the total length is larger than the
	// bytes available.
	IPv4TotalLengthBeyondFrame
)

var ipv4ErrorNames = [...]string{
	IPv4OK:                     "ok",
	IPv4TooShort:               "too short",
	IPv4BadVersion:             "bad version",
	IPv4BadIHL:                 "bad header length",
	IPv4BadTotalLength:         "bad total length",
	IPv4TotalLengthBeyondFrame: "total length beyond frame",
}

// String returns a short lower-case description of e.
func (e IPv4Error) String() string {
	if e >= 0 && int(e) < len(ipv4ErrorNames) {
		return ipv4ErrorNames[e]
	}
	return fmt.Sprintf("IPv4Error(%d)", int(e))
}

// Validate checks the IPv4 header in b. pktSize is the number of bytes
// available from the start of the IP header on (normally the Ethernet
// payload length, which includes any link padding). It checks, in order:
// at least 20 bytes, version 4, IHL >= 5 with the header inside b, a total
// length of at least 20 and at least the header length, and a total length
// within both pktSize and len(b). It returns IPv4OK if every check passes.
//
// Validate does not verify the header checksum (see IsChecksumValid), the
// options (see ParseIPv4Options) or fragment fields. It never panics and
// never allocates.
func (b IPv4) Validate(pktSize int) IPv4Error {
	if len(b) < IPv4MinimumSize || pktSize < IPv4MinimumSize {
		return IPv4TooShort
	}
	if b[0]>>4 != 4 {
		return IPv4BadVersion
	}
	hl := b.HeaderLength()
	if hl < IPv4MinimumSize || hl > len(b) {
		return IPv4BadIHL
	}
	tl := int(b.TotalLength())
	if tl < IPv4MinimumSize || tl < hl {
		return IPv4BadTotalLength
	}
	if tl > pktSize || tl > len(b) {
		return IPv4TotalLengthBeyondFrame
	}
	return IPv4OK
}

// IsValid reports whether Validate(pktSize) returns IPv4OK.
func (b IPv4) IsValid(pktSize int) bool { return b.Validate(pktSize) == IPv4OK }

// HeaderLength returns the header length in bytes (IHL * 4).
func (b IPv4) HeaderLength() int { return int(b[0]&0x0f) * 4 }

// TotalLength returns the total length field.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// TOS returns the type of service byte (DSCP and ECN).
func (b IPv4) TOS() uint8 { return b[1] }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Flags returns the three flag bits: IPv4FlagDontFragment,
// IPv4FlagMoreFragments and the reserved bit (4).
func (b IPv4) Flags() uint8 { return b[6] >> 5 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 {
	return (binary.BigEndian.Uint16(b[6:8]) & 0x1fff) * 8
}

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[8] }

// Protocol returns the transport protocol number.
func (b IPv4) Protocol() uint8 { return b[9] }

// HeaderChecksum returns the header checksum field.
func (b IPv4) HeaderChecksum() uint16 { return binary.BigEndian.Uint16(b[10:12]) }

// Src returns the source address.
func (b IPv4) Src() [4]byte { return [4]byte(b[12:16]) }

// Dst returns the destination address.
func (b IPv4) Dst() [4]byte { return [4]byte(b[16:20]) }

// Options returns the option bytes, b[20:HeaderLength()].
func (b IPv4) Options() []byte { return b[IPv4MinimumSize:b.HeaderLength()] }

// Payload returns b[HeaderLength():TotalLength()]: the transport bytes
// without link padding.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// IsChecksumValid reports whether the header checksum verifies.
func (b IPv4) IsChecksumValid() bool {
	return Checksum(b[:b.HeaderLength()], 0) == 0xffff
}

// More reports whether the more-fragments flag is set.
func (b IPv4) More() bool { return b.Flags()&IPv4FlagMoreFragments != 0 }

// IsFragment reports whether b is a fragment: more-fragments is set or the
// fragment offset is not zero.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[6:8])&0x3fff != 0
}

// SetTTL sets the time to live. The checksum is not updated.
func (b IPv4) SetTTL(v uint8) { b[8] = v }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[10:12], v) }

// SetTotalLength sets the total length. The checksum is not updated.
func (b IPv4) SetTotalLength(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetDst sets the destination address. The checksum is not updated.
func (b IPv4) SetDst(a [4]byte) { copy(b[16:20], a[:]) }

// SetSrc sets the source address. The checksum is not updated.
func (b IPv4) SetSrc(a [4]byte) { copy(b[12:16], a[:]) }

// SetID sets the identification field. The checksum is not updated.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetFlagsFragmentOffset sets the flags (low three bits of flags) and the
// fragment offset, given in bytes and truncated to a multiple of 8. The
// checksum is not updated.
func (b IPv4) SetFlagsFragmentOffset(flags uint8, offsetBytes uint16) {
	binary.BigEndian.PutUint16(b[6:8], uint16(flags&0x7)<<13|offsetBytes>>3)
}

// CalculateChecksum returns the checksum the header should carry: the
// complemented sum of the header with the checksum field taken as zero.
func (b IPv4) CalculateChecksum() uint16 {
	sum := Checksum(b[:10], 0)
	sum = Checksum(b[12:b.HeaderLength()], sum)
	return ^sum
}

// IPv4Fields holds the values EncodeIPv4 writes.
type IPv4Fields struct {
	TOS            uint8
	TotalLength    uint16
	ID             uint16
	Flags          uint8  // IPv4FlagDontFragment, IPv4FlagMoreFragments
	FragmentOffset uint16 // in bytes, a multiple of 8
	TTL            uint8
	Protocol       uint8
	Src, Dst       [4]byte
	Options        []byte // a multiple of 4 bytes, at most 40
}

// EncodeIPv4 writes an IPv4 header to b with the IHL derived from
// f.Options and a correct checksum, and returns the header length. Options
// whose length is not a multiple of 4 are padded with zero (end of option
// list) bytes. b must have room for the header; options longer than 40
// bytes are a programming error and panic.
func EncodeIPv4(b []byte, f IPv4Fields) int {
	if len(f.Options) > IPv4MaxHeaderSize-IPv4MinimumSize {
		panic("header: IPv4 options longer than 40 bytes")
	}
	hl := IPv4MinimumSize + (len(f.Options)+3)&^3
	h := IPv4(b[:hl])
	h[0] = 4<<4 | uint8(hl/4)
	h[1] = f.TOS
	h.SetTotalLength(f.TotalLength)
	h.SetID(f.ID)
	h.SetFlagsFragmentOffset(f.Flags, f.FragmentOffset)
	h[8] = f.TTL
	h[9] = f.Protocol
	h.SetChecksum(0)
	h.SetSrc(f.Src)
	h.SetDst(f.Dst)
	n := copy(h[IPv4MinimumSize:], f.Options)
	clear(h[IPv4MinimumSize+n:])
	h.SetChecksum(h.CalculateChecksum())
	return hl
}

// IPv4 option types (RFC 791, RFC 2113).
const (
	IPv4OptionEOL         = 0
	IPv4OptionNOP         = 1
	IPv4OptionRR          = 7
	IPv4OptionTimestamp   = 68
	IPv4OptionLSRR        = 131
	IPv4OptionSSRR        = 137
	IPv4OptionRouterAlert = 148
)

// ErrIPv4OptionMalformed is wrapped by every error ParseIPv4Options returns.
var ErrIPv4OptionMalformed = errors.New("malformed IPv4 option")

// Preallocated so the per-packet path never allocates, even when it fails.
var (
	errIPv4OptionNoLength  = fmt.Errorf("%w: missing length byte", ErrIPv4OptionMalformed)
	errIPv4OptionShortLen  = fmt.Errorf("%w: length below 2", ErrIPv4OptionMalformed)
	errIPv4OptionOverflows = fmt.Errorf("%w: length runs past the options", ErrIPv4OptionMalformed)
)

// ParseIPv4Options walks opts (as returned by IPv4.Options) with bounds
// checks and calls fn for each option other than end-of-list and no-op, with
// its type and its data: the bytes after the type and length bytes, aliasing
// opts. The walk stops at an end-of-list option, at the end of opts, or when
// fn returns false, and then returns nil.
//
// A length below 2, a length running past opts, or a multi-byte option with
// no room for its length byte returns an error wrapping
// ErrIPv4OptionMalformed; options before it have been passed to fn already.
// The meaning of each option's data is not checked. ParseIPv4Options never
// panics and never allocates.
func ParseIPv4Options(opts []byte, fn func(typ byte, data []byte) bool) error {
	for len(opts) > 0 {
		typ := opts[0]
		switch typ {
		case IPv4OptionEOL:
			return nil
		case IPv4OptionNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return errIPv4OptionNoLength
		}
		l := int(opts[1])
		if l < 2 {
			return errIPv4OptionShortLen
		}
		if l > len(opts) {
			return errIPv4OptionOverflows
		}
		if !fn(typ, opts[2:l]) {
			return nil
		}
		opts = opts[l:]
	}
	return nil
}
