// Package afxdp is the AF_XDP driver: it binds NIC receive queues to AF_XDP
// sockets and steers their frames there with an XDP program.
//
// What Linux does in the NIC driver's NAPI poll and netif_receive_skb, this
// driver hands to user space. An XDP program, loaded with cilium/ebpf and
// attached through a BPF link, runs for every frame of the interface and
// calls bpf_redirect_map on an XSKMAP keyed by the frame's rx_queue_index.
// A queue with a socket in the map delivers the frame into that socket's
// UMEM and rx ring; a queue without one falls back to XDP_PASS (the kernel
// stack sees the frame) or XDP_DROP, as Options.UnboundAction says.
//
// The program is four instructions, so it is kept as cilium/ebpf asm in
// program.go rather than as C compiled by bpf2go: nothing to regenerate, no
// clang in the build, and the whole program reads in one screen. Attaching
// through a BPF link means a crashed process leaves nothing on the
// interface: the kernel detaches the program when the last link fd closes.
//
// Options.Triage (off by default) puts a triage stage in front of the
// redirect, generated in the same asm by triage_program.go: stateless
// drop rules, then guards with rate budgets for ARP requests, IPv4
// fragments (per source), TCP SYNs (a refused SYN is remembered, and its
// retransmission, which flood tools do not send, passes) and UDP to
// closed ports (Device.SetUDPPort keeps the set). Frames it drops never
// reach a ring, so a flood costs an XDP_DROP instead of a ring slot and a
// poller pass; each drop is counted by reason in a per-CPU map
// (Device.TriageStats) and can be sampled to a perf buffer
// (Device.ReadDropSample). Budgets are GCRA clocks shared by every CPU
// without a lock: two CPUs may both spend the last token, so a budget
// is exact to within one frame per CPU. If the kernel refuses the stage
// (a helper or map type it lacks, its verifier), Open logs one line and
// loads the plain program (Device.Triage says why).
//
// Each bound queue gets one socket, one UMEM (package umem) and four rings
// (package rxring). Binding tries zero-copy first and falls back to copy
// mode (veth supports only copy); the chosen mode is reported. Sockets use
// XDP_USE_NEED_WAKEUP unless disabled, and optionally SO_PREFER_BUSY_POLL,
// SO_BUSY_POLL and SO_BUSY_POLL_BUDGET.
//
// Concurrency: a Device is safe for concurrent use. Each Queue follows the
// contract of driver.Queue: one poller goroutine receives; Transmit, Wake,
// Stats and Close may be called from anywhere. Close detaches the program
// first, then wakes the poller and waits out its claim (see Queue.Claim)
// or its current call before it unmaps the rings, so a running poller
// never touches freed memory. That handshake, Wake, the wait in ppoll with
// the link watcher and the counters are driver/internal/sockq's, shared
// with package afpacket; this package adds the UMEM, the rings and the XDP
// program.
//
// The receive path costs no lock and no atomic per frame: the poller
// claims the queue instead of locking each call, the UMEM ledger checks
// and moves every frame but counts them once per round (umem.RxBatch),
// and the queue's own counters are published with it, when the poller
// publishes its own (poller.Claimer).
package afxdp
