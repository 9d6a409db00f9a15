// Package driver defines the one interface every receive driver offers the
// poller: the seam where a NIC queue ends and rxpath's receive path begins.
//
// In Linux terms a Queue is one RX ring of a NIC together with the buffers
// that feed it. The poller (package poller) drives it in NAPI's shape:
// Refill posts free buffers, Receive takes a batch of received frames as
// zero-copy views, Release gives their buffers back, and when the queue runs
// dry Wait re-arms the "interrupt" and sleeps until frames arrive or Wake is
// called. Transmit sends frames out of the same queue, which the stack needs
// for ARP, ICMP and TCP replies.
//
// Drivers live in subpackages: afxdp (AF_XDP sockets fed by an XDP program).
//
// Ownership: a Frame's Data is a view into driver memory (for AF_XDP, a UMEM
// frame). It is valid from Receive until the frame is passed to Release, and
// must not be touched afterwards. Every frame returned by Receive must be
// released exactly once.
//
// Concurrency: Receive, Release, Refill and Wait belong to one goroutine, the
// queue's poller. Transmit, Wake and Stats are safe for concurrent use.
// Close is safe to call from any goroutine, once or many times.
package driver
