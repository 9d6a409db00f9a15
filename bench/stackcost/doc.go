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
// Everything runs on one goroutine locked to a fresh thread (pinned to a
// CPU when asked), so the figures are single-core costs. The package is
// pure Go, needs no privilege and builds on every GOOS.
package stackcost
