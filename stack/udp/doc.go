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
//   - copies the datagram into the socket's receive queue, a byte ring
//     bounded by RcvBuf bytes, and wakes a blocked reader the way
//     sock_def_readable does: only if one is waiting. A datagram that does
//     not fit is dropped and counted, as the kernel's RcvbufErrors.
//
// Readers use ReadFrom / ReadFromUDPAddrPort (blocking, with deadlines,
// copying out) or ReadBatch (many datagrams per call). No goroutine is
// started per datagram or per read.
//
// Datagrams to a port with no socket are counted (NoPorts) and, if
// Options.PortUnreachable is set, answered with a rate-limited ICMP port
// unreachable.
//
// Conn is safe for concurrent use.
package udp
