// Command rxpath runs the rxpath receive engine on a network interface,
// shows its counters, and manages the veth lab it is tested and
// demonstrated on.
//
//	rxpath lab up [--queues N] [--mtu M]   create netns rxp-peer and rxp-dut joined by a veth pair
//	rxpath lab down                        remove them
//	rxpath run --iface IF [flags]          bind IF's queues and receive until SIGINT/SIGTERM
//	rxpath stats [--once] ADDR             the live view of a run started with --metrics ADDR
//	rxpath demo                            the lab, a run with every service, kernel peers, a report
//
// run binds the queues with AF_XDP (or AF_PACKET), pins one poller per
// queue, and with --ip carries frames up the stack (ARP, ICMP echo, IPv4
// with filter rules and reassembly, UDP and TCP) to sinks, an echo and an
// HTTP page. Before binding it runs preflight checks (internal/cli/preflight);
// while it runs it redraws a per-queue view and optionally serves
// Prometheus metrics; at the end it prints a summary, or one JSON object
// with --json. SIGHUP reopens the --pcap file.
package main
