// Package fragment reassembles IPv4 fragments, the way Linux's ip_defrag
// and inet_frag do, with a stricter policy for hostile input.
//
// A datagram in progress is identified by (source, destination,
// identification, protocol), as RFC 791 section 3.2 prescribes; that tuple
// is a Key. The IPv4 layer calls Process for every fragment it receives.
// Process copies the fragment, and once the fragments cover the datagram
// from offset 0 to the end set by the final fragment (MF=0) it returns the
// reassembled payload in one new buffer together with a copy of the header
// of the first fragment (offset 0), which the IPv4 layer uses to rebuild
// the datagram's header.
//
// # Data structure
//
// Each datagram keeps its fragments in a B-tree ordered by offset
// (github.com/google/btree), as Linux keeps them in an rb-tree since the
// FragmentSmack fix (CVE-2018-5391, Linux 4.19): a fragment is checked
// against its two neighbours and inserted in O(log n), so a datagram of n
// fragments costs O(n log n) rather than O(n²). Held fragments never
// overlap, so completeness needs no scan: the datagram is complete when the
// final fragment is known and the bytes received equal its end.
//
// # Policy
//
// Every fragment is checked before anything is stored. A fragment that
// breaks a rule is dropped, and for all rules but duplicates the whole
// datagram in progress for its key is dropped with it (silently, as
// RFC 5722 requires for IPv6 and as Linux does for IPv4 since 2018). Later
// fragments of the same key start a new datagram, as in Linux, which can
// only complete if every missing byte arrives again.
//
//   - Bounds (Stats.BadOffset). The offset must be a multiple of 8, a
//     non-final fragment must carry a non-zero multiple of 8 bytes (RFC
//     791), and offset+length must not exceed MaxPayload (65515): the
//     largest IPv4 total length, 65535, less a minimal 20-byte header. This
//     catches the ping of death (offset 65528 with any data) on the
//     fragment itself, before anything is stored. When the datagram
//     completes, the first fragment's header length plus the payload length
//     must also fit in 65535 (Linux's "oversized IP packet" check in
//     ip_frag_reasm), which catches a datagram whose first header carries
//     options. Linux trims a misaligned non-final fragment; we drop it.
//   - Duplicates (Stats.Duplicate). A fragment with the same offset, length
//     and bytes as one already held is ignored and counted; the datagram is
//     kept. Retransmitted or duplicated fragments are normal on real paths.
//   - Overlaps (Stats.Overlap). Any other overlap drops the datagram: a
//     partial overlap, a fragment inside or around one already held, or one
//     at the same offset with a different length or different bytes — even
//     when the overlapping bytes are identical. Overlapping fragments are
//     how IDS evasion and filter-bypass attacks work (RFC 1858, RFC 3128),
//     and no correct sender produces them (RFC 5722). Linux differs on one
//     point: it treats a fragment that lies inside data already held as a
//     duplicate without comparing bytes; we drop the datagram.
//   - The end (Stats.ConflictingEnd). A second final fragment with a
//     different end, a fragment extending past the known end, or a final
//     fragment whose end is below data already received drops the
//     datagram, as in Linux's ip_frag_queue. An empty final fragment is
//     accepted as a marker of the end (Linux discards the datagram on any
//     empty fragment).
//   - Fragment count (Stats.TooManyFragments). A datagram holds at most
//     Options.MaxFragments distinct fragments (default 64); the fragment
//     that would exceed it drops the datagram. Duplicates are not stored
//     and do not count. With the default, an IPv4 datagram of maximal size
//     still fits in fragments of 1024 bytes or more; the bound keeps the
//     work and bookkeeping per datagram small.
//
// # Memory and time
//
// Every held fragment is charged its length plus FragmentOverhead bytes,
// every datagram DatagramOverhead bytes plus its first header. When the
// total (Stats.Bytes) exceeds Options.HighBytes after a fragment is added,
// the oldest datagrams are evicted until it is at most Options.LowBytes
// (Stats.Evicted), as Linux's inet_frag_evictor did with
// ipfrag_high_thresh and ipfrag_low_thresh (4 MiB and 3 MiB) before 4.17.
// Linux now refuses new fragments above the high threshold instead, which
// lets a flood of incomplete datagrams shut out every sender until they
// time out; evicting the oldest lets fresh datagrams in. A datagram
// is dropped once Options.Timeout (default 30 s, Linux's ipfrag_time; RFC
// 791 suggests 15 s) has passed since its first fragment arrived
// (Stats.Timeouts). Datagrams sit in one list in order of creation, so
// both eviction and expiry take them from its head. Expire drops timed-out
// datagrams and is meant to be called periodically; Process also expires
// them lazily. The reassembler sends no ICMP time exceeded message.
//
// Fragmentation is fragile and best avoided (RFC 8900); a receiver still
// has to reassemble what arrives, without letting a sender exhaust its
// memory or CPU.
//
// # Concurrency
//
// A Reassembler is safe for concurrent use. Pollers of several queues may
// call Process concurrently; one mutex guards all state, since fragments
// are rare on the receive path. Process never panics and reports drops
// only through Stats.
package fragment
