// Package pcapexpr compiles tcpdump capture expressions, the syntax of
// pcap-filter(7), for Ethernet frames into classic BPF programs, in pure Go
// and without libpcap.
//
// # What it returns, and who runs it
//
// Compile takes an expression such as "tcp and (port 80 or port 443)" and
// returns a golang.org/x/net/bpf program for LINKTYPE_ETHERNET frames. The
// program returns 262144 (libpcap's MAXIMUM_SNAPLEN, what tcpdump's
// programs return) for a frame it accepts and 0 for a frame it rejects. It
// is never loaded into the kernel: package tap compiles Options.Expr once,
// when the tap is made, and runs the program in user space, in x/net/bpf's
// VM (which does not allocate per run), on every frame Capture is offered.
// It has nothing to do with the stack's netfilter-like rules (package
// stack/filter) or with a socket's kernel filter.
//
// Compiling follows libpcap's own pipeline: lex.go splits the expression
// into tokens (scanner.l), parse.go parses them into a tree of and, or,
// not and tests (grammar.y), primitive.go builds the tests each primitive
// stands for (gencode.c), and codegen.go lays the tree out as forward
// jumps and resolves them.
//
// # The supported subset
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
// # Errors and limits
//
// Anything else is an error that wraps ErrExpr and names the unsupported
// part: host names (no DNS on the capture path), vlan, mpls, gateway,
// protochain, llc, ip broadcast (it needs the interface's netmask),
// arithmetic other than "& MASK", variable offsets, and the other link
// types' qualifiers. An empty expression is an error too. Error messages
// start with `capture filter "EXPR": `, tcpdump's name for an expression.
//
// Conditional jumps farther than classic BPF's 255 instructions go through
// an unconditional jump, so only the kernel's 4096-instruction limit bounds
// a program (about 230 host or 120 port primitives or-ed together); beyond
// it Compile fails. The programs are not optimized. A frame too short for a
// load the program makes is rejected, as in the kernel: this matches
// tcpdump's unoptimized (-O) code on every frame, and its optimized code on
// whole frames (the optimizer moves loads, which changes what a truncated
// frame decides).
//
// # Checked against libpcap
//
// A differential test compiles a list of expressions with both this
// package and tcpdump -ddd and checks that they accept the same frames of
// a corpus of crafted TCP, UDP, SCTP, ICMP, IGMP, ARP, RARP, IPv6 (with
// fragment headers), IPv4 (with options and fragments) and truncated
// frames; FuzzCompile checks that every error wraps ErrExpr and every
// program compiled is valid and runs.
//
// We evaluated github.com/packetcap/go-pcap/filter first: it miscompiles
// "icmp", "and not port 22", "not (tcp and port 80)", "(tcp or udp) and
// port 80", portrange and mixed and/or precedence without an error, and
// emits programs with out-of-range jumps for "arp", "ip" and "ip6".
//
// # Concurrency
//
// Compile keeps no state between calls and is safe for concurrent use.
// The program it returns belongs to the caller.
package pcapexpr
