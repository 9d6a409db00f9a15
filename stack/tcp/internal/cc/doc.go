// Package cc holds the sender-side loss recovery state machines of rxpath's
// TCP: the retransmission timeout estimator (RTO, RFC 6298) and NewReno
// congestion control (NewNewReno, RFC 5681 with the RFC 6582 fast recovery).
//
// Both are pure state machines: they do no I/O, read no clock, start no
// goroutine and never allocate. The connection feeds them events (an RTT
// sample, an ACK of new data, a duplicate ACK, a retransmission timeout) and
// reads back what they decided: the current timeout, the congestion window,
// and whether a segment must be retransmitted now. Sending, arming the
// retransmission timer and measuring RTT belong to the caller:
//
//   - RTT samples follow Karn's rule (never from a retransmitted segment)
//     or come from TCP timestamps (RFC 7323); RTO.Sample takes them as
//     given.
//   - The caller restarts the retransmission timer with RTO.Timeout on
//     every ACK of new data (RFC 6298 5.3), calls RTO.Backoff and
//     NewReno.OnTimeout when it expires, and retransmits the first
//     unacknowledged segment whenever NewReno.OnDupAck or NewReno.OnAck
//     return true.
//   - Sequence numbers are the connection's 32-bit TCP sequence space and
//     are compared modulo 2^32.
//
// The types are not safe for concurrent use: each lives inside a connection
// and is guarded by the connection's lock.
package cc
