// Package udp is rxpath's UDP: udp_rcv and the socket receive queue, with
// sockets that feel like net.PacketConn.
//
// The receive path validates the length, verifies the checksum (a zero
// checksum means "not computed" over IPv4 and is accepted), looks up the
// socket bound to the destination address and port (an exact address
// first, then a wildcard), and either
//
//   - calls the socket's handler on the poller goroutine with a zero-copy
//     view of the payload (handler mode, the highest rate: nothing is
//     copied, nothing is queued, nobody is woken), or
//   - copies the datagram into the socket's receive queue, bounded by
//     RcvBuf bytes (each datagram costs its payload plus 64). A datagram
//     that does not fit is dropped and counted, as the kernel's
//     RcvbufErrors; the receive loop never waits for a reader.
//
// The receive queue is lock-free between the receive loops and the
// readers. It has one lane per receive queue that delivers to the socket:
// a byte ring with one producer, the queue's receive loop, and one
// consumer, the reader. The loop writes datagrams with plain stores and
// publishes them with one atomic store when its batch ends
// (stack.Stack.EndBatch, which package rxpath's StackHandler calls after
// each batch), and then wakes a parked reader, if there is one, once per
// batch, the way sock_def_readable does. Nothing is visible to readers
// before the batch ends. A queue that has never ended a batch (a caller
// of Stack.Deliver without batches, or the first batch of a loop) is
// published at once instead, under a lock its producers share. The rule
// this relies on is the stack's receive loop contract: a loop that ends
// batches for a queue is the only goroutine delivering that queue's
// frames; once it has ended one, frames delivered on its queue by anyone
// else wait for its next batch end. Queues numbered 63 and up share one
// locked, unbatched lane. With several lanes, RcvBuf is shared and
// checked against what the other lanes have published, so it can be
// overrun by one batch of each other queue.
//
// Readers use ReadFrom / ReadFromUDPAddrPort (blocking, with deadlines,
// copying out) or ReadBatch (many datagrams per call). They take a lock
// among themselves, never one a producer takes. A reader that finds the
// queue empty polls it for ReadSpin (a few µs by default) and then parks
// on a channel that is reused, not allocated per wake; a batch end, Close
// or a deadline change wakes it. No goroutine is started per datagram or
// per read, and neither side allocates per datagram.
//
// Datagrams to a port with no socket are counted (NoPorts) and, if
// Options.PortUnreachable is set, answered with a rate-limited ICMP port
// unreachable.
//
// Conn is safe for concurrent use.
package udp
