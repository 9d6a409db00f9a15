// Package tcp is rxpath's TCP: a real endpoint that kernel clients talk
// to, terminating connections in user space.
//
// The receive side is the product and follows Linux and the RFCs closely:
//
//   - Connection setup (tcp_v4_rcv → tcp_rcv_state_process): a SYN queue
//     bounded per listener; SYN cookies when it is full (package
//     internal/syncookie, carrying MSS, and window scale and SACK-permitted
//     inside the timestamp); an accept queue bound (drop and count when
//     full); initial sequence numbers per RFC 6528. A RST to a listener is
//     dropped, a RST is never answered with a RST, and a SYN-ACK or bare
//     ACK without a valid cookie gets a RST.
//   - Acceptance tests of RFC 9293 §3.10.7.4, with RFC 5961: a RST exactly
//     at RCV.NXT resets, elsewhere in the window it earns a challenge ACK,
//     outside it is dropped; a SYN on a synchronized connection earns a
//     challenge ACK; an ACK outside [SND.UNA−MAX.SND.WND, SND.NXT] is
//     discarded and ACKed. Challenge and duplicate ACKs are rate limited
//     per connection (one per 500 ms), never by a global counter. PAWS
//     (RFC 7323) rejects old timestamps. Data without ACK is not queued.
//   - Out-of-order data goes to a per-connection queue with a byte cap
//     (package internal/ooo): the segment that fills the hole is never
//     dropped (the queue is pruned from the top instead), overlapping or
//     duplicate data is delivered exactly once, work per segment is
//     logarithmic, and SACK blocks are sent for what is held.
//   - ACKs are delayed (every second full segment, or 40 ms) but sent at
//     once for out-of-order data and for data that fills a gap. In a
//     receive batch (below) in-order data, gap fills and FINs are ACKed
//     once per connection, at the batch end, as Linux ACKs a GRO
//     aggregate; out-of-order data is still answered segment by segment.
//     The
//     advertised window follows free buffer space, never shrinks its right
//     edge, and is updated when the reader drains; a zero window still
//     ACKs, drops (and counts) data beyond it, and answers probes.
//   - FIN, half-close and RST tear-down; TIME_WAIT (default 60 s) moves the
//     connection into a compact, bounded table. RFC 1337 choice: a RST
//     received in TIME_WAIT is ignored, so an old duplicate cannot
//     assassinate the TIME_WAIT state. Keepalive probes are answered (they
//     fail the acceptance test and earn an ACK).
//
// The send side is correct enough for request/response services and for
// acknowledging a stream at full rate: segmentation to the peer's MSS,
// retransmission with an RFC 6298 RTO, and NewReno congestion control
// (package internal/cc).
//
// Segments are processed on the poller goroutine. Readers are woken the way
// sock_def_readable wakes them, only when they wait: no goroutine is
// started per segment or per connection. All timers of a TCP layer run on
// one goroutine (package internal/timer), or on the test's fake clock. The
// delayed-ACK and retransmission timers are deadline fields: arming and
// stopping them per segment is a write, and the timer entry moves only
// when a deadline comes earlier than the one it is scheduled for.
//
// Receive batching (batch.go), GRO-like: once a receive loop ends its
// batches (stack.Stack.EndBatch, which package rxpath's StackHandler calls
// after each poll batch), consecutive segments of one connection in a
// batch take one lookup and one lock (the loop holds the connection until
// another connection's segment or the batch end), get one ACK decision
// and one reader wake-up at the batch end, and the batch's pure ACKs and
// SYN-ACKs reach the link in one call (stack.TxBatch), one kick. In handler mode the handler
// still sees each segment's payload as its own zero-copy view: merging
// them would mean a copy.
//
// Memory per connection: the Conn (848 bytes) and its map slot, no
// buffer while idle. Receive and send buffers take pooled 64 KiB chunks
// with their first byte and give them back when drained; the out-of-order
// queue comes with the first hole, wake channels with the first waiter.
// TIME_WAIT keeps a 64-byte record. MeasureConnCost measures both from
// the Go heap.
//
// Conn implements net.Conn. Conn and Listener are safe for concurrent use.
package tcp
