// Package ipv4 is rxpath's IPv4 layer: ip_rcv, ip_local_deliver, ICMP and
// the output path, in user space.
//
// Receive, as Linux does it:
//
//  1. ip_rcv: validate version, IHL, total length against the frame and
//     the header checksum; trim link padding; parse options with bounds
//     checks and drop source-routed packets (never honoured); drop martian
//     sources (loopback, multicast, broadcast, our own address) and TTL 0;
//     drop packets not addressed to us (rxpath does not forward).
//  2. The PRE_ROUTING hook (package stack/filter), before reassembly.
//  3. ip_local_deliver: reassemble fragments (package stack/ipv4/fragment:
//     byte caps, timeout, overlap policy), then the LOCAL_IN hook.
//  4. The protocol table, like inet_protos: ICMP is built in, UDP and TCP
//     register with RegisterTransport. An unknown protocol is counted.
//
// ICMP answers echo requests to our unicast addresses (fragmenting large
// replies to the MTU), ignores echo to broadcast or multicast, and sends
// errors (port unreachable, on request of the UDP layer) through a token
// bucket: 1000 per second with a burst of 50 by default, like
// icmp_msgs_per_sec and icmp_msgs_burst.
//
// Every drop has a named counter in Stats. The layer is safe for
// concurrent use by the pollers of several queues.
package ipv4
