// Package tap is rxpath's tcpdump: it copies received frames into a pcap or
// pcapng stream without ever slowing the receive path down.
//
// # Where it sits
//
// Linux runs its packet taps (AF_PACKET sockets on ptype_all, which is what
// tcpdump reads) in __netif_receive_skb_core, after the driver and before
// any protocol handler. A Tap sits at the same place in rxpath:
//
//	driver → umem + rxring → poller → tap.Capture → stack (ethernet, arp, ipv4, udp, tcp)
//
// The root package's tap stage (rxpath.Config.Tap or Config.Pcap) offers
// every frame of a poller's batch to Capture, then calls EndBatch, before
// the stack or rxpath.Config.Handler sees the batch: a capture shows
// frames the stack later drops as malformed or unwanted. Capture only reads
// the frame and keeps no reference to it: the UMEM view may be released as
// soon as Capture returns.
//
// # Per-queue buffers
//
// Each receive queue has its own small pool of buffers (Options.Buffers of
// Options.BufferSize bytes, 16 × 256 KiB by default, made when the queue's
// first frame arrives), and its poller is the only goroutine that fills
// them. Capture runs the capture expression, then encodes the record, the
// pcap record header or pcapng enhanced packet block and up to the snap
// length of the frame, in place at the end of the queue's current buffer:
// no channel operation, no lock and no slot per frame, only the copy and
// a few plain stores. A buffer goes to the writer goroutine whole, on a
// channel, when the next record does not fit, so the writer wakes once per
// buffer (thousands of small frames), not once per frame.
//
// A partly filled buffer must not wait forever when traffic is light, so
// it also goes to the writer:
//   - at EndBatch, once its first record is Options.FlushInterval (10ms)
//     old by the batch clock, so a steady trickle reaches the file within
//     about FlushInterval, in at most one write per FlushInterval per
//     queue;
//   - when the queue stays idle: the writer's timer, armed by a buffer's
//     first record and asleep when no queue holds records, takes the
//     buffer of a queue that has held the same one for a whole tick;
//   - at Flush and Close, which take every queue's buffer.
//
// The writer takes a queue's buffer only between two batches: a state word
// per queue (idle, in a batch, taken by the writer, closed) is set by the
// first captured frame of a batch with one compare-and-swap and cleared by
// EndBatch, and the writer takes the buffer with the same compare-and-swap.
// When a batch is open the writer asks, and EndBatch hands the buffer off.
// So EndBatch is part of the contract: a poller that never ends its batch
// keeps its buffer, and Flush and Close report ErrStalled.
//
// # Timestamps
//
// The first frame of a batch that the tap encodes reads Options.Clock
// once, and every frame captured until EndBatch carries that timestamp,
// the way NICs that timestamp per batch or per interrupt do; a batch the
// expression rejects, or the tap drops, whole reads no clock at all. The stamp
// keeps the file's nanosecond precision, but frames of one batch, which
// the poller took off the ring together, share it: their order in the
// file, not their timestamps, tells them apart. With batches of 64 this
// is one clock read per 64 frames instead of one per frame.
//
// # Order
//
// Frames of one queue reach the file in the order they were captured.
// Across queues the file is ordered by buffer: one queue's buffer, then
// whichever buffer reached the writer next, so frames of different queues
// interleave in chunks, and their timestamps need not increase across a
// chunk boundary. With pcapng each record names its queue (an interface
// per queue, "queueN"); sort by timestamp to merge queues.
//
// # The never-block contract
//
// gVisor's sniffer writes each packet synchronously from the receive path
// and panics on a write error, so a slow disk or a full pipe stalls the
// whole stack. A Tap decouples the two sides instead:
//
//   - Capture and EndBatch never wait and never allocate once the queue's
//     buffers exist (TestCaptureAllocs). The channel to the writer has
//     room for every buffer there is, so handing one off never blocks.
//   - When all of a queue's buffers are with the writer (it is behind, or
//     stuck in Write), Capture drops the frame and counts it in
//     Stats.Dropped until the writer gives a buffer back.
//   - A failed write loses the records written with it, counts them in
//     Stats.WriteErrors, and is reported by the next Flush or Close; the
//     writer carries on with the next buffer and never panics (even a
//     panicking io.Writer is caught). A writer blocked forever only makes
//     Capture drop; Flush, Reopen and Close give up after
//     Options.StallTimeout (2s by default) with an error wrapping
//     ErrStalled.
//
// Every frame given to Capture ends up in exactly one counter: Filtered,
// Dropped, Written or WriteErrors (Queued counts those in between). A
// queue's capture counters are plain fields of its poller, published once
// per batch (and at each hand-off), so Stats lags a batch in progress.
//
// # Files
//
// Create writes to a file it owns. With Options.RotateBytes it starts a
// new file whenever the next record would take the current one past the
// limit, splitting a buffer between two files at a record boundary: the
// full file is renamed to path.1, path.2, ... (higher numbers are newer;
// numbers already taken on disk are skipped) and a new file, with its own
// header, is opened at path, so path is always the live capture. Reopen,
// for SIGHUP after logrotate has moved the file, closes the current file
// between two buffers and starts a new one at path. A pcapng file gets a
// queue's interface description block before the queue's first record in
// it; the writer sets each record's interface id as it writes the buffer.
//
// # Capture expressions
//
// Options.Expr takes a tcpdump (pcap-filter(7)) expression for Ethernet
// frames. New and Create compile it once, in pure Go and without libpcap,
// with package pcapexpr (which lists the supported subset), into a classic
// BPF program that Capture runs on every frame in golang.org/x/net/bpf's VM,
// which does not allocate per run. A frame the program rejects is counted
// in Stats.Filtered and not copied. An expression that does not compile is
// an error wrapping pcapexpr.ErrExpr, and nothing is started.
//
// # Concurrency
//
// Capture and EndBatch for one queue are called by one goroutine at a
// time, that queue's poller; different queues run concurrently. Stats,
// Flush, Reopen and Close are safe for concurrent use from any goroutine.
// A Tap owns its buffers, its writer goroutine and, for Create, its file.
package tap
