// Package umem owns the frame memory of an AF_XDP socket and the ledger
// that says who owns each frame.
//
// A UMEM is one anonymous mmap'd area cut into equal frames of 2048 or 4096
// bytes. The kernel copies (or DMAs, in zero-copy mode) received frames into
// it and reads transmitted frames out of it. It is the only buffer pool of the
// receive path: frames are never copied into the Go heap on the way up, and
// mmap'd memory never goes into a sync.Pool. In Linux terms it is the memory
// behind a NIC's RX ring (the pages a driver posts for DMA and gets back
// with each completed descriptor), and the ledger is the driver's account of
// which buffers the hardware owns.
//
// The ledger is how rxpath stays out of the memory-corruption hole that
// AF_XDP invites. Every frame is in exactly one State at a time:
//
//	Free  on a free list, owned by nobody
//	Fill  handed to the kernel through the fill ring; it comes back on the rx ring
//	Held  handed to the application: a frame in a poller batch, a held frame, or a tx frame being written
//	Tx    handed to the kernel through the tx ring; it comes back on the completion ring
//
// Every transition checks the frame's current state, so a double release, a
// descriptor for a frame the kernel does not own, or an address outside the
// area is caught and counted (Stats.BadRelease, Stats.Foreign) instead of
// being silently accepted. Check recounts every frame and verifies the totals.
//
// The frames are split in two partitions: the first FrameCount-TxFrames
// frames cycle through the receive path (Free → Fill → Held → Free), the last
// TxFrames cycle through the transmit path (Free → Held → Tx → Free). Each
// partition has one owner at a time: receive operations are made by the
// queue's poller goroutine, transmit operations under the driver's tx lock.
// Counters are atomic, so Stats may be read from any goroutine; Check must
// only be called while the UMEM is quiescent.
//
// The per-frame methods (Received, Release) add to the counts at once. The
// receive owner's hot path uses RxBatch instead: every frame's state is
// still checked and moved, but the count changes are kept until Commit,
// once per batch or round, and in a steady round they cancel out. Stats
// then lags by at most the uncommitted batch, and Check refuses to pass
// while anything is uncommitted.
package umem
