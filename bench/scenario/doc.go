// Package scenario runs rxbench's scenarios: it builds a veth lab of its
// own, puts one receiver at a time on the DUT end, drives it with the
// generator from the peer namespace and turns counters into the raw
// figures of package report.
//
// Placement: on veth the kernel's receive work (NAPI, the XDP program, the
// copy into UMEM, the kernel's IP and UDP input) runs on the sending CPU.
// The generator thread is pinned to one CPU (0), every receiver thread
// (pollers, readers) to the other (1), so "receiver CPU" means the same
// thing in every row and the kernel's part is read from the softirq time
// of all CPUs.
//
// The floor of an AF_XDP row is xsk-minimal, not the ceiling: on veth the
// sending CPU runs the DUT's XDP program and, for AF_XDP, the copy into
// UMEM, so XDP_DROP is an upper bound no AF_XDP receiver reaches there.
// xsk-minimal is the smallest correct AF_XDP receiver (recv_xsk_linux.go),
// measured on the same generator in the same run at each frame size.
//
// CPU: a rep's CPU time is the whole process's (getrusage) minus the
// generator threads' (their thread CPU clocks), so every thread the row
// runs counts: pollers, readers, the tap's writer, timers, the garbage
// collector and the runtime; softirq time of all CPUs is added to it. The
// rep waits for the receiver to settle (its count still for 5ms, the
// tap's writer caught up) before reading it. Busy time is that CPU less
// the receiver's idle passes (loop passes that found no frame), each at
// the cost of one idle pass measured on the same receiver after its
// warm-up: with no traffic for a spinner; for a poller that would
// otherwise sleep through that, in two windows with a frame every 40µs
// and every 15µs, which give the cost of a pass and of a frame apart
// (report.IdleCal). Receivers that sleep in the kernel when idle count no
// pass: their busy time is their CPU time. rxpath's pollers time their
// own rounds (poller.Stats.BusyNS, from a round's first frames to its
// refill): their rows' busy time is the CPU with the pollers' threads'
// CPU replaced by that time, measured rather than modelled (the polite
// spin's yields made the idle-pass model read 0).
//
// Per scenario: set the DUT up (a kernel address and GRO for the rows
// whose receiver is the kernel or AF_PACKET: a veth drops redirected
// frames silently unless its peer runs XDP or GRO), start the receiver,
// warm up, then Reps repetitions of Duration each. A repetition snapshots
// the counters, sends for Duration, waits for the receiver to drain and
// snapshots again; the deltas are the Rep. Everything is undone after the
// scenario, and the lab is deleted at the end, on error, and on
// cancellation (the caller cancels the context on SIGINT/SIGTERM).
//
// TCP rows: instead of the frame generator, a kernel TCP client (net.Dial
// on the first generator's thread, in the peer namespace, pinned to the
// generator CPU) streams to the DUT for Duration per repetition: rxpath
// with a TCP sink in handler mode (tcp-rxpath), or a kernel TCP server on
// the DUT veth behind an XDP_PASS program attached in the same mode as
// rxpath's, so that both see the same veth (tcp-kernel). Goodput is the
// bytes the receiving application got during the send time; CPU per byte
// is the receiver's threads plus softirq over that time. Segments sent
// (the client's Tcp MIB) and received (the receiver's TCP) are counted
// over the repetition and its drain, so their difference is what was lost
// on the way. The peer gets a static neighbour entry for the DUT and
// tcp_slow_start_after_idle off, undone after the row.
//
// HTTP rows (report.KindHTTP): net/http with one handler (a fixed 62-byte
// page) on rxpath's TCP listener (http-rxpath: rxpath.Open, default TCP
// options) or on a kernel socket behind an XDP_PASS program attached as
// for tcp-kernel (http-kernel). While a row runs every thread of this
// process is pinned to the receiver CPU (pinProcess: the runtime's
// threads, the pollers, the handlers' goroutines), and the load
// generators run in the peer namespace under `taskset -c` the generator
// CPU: per rep, wrk (one thread, 200 kept-alive connections, 8 s in full
// mode) then ab (100 at a time, a new connection per request, 20,000
// requests in full mode), both scaled with Config.Duration, after a warm-up
// of 500 ab requests. The figures are the tools' own (parsed from their
// reports, loadtools.go), with the server process's CPU and all softirq
// time over each run.
//
// The conn-memory row (report.KindConnMemory) opens 10,000 connections in
// full mode (connMemoryConns) from raw client sockets on the generator
// thread, first to an rxpath server, then to a kernel one, holds them
// idle, then has the server close them all so that it keeps each in
// TIME_WAIT. rxpath's bytes are the Go heap's live bytes after a GC
// (runtime/metrics); the kernel server's, the /proc/slabinfo delta of the
// TCP, TIME_WAIT and request socks and the socket's inode, file and dentry
// in the kernel run less the same delta in the rxpath run (the client's
// own sockets). connmem_linux.go has the details.
//
// The stack-cost rows need no lab (package stackcost), nor do rows with a
// runner of their own (Def.run: the capacity rows of report.KindCapacity). Live scenarios
// need Linux and CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_BPF; elsewhere they
// are reported as failed with that reason.
//
// Run is not safe for concurrent use: one benchmark at a time per process.
package scenario
