// Package memnic is a network card in memory: a driver that runs the real
// AF_XDP rings (package rxring) and frame ledger (package umem) over plain
// memory, with a producer thread on another CPU playing the hardware. It
// is DPDK's null and ring PMD idea: take the wire and the kernel away and
// what is left is the receive path's own cost per frame.
//
// On a veth the sender's CPU runs the XDP program and copies every frame
// into UMEM, so it sets the rate; on a NIC in zero-copy mode the poller's
// CPU is the limit. memnic measures that limit: with Options.Rate zero
// the NIC posts a frame whenever the poller has posted a buffer and freed
// an rx slot, so what arrives per second is the poller's capacity on one
// core, with everything above the driver (stack, sockets, tap) that the
// user turned on. It is also a way to load-test a handler at line rate
// without a NIC: give it a template frame and a Rate.
//
// # The hardware
//
// Each queue has its own UMEM (umem.New, the anonymous mapping the AF_XDP
// driver registers) and four rings laid out by rxring.Layout in ordinary
// memory. The queue holds the user-space halves (FillRing, RxRing, TxRing,
// CompRing) and the producer thread the kernel's (KernelFill, KernelRx,
// KernelTx, KernelComp). The thread loops:
//
//  1. take up to Options.Batch buffer addresses off the fill ring;
//  2. copy the template (Options.Frame) into each buffer at the offset
//     the kernel uses (umem.KernelHeadroom plus the UMEM's Headroom),
//     stamping a big-endian sequence number at Options.SeqOffset and, with
//     Options.Flows, the UDP source port;
//  3. post the batch of rx descriptors with one producer index store
//     (KernelRx.Produce, a release store) and, if the poller sleeps in
//     Wait, raise the "interrupt";
//  4. take transmitted frames off the tx ring and post their addresses to
//     the completion ring (the wire is a sink).
//
// With a zero Rate the thread never drops: an empty fill ring or a full
// rx ring makes it wait, spinning, and the waits are counted
// (ProducerStats.FillEmptyWaits, RxFullWaits; if they stay near zero the
// NIC, not the poller, set the rate). With a Rate it offers frames on a
// clock like a wire, in bursts of at most a batch: a frame that is due
// when the fill ring is empty, or that finds the rx ring full, is dropped,
// its sequence number spent, and counted as AF_XDP in copy mode counts it:
// rx_dropped and rx_fill_ring_empty_descs for the first, rx_ring_full for
// the second (driver.KernelStats, so poller.Stats.Dropped sees them).
//
// # The driver side
//
// Queue implements driver.Queue with the AF_XDP driver's code: Refill,
// Receive and Transmit are package afxdp's, mirrored line for line (that
// package is not factored, so that its hot path can change without
// memnic; keep the two in step). The differences are where the kernel
// was: Refill kicks nothing (the NIC polls the fill ring and never sets
// need_wakeup), Transmit rings a doorbell on an idle producer instead of
// calling sendto, Wait sleeps on a channel the producer signals instead
// of ppoll on the socket, and Release holds the life lock (afxdp's does
// not) so that a release racing Close never meets Close's reclaim. Each
// frame still goes through the ledger's Fill → Held → Free transitions,
// the rings' cached indices and the same counters, so the cost per frame
// is the real driver's.
//
// A NIC starts its first run on the first Refill of any of its queues
// (when the first poller starts) unless Options.Manual is set; Start and
// Stop begin and end runs, Options.Count and Duration bound each, Done
// says when a run is over and Sent counts the frames offered. New (or
// Open, or Opener for rxpath.Config.OpenDevice) returns a NIC whose
// Device has Kind driver.XDP and Mode "memnic"; FromDevice finds the NIC
// behind a Device. The producer runs under the pprof label memnic=producer,
// so `go tool pprof -tagignore memnic=producer` shows the poller alone.
//
// A producer that generates never blocks, so it holds one of the Go
// runtime's Ps for as long as it runs. Hardware takes no P from the
// application, so New raises GOMAXPROCS by one per queue and Close lowers
// it again (Options.KeepProcs turns that off); without it a socket reader
// or the tap's writer would run only when the scheduler preempts a
// spinning thread.
//
// Concurrency: a NIC is safe for concurrent use. A Queue follows
// driver.Queue's contract: Receive, Release, Refill and Wait belong to its
// poller; Transmit, Wake, Stats and Close may be called from any
// goroutine. Close stops the producer thread, wakes a Wait, waits out the
// poller's current call and gives every frame the NIC owned back to the
// ledger; it is idempotent, and later calls fail with net.ErrClosed or do
// nothing. The package builds on every GOOS; pinning the producer
// (Options.CPUs) needs Linux.
package memnic
