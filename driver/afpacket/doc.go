// Package afpacket is the AF_PACKET driver, the fallback for interfaces or
// kernels where AF_XDP is not available. It receives through TPACKET_V3
// rings and transmits with sendmmsg.
//
// In Linux terms each socket is a ptype_all tap, as tcpdump's is: the
// kernel has built the skb (after GRO) and offers it to the socket in
// __netif_receive_skb_core, then to its own stack, which still processes
// every frame (on an interface without a kernel address, such as the lab's
// DUT end, it drops them).
//
// Each queue is one AF_PACKET socket with a receive ring of BlockCount
// blocks of BlockSize bytes, mapped into the process. The kernel copies
// each frame that passes the socket's filter into its current block, packed
// behind the previous one, and retires the block, setting its block_status
// to TP_STATUS_USER, when the block is full or when BlockTimeout has passed
// since it opened. Receive walks retired blocks in ring order and hands out
// zero-copy views of their frames; a Handle names the block, its pass
// through user space and the frame's offset. A block goes back to the
// kernel (TP_STATUS_KERNEL) as soon as the cursor has walked it and every
// frame handed out from it has been released, even if an earlier block is
// still held: the kernel only looks at the status of the next block it
// wants. If that block is still held the kernel freezes the ring and drops
// until it comes back (PACKET_STATISTICS tp_freeze_q_cnt). Frames the
// kernel truncated (tp_snaplen < tp_len) are counted as RxTrunc and never
// handed out.
//
// The block timeout is the price of TPACKET_V3: a frame is not visible
// until its block retires, so at low rates every frame waits up to the
// timeout (gVisor rejected TPACKET_V3 for this latency). The default is
// the kernel's minimum, 1ms, and the package's tests measure the median
// latency at 1,000 frames per second. Waiting uses an edge-triggered epoll
// set, because poll(2) on a TPACKET_V3 socket reports POLLIN for as long as
// the block before the kernel's current one is held, which a frame kept
// past its batch does.
//
// With more than one queue the sockets form a PACKET_FANOUT group (by flow
// hash, receiving CPU or round robin), one socket per poller, as RSS
// spreads a NIC's frames over its queues. Every socket starts with a
// drop-all filter, is bound, joins the group, and only then gets
// Options.SocketFilter, so no unfiltered frame enters a ring and none arrives
// twice while the group forms. Sockets ignore outgoing frames
// (PACKET_IGNORE_OUTGOING), so what this process transmits does not come
// back, and transmit bypasses the qdisc unless DisableQdiscBypass is set.
//
// Reading PACKET_STATISTICS resets the kernel's counters, so Stats adds
// each reading to running totals: tp_drops becomes Kernel.RxDropped and
// tp_freeze_q_cnt Kernel.RxFrozen. The buffer ledger counts ring blocks:
// Kernel is the blocks the kernel owns, Held those taken by user space
// (being walked or with frames outstanding); blocks are never Free while
// the ring exists, and after Close the blocks nothing holds are.
//
// Concurrency: a Device is safe for concurrent use. Each Queue follows the
// contract of driver.Queue: one poller goroutine calls Receive, Release,
// Refill and Wait; Transmit, Wake, Stats and Close may be called from
// anywhere. Close wakes the poller and waits out its current call before it
// unmaps the ring, so a running poller never touches freed memory. Frames
// still held at Close keep the ring mapped until they are released, which
// after Close may happen from any goroutine; the mapping keeps the socket
// alive that long, so Close gives it a drop-all filter. The close
// handshake, Wake, the wait in the epoll set with the link watcher and the
// counters are driver/internal/sockq's, shared with package afxdp.
package afpacket
