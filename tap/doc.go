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
// The stack's Handler (stack.Options.Tap) calls Capture for every frame
// the poller takes off a receive queue, before parsing and before the
// stack's packet filter, so a capture shows frames the stack later drops
// as malformed or unwanted; with no stack, rxpath.Config.Handler's frames
// are offered the same way before the handler sees them. Capture only
// reads the frame and keeps no reference to it: the UMEM view may be
// released as soon as Capture returns.
//
// # The never-block contract
//
// gVisor's sniffer writes each packet synchronously from the receive path
// and panics on a write error, so a slow disk or a full pipe stalls the
// whole stack. A Tap decouples the two sides instead:
//
//   - New and Create allocate a pool of QueueSize slots of
//     min(MaxFrame, Snaplen) bytes once, and start one writer goroutine.
//   - Capture (any number of pollers, concurrently) runs the capture
//     expression's program, takes a free slot with a non-blocking receive
//     from a channel of slot indices, copies the frame and its arrival
//     time into it and sends the index to the writer's channel, which
//     always has room. It never waits, never allocates
//     (TestCaptureAllocs) and never fails loudly: with no free slot the
//     frame is dropped and counted in Stats.Dropped.
//   - The writer encodes each frame with gopacket's pcapgo (pcap with
//     nanosecond timestamps, or pcapng with one interface per receive
//     queue) into a memory buffer, hands the slot back, and writes the
//     buffer out when it passes 64 KiB or when the queue goes idle, so
//     `tcpdump -r -` on a pipe sees frames promptly.
//   - A failed write loses the frames in that buffer, counts them in
//     Stats.WriteErrors, and is reported by the next Flush or Close; the
//     writer carries on with the next frames and never panics (even a
//     panicking io.Writer is caught). A writer blocked forever only makes
//     Capture drop; Flush, Reopen and Close give up after
//     Options.StallTimeout (2s by default) with an error wrapping
//     ErrStalled.
//
// Every frame given to Capture ends up in exactly one counter: Filtered,
// Dropped, Written or WriteErrors (Queued counts those in between).
//
// # Files
//
// Create writes to a file it owns. With Options.RotateBytes it starts a
// new file whenever the next record would take the current one past the
// limit: the full file is renamed to path.1, path.2, ... (higher numbers
// are newer; numbers already taken on disk are skipped) and a new file,
// with its own header, is opened at path, so path is always the live
// capture. Reopen, for SIGHUP after logrotate has moved the file, closes
// the current file between two records and starts a new one at path.
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
// Capture and Stats are safe for concurrent use from any goroutine, and so
// are Flush, Reopen and Close. A Tap owns its slots, its writer goroutine
// and, for Create, its file.
package tap
