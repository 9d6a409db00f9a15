// Package header holds zero-copy views of the wire headers the rxpath
// receive stack understands (Ethernet, ARP, IPv4, ICMPv4, UDP and TCP),
// encoders that write them, and the one Internet checksum implementation of
// the project.
//
// # Views
//
// Each header is a byte slice type with accessors, in the style of gVisor's
// pkg/tcpip/header: IPv4(frame[14:]) costs nothing, copies nothing and
// aliases the frame, so a view is only valid while the caller owns the frame
// it was made from (for a UMEM frame, until the frame is released).
//
// Validation comes first. Every view has a validation function (IsValid, or
// IPv4.Validate, which names the reason for per-reason drop counters) that
// never panics and never allocates, whatever the input. Accessors and
// setters assume the view was validated and do no checks of their own: on an
// unvalidated view they may panic. Option walkers (ParseIPv4Options,
// ParseTCPOptions) bound-check every option and report malformed ones with
// preallocated errors, so the per-packet path allocates nothing even when a
// packet is bad.
//
// # Encoders
//
// EncodeEthernet, EncodeARP, EncodeIPv4, EncodeICMPv4, EncodeUDP, EncodeTCP
// and EncodeTCPOptions write headers into a buffer the caller owns. A buffer
// that is too short is a programming error and panics. Only EncodeIPv4 fills
// in its checksum; transport checksums need the payload in place and are
// computed afterwards with UDPChecksum, TCPChecksum or Checksum.
//
// # Checksums
//
// Checksum returns the RFC 1071 one's complement sum, not complemented, so
// sums of pieces chain through its initial argument and combine with
// ChecksumCombine; PseudoHeaderChecksum adds the IPv4 pseudo header and
// ChecksumUpdate16 patches a stored checksum incrementally (RFC 1624).
// A buffer carrying a correct checksum sums to 0xffff.
//
// # Concurrency
//
// Views are plain slices: reading one from several goroutines is safe,
// writing one (the setters, the encoders) is not, as for any slice. The
// package has no state of its own.
package header
