// Package stackcost measures what a receive stack costs per packet with no
// kernel in the loop: the replay driver (driver/replay) plays the same
// frame set, through a poller, into rxpath's stack (stack, stack/ipv4,
// stack/udp) and into gVisor's netstack (pkg/tcpip/stack behind a
// link/channel endpoint wrapped in link/ethernet), each with one UDP
// socket bound to the frames' port that the application drains after
// every poll round. The time and the heap allocations per packet are the
// stacks' own, plus the same replay and poller overhead for both.
//
// Both sides do the same work: parse Ethernet, IPv4 (header checksum) and
// UDP (zero checksum: none), find the socket, queue a copy of the
// payload, and let the application copy it out. rxpath's zero-copy
// handler mode would be cheaper still; it is not what gVisor offers, so it
// is not what is compared.
//
// The TCP rows (MeasureTCP) stream one connection's in-order segments: a
// Feed queue (a driver.Queue fed by the benchmark) plays a Linux client's
// handshake through the poller into each stack, reads the SYN-ACK the
// stack sent to learn its ISN and timestamp, then feeds full-size frames
// (1448-byte payload, timestamps) pass after pass, their sequence numbers
// and checksums stamped between passes outside the timed sections. The
// application reads the connection after every poll round (rxpath's
// Conn.Read, gVisor's endpoint Read, both into 64 KiB), and the stacks'
// ACKs are counted and dropped. gVisor processes TCP segments on
// processor goroutines of its own, so besides the measuring thread's wall
// time every row also reports the process's CPU time (all threads, the
// garbage collector included), which is the fair cost for that case.
// BenchmarkStackTCP also runs rxpath's handler mode, which copies nothing
// out; the rows compare the read path that both stacks offer.
//
// Measure and MeasureTCP run on one goroutine locked to a fresh thread
// (pinned to a CPU when asked), so rxpath's figures are single-core costs. The
// package is pure Go, needs no privilege and builds on every GOOS (the
// process CPU time is read on Linux only).
package stackcost
