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
// Drivers live in subpackages, and package auto picks one of the two for
// real interfaces:
//
//   - afxdp: AF_XDP sockets fed by an XDP program, one per NIC queue. The
//     frame leaves the kernel at the XDP hook: in the NIC driver's NAPI
//     poll before an skb is built (native mode), or at the start of
//     __netif_receive_skb_core (generic mode); either way before the taps
//     and every protocol handler, and the kernel stack no longer sees it.
//   - afpacket: AF_PACKET TPACKET_V3 rings, the fallback. The socket is a
//     ptype_all tap in __netif_receive_skb, so the kernel has built an skb
//     (after GRO) and its own stack still sees every frame.
//
// and four stand in for a NIC in tests and tools: replay (a pcap
// recording), channel (frames injected from Go), faulty (loss and
// reordering wrapped around another queue) and memnic (afxdp's rings and
// UMEM in plain memory, fed by a producer thread: the poller's capacity
// without a wire).
//
// Ownership: a Frame's Data is a view into driver memory (for AF_XDP, a UMEM
// frame). It is valid from Receive until the frame is passed to Release, and
// must not be touched afterwards. Every frame returned by Receive must be
// released exactly once. A queue's Buffers ledger says where each buffer
// is (free, owned by the kernel for receive or transmit, or held by the
// application) and counts bad and foreign releases; Check verifies that the
// counts add up once the queue is quiescent.
//
// Concurrency: Receive, Release, Refill and Wait belong to one goroutine, the
// queue's poller. Transmit, Wake and Stats are safe for concurrent use.
// Close is safe to call from any goroutine, once or many times.
package driver
