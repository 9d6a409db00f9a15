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
// Per scenario: set the DUT up (a kernel address and GRO for the rows
// whose receiver is the kernel or AF_PACKET: a veth drops redirected
// frames silently unless its peer runs XDP or GRO), start the receiver,
// warm up, then Reps repetitions of Duration each. A repetition snapshots
// the counters, sends for Duration, waits for the receiver to drain and
// snapshots again; the deltas are the Rep. Everything is undone after the
// scenario, and the lab is deleted at the end, on error, and on
// cancellation (the caller cancels the context on SIGINT/SIGTERM).
//
// The stack-cost rows need no lab (package stackcost); the TCP rows are
// reported as not available until stack/tcp exists. Live scenarios need
// Linux and CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_BPF; elsewhere they are
// reported as failed with that reason.
//
// Run is not safe for concurrent use: one benchmark at a time per process.
package scenario
