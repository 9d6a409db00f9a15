// Package demo is `rxpath demo`: a tour of rxpath on a veth lab that
// leaves nothing behind.
//
// Run builds the default lab (package lab: netns rxp-peer and rxp-dut),
// chooses a traffic generator (package traffic) before rxpath starts,
// starts the rxpath binary again as `rxpath run --json` in the DUT
// namespace with a UDP sink, a TCP sink, an HTTP server and a capture, and
// drives ping, a UDP burst, a TCP stream and curl at it from the peer's
// kernel. It then stops the child with SIGINT, decodes its JSON summary
// (package summary), repeats the UDP burst against a kernel socket
// (traffic.KernelReceiver) for comparison, removes the lab and prints a
// report.
//
// The child is started with a parent-death signal, so no `rxpath run`
// outlives the demo in a deleted namespace. When Run's context ends, every
// step stops, the lab is removed and Run returns ErrInterrupted. The lab
// has fixed names: one Run at a time per machine.
package demo
