package header

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the RFC 1071 one's complement sum of b, folded to 16 bits
// and added to initial. The result is not complemented, so sums of several
// pieces can be chained by passing the result of one call as initial of the
// next. An odd length is handled as if b were padded with a zero byte; only
// the last piece of a chain may have an odd length.
//
// A sum is zero only if initial and every byte of b are zero; any other input
// yields a value in [1, 0xffff]. A buffer whose stored checksum is correct
// therefore sums to 0xffff.
//
// Checksum reads 8 bytes at a time into a 64-bit one's complement
// accumulator and never allocates.
func Checksum(b []byte, initial uint16) uint16 {
	acc := uint64(initial)
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, carry)
	}
	// End-around carry: adding the carry back cannot carry again unless acc
	// wraps to zero, in which case the extra one lands in an empty acc.
	acc, carry = bits.Add64(acc, carry, 0)
	acc += carry
	return fold64(acc)
}

// fold64 folds a 64-bit one's complement sum to 16 bits.
func fold64(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff) // at most 33 bits
	acc = (acc >> 32) + (acc & 0xffffffff) // at most 32 bits
	acc = (acc >> 16) + (acc & 0xffff)     // at most 17 bits
	acc = (acc >> 16) + (acc & 0xffff)     // at most 16 bits
	return uint16(acc)
}

// fold32 folds a 32-bit one's complement sum to 16 bits.
func fold32(acc uint32) uint16 {
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// ChecksumCombine returns the one's complement sum of a and b.
func ChecksumCombine(a, b uint16) uint16 {
	return fold32(uint32(a) + uint32(b))
}

// PseudoHeaderChecksum returns the one's complement sum, not complemented, of
// the IPv4 pseudo header used by TCP and UDP (RFC 793, RFC 768): source and
// destination address, protocol and the transport length.
func PseudoHeaderChecksum(proto uint8, src, dst [4]byte, length uint16) uint16 {
	s := uint32(binary.BigEndian.Uint16(src[0:2])) +
		uint32(binary.BigEndian.Uint16(src[2:4])) +
		uint32(binary.BigEndian.Uint16(dst[0:2])) +
		uint32(binary.BigEndian.Uint16(dst[2:4])) +
		uint32(proto) +
		uint32(length)
	return fold32(s)
}

// ChecksumUpdate16 returns the new value of a stored (complemented) checksum
// field sum after one 16-bit word it covers changed from old to new, using
// RFC 1624 equation 3: HC' = ~(~HC + ~m + m'). The result equals a full
// recomputation except when every covered byte is zero after the change: the
// recomputation then gives 0xffff and the update 0x0000, which is the same
// value in one's complement but does not verify with Checksum. An IPv4
// header (version 4) or a TCP or UDP segment (pseudo header) never sums to
// zero.
func ChecksumUpdate16(sum, old, new uint16) uint16 {
	return ^fold32(uint32(^sum) + uint32(^old) + uint32(new))
}
