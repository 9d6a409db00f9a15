// Package filter is the rule table consulted at the IPv4 layer's two
// netfilter-like hooks.
//
// The IPv4 layer calls Table.Match at two points, as Linux runs its
// netfilter chains:
//
//   - PreRouting (NF_INET_PRE_ROUTING, keyword "prerouting"): right after
//     the header is validated, before defragmentation. Every fragment is
//     seen on its own; only a first fragment carries transport ports, so a
//     port rule here drops the first fragment and leaves the rest to time
//     out in reassembly. Use it for cheap early drops by address, protocol
//     or queue.
//   - LocalIn (NF_INET_LOCAL_IN, keyword "input", the default): after
//     reassembly, before the transport protocol. TCP and UDP ports are
//     always visible.
//
// At each hook the rules are tried in table order and the first match wins,
// as in an iptables chain with a default policy of ACCEPT: its verdict is
// returned and its packet and byte counters are bumped. No match accepts.
// The IPv4 layer releases a dropped packet's frame and counts the drop in
// its own Stats; Table.Stats says which rule took it.
//
// # Rule syntax
//
// Rules are written one per string (the CLI's repeatable --filter flag),
// as white-space separated tokens:
//
//	rule    = [ hook ] verdict { clause } .
//	hook    = "prerouting" | "input" .
//	verdict = "accept" | "drop" .
//	clause  = "tcp" | "udp" | "icmp" | "proto" number
//	        | "src" addr | "dst" addr
//	        | "sport" ports | "dport" ports
//	        | "queue" number .
//	addr    = IPv4 address (a /32) | IPv4 prefix ("10.99.0.0/24") .
//	ports   = port | port "-" port .  (decimal 0-65535, low <= high)
//
// Keywords are case-insensitive. The hook defaults to input. Clauses may
// come in any order, each at most once (tcp, udp, icmp and proto are one
// protocol clause), and all of them must hold for a packet to match; a rule
// with no clause, such as "drop", matches every packet at its hook. proto
// takes an IP protocol number 1-255. sport and dport need tcp or udp, and
// never match a packet without ports. Host bits in a prefix are ignored.
// Examples:
//
//	drop udp dport 9001
//	drop udp src 10.99.0.0/24 dport 53
//	prerouting drop icmp
//	accept tcp dport 80
//	drop src 10.99.0.1
//	drop udp sport 1000-2000 queue 1
//	drop proto 47
//
// Parse reports errors as a *ParseError naming the offending token. Rule's
// String method prints the canonical form, which parses back to an equal
// rule.
//
// # Concurrency
//
// A Table is immutable once built and safe for concurrent use: several
// pollers call Match at once. Match does not allocate or lock; its counters
// are atomics, sharded by receive queue (as iptables keeps them per CPU)
// so pollers on different queues do not share cache lines. To change the
// rules, build a new Table and publish it through an atomic.Pointer[Table];
// a nil *Table accepts everything.
package filter
