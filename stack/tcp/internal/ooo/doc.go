// Package ooo is the out-of-order receive queue of one TCP connection: the
// counterpart of Linux's out_of_order_queue and tcp_data_queue_ofo.
//
// The connection hands the queue every segment that arrives beyond rcv_nxt
// (Insert); it delivers in-order data itself, and then asks the queue for
// whatever has become contiguous (Pop). The queue also produces the SACK
// blocks the connection advertises (SACK, RFC 2018).
//
// The queue holds disjoint, non-adjacent ranges of the sequence space in a
// B-tree ordered by start. Each range owns its bytes as a list of chunks
// copied out of the peer's segments, so joining two ranges never copies
// their data. A segment costs O((k+1) log n) work, where n is the number of
// held ranges and k the number it touches, plus the copy of its new bytes;
// no operation walks the whole queue.
//
// The peer is untrusted, so each byte is stored at most once whatever the
// overlaps, memory is bounded by the limit given to New, and when a segment
// does not fit the queue evicts data from the highest sequence numbers
// downward, as tcp_prune_ofo_queue does, keeping what is closest to being
// delivered.
//
// A Queue is not safe for concurrent use: the connection's lock guards it.
package ooo
