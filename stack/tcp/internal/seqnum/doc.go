// Package seqnum is TCP sequence-number arithmetic: 32-bit values compared
// and added modulo 2^32 as RFC 9293 section 3.4 prescribes, in the shape of
// gVisor's pkg/tcpip/seqnum.
//
// A Value is a position in the sequence space and a Size is a distance
// between two positions. Comparisons are only meaningful between values less
// than 2^31 apart: v is "less than" w when w lies in the half of the space
// ahead of v, which is what int32(v-w) < 0 computes. TCP keeps every value it
// compares within a window far smaller than that (at most 2^30 with window
// scaling, RFC 7323), so the ordering is consistent inside one connection's
// window. Window tests (InRange, InWindow) are exact for any size because they
// compare distances rather than positions.
//
// Values are plain integers: every function here is safe for concurrent use.
package seqnum
