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
//   - Capture (any number of pollers, concurrently) runs the filter, takes
//     a free slot with a non-blocking receive from a channel of slot
//     indices, copies the frame and its arrival time into it and sends the
//     index to the writer's channel, which always has room. It never
//     waits, never allocates (TestCaptureAllocs) and never fails loudly:
//     with no free slot the frame is dropped and counted in Stats.Dropped.
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
// # Capture filters
//
// Options.Filter takes tcpdump (pcap-filter(7)) syntax for Ethernet frames
// and compiles it in pure Go, without libpcap, to a classic BPF program run
// by golang.org/x/net/bpf's VM (which does not allocate per run). The
// programs follow libpcap's code generation, and a differential test
// compiles a list of expressions with both this package and tcpdump -ddd
// and checks that they accept the same frames of a corpus of crafted TCP,
// UDP, SCTP, ICMP, IGMP, ARP, RARP, IPv6 (with fragment headers), IPv4
// (with options and fragments) and truncated frames. The supported subset:
//
//   - Operators: and (&&), or (||), not (!), parentheses. As in
//     pcap-filter(7), not binds tightest and "and" and "or" have equal
//     precedence and group left to right: "a or b and c" is "(a or b) and c".
//   - Protocols: ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6, igmp;
//     ip proto N, ip6 proto N, proto N (N a number or \tcp, \udp, \icmp,
//     \icmp6, \igmp, \sctp); ether proto N (above 1500, or \ip, \ip6,
//     \arp, \rarp). tcp, udp and sctp match over IPv4 and IPv6, and on IPv6
//     also behind one fragment header, as libpcap does.
//   - Addresses: [ip|ip6|arp|rarp] [src|dst|src or dst|src and dst]
//     [host] ADDR with an IPv4 or IPv6 address; ether [src|dst] [host] MAC;
//     [ip|ip6|arp|rarp] [dir] net NET with NET as 10, 10.1, 10.1.2.0/24,
//     10.1.0.0 mask 255.255.0.0 or fe80::/64 (host bits must be zero).
//   - Ports: [tcp|udp|sctp] [dir] port N and portrange N-M, N a number or a
//     service name (a name known for one transport only restricts the match
//     to it, like libpcap). IPv4 ports are only read from unfragmented
//     packets and first fragments.
//   - Identical qualifiers may be omitted: "host a or b", "tcp dst port 80
//     or 443".
//   - Lengths and link-layer classes: greater N, less N, len RELOP N,
//     [ether] broadcast, [ether] multicast, ip multicast, ip6 multicast.
//   - Packet data: PROTO[OFF] or PROTO[OFF:SIZE] (SIZE 1, 2 or 4) for
//     ether, ip, ip6, arp, rarp, tcp, udp, sctp, icmp, igmp and icmp6,
//     optionally "& MASK", compared with =, ==, !=, <, <=, > or >= to a
//     constant. Offsets, masks and values are numbers (decimal, 0x hex,
//     0 octal) or libpcap's names (tcpflags, tcp-syn, tcp-ack, ...,
//     icmptype, icmp-echo, ..., icmp6type, icmp6-echo, ...); a constant
//     may be a parenthesized "|" of them: tcp[tcpflags] & (tcp-syn|tcp-ack)
//     == tcp-syn.
//
// Anything else is an error that names the unsupported part (wrapping
// ErrFilter): host names (no DNS on the capture path), vlan, mpls,
// gateway, protochain, llc, ip broadcast (it needs the interface's
// netmask), arithmetic other than "& MASK", variable offsets, and the
// other link types' qualifiers. Conditional jumps farther than classic
// BPF's 255 instructions go through an unconditional jump, so only the
// kernel's 4096-instruction limit bounds a program (about 230 host or 120
// port primitives or-ed together); beyond it CompileFilter fails. The
// programs are not optimized. A frame too short for a load the program
// makes is rejected, as in the kernel: this matches tcpdump's unoptimized
// (-O) code on every frame, and its optimized code on whole frames (the
// optimizer moves loads, which changes what a truncated frame decides).
//
// We evaluated github.com/packetcap/go-pcap/filter first: it miscompiles
// "icmp", "and not port 22", "not (tcp and port 80)", "(tcp or udp) and
// port 80", portrange and mixed and/or precedence without an error, and
// emits programs with out-of-range jumps for "arp", "ip" and "ip6".
//
// # Concurrency
//
// Capture and Stats are safe for concurrent use from any goroutine, and so
// are Flush, Reopen and Close. A Tap owns its slots, its writer goroutine
// and, for Create, its file.
package tap
