// Package syncookie computes TCP initial sequence numbers (RFC 6528),
// per-connection timestamp offsets and SYN cookies, the way Linux does in
// net/core/secure_seq.c and net/ipv4/syncookies.c.
//
// # Initial sequence numbers and timestamp offsets
//
// ISN returns M + F(4-tuple, secret): M is a clock ticking every 4
// microseconds, F is SipHash-2-4 keyed with a secret derived from
// Options.Secret. A peer that opens connections to us learns nothing about
// the ISNs of other connections, so it cannot guess them to inject
// segments, and successive incarnations of one 4-tuple still get increasing
// ISNs. TSOffset is a keyed hash of the address pair that the caller adds
// to TSNow for every TSval it sends, so timestamps neither leak how long
// the process has been up nor let a peer correlate connections to
// different addresses.
//
// # SYN cookies
//
// When the listener's SYN queue is full, the caller answers a SYN with a
// SYN-ACK whose ISN comes from Cookie and keeps no state at all. The ISN
// is Linux's construction:
//
//	hash1(tuple) + synSeq + count<<24 + ((hash2(tuple, count, tsval) + mss<<22) & 0xffffff)
//
// where count is a minute counter and mss is an index into the table of
// common values 536, 1300, 1440, 1460 (the largest entry not above the
// peer's MSS; 536, the IPv4 default every host accepts, below that).
// Linux adds the index itself; here it sits in the top two bits of the
// 24-bit field, so an ACK that is off by a few does not decode to a
// neighbouring MSS but fails. The ACK that completes the handshake echoes
// the cookie plus one; Check strips hash1 and the sequence number,
// accepts the current and the previous minute (a cookie lives between one
// and two minutes, Linux's MAX_SYNCOOKIE_AGE), subtracts hash2 for that
// minute and requires the low 22 bits of what is left to be zero.
//
// A cookie has 32 bits, so it cannot carry the SYN's options. What is not
// in it is lost, which is why cookies are a last resort:
//
//   - MSS is rounded down to one of four values, so a peer announcing 1400
//     gets 1300-byte segments, and one announcing less than 536 gets 536.
//   - Window scale and SACK-permitted have no room. If the SYN carried a
//     timestamp, Cookie puts them in the low 6 bits of the SYN-ACK's TSval
//     (4 bits of shift count, 0xf meaning none; 1 bit of SACK), as Linux's
//     cookie_init_timestamp does, with the millisecond clock above them
//     so the TSval still increases; the peer echoes it in TSecr and Check
//     recovers both. Without timestamps they are gone: the connection runs
//     without window scaling (at most 64 KiB in flight) and without SACK.
//     The caller must therefore build the SYN-ACK's options from the
//     Params that Cookie returns, not from the SYN.
//
// The whole TSval, or the absence of one, is hashed into hash2, so a
// tampered TSecr, or an ACK that drops or adds the timestamp option,
// fails the check instead of silently changing the connection's options
// (Linux trusts the echoed bits). Check also requires the echoed TSval to
// be at most two minutes old, which rejects most blind ACKs with
// timestamps before the second hash.
//
// # What an attacker can and cannot do
//
// Without the secret nobody can compute a valid cookie: hash1 and hash2
// are SipHash-2-4 under keys derived from it. A blind ACK with random
// numbers is accepted only if its top byte names one of the two live
// minutes (2 in 256) and 22 bits after subtracting hash2 are zero (1 in
// 2^22): about 2^-29 per attempt, and about 2^-45 with timestamps, where
// the echoed TSval must also be fresh and carry valid option bits. Check
// rejects most random ACKs after one hash.
//
// An attacker who sees a SYN-ACK (an on-path observer) can complete that
// handshake, as it could for any connection, and can replay the ACK:
// each replay within the two-minute window makes a new connection, since
// no state is kept per SYN to mark a cookie as used. It can also pick
// among the four MSS values by adding multiples of 2^22 to a valid ACK.
// It cannot reuse a cookie for another 4-tuple, another SYN sequence
// number, or after two minutes. Because the listener keeps nothing per
// SYN, a flood of SYNs costs two hashes each and no memory.
//
// A Generator is immutable after New and safe for concurrent use; its
// Clock must be too. ISN, TSOffset, TSNow, Cookie and Check do not
// allocate.
package syncookie
