// Package stack is rxpath's link layer and the frame of the in-process
// network stack: Ethernet demux, ARP, the neighbour cache and the output
// path that the layers above use to send. The type Stack is that link
// layer, the bottom of the stack, with which IPv4 registers (as Linux's
// netdevice layer, with ptype_base); it is called Stack because every
// other layer hangs from it.
//
// The stack owns its seam to the device (LinkEndpoint: transmit, MAC,
// MTU), as gVisor's stack owns stack.LinkEndpoint, and imports no driver
// or poller. Package rxpath, the assembly point, adapts a device's queues
// to LinkEndpoint and hands every received frame to Deliver, after the
// capture tap has seen it (where ptype_all taps sit: before any parsing or
// filtering, so tcpdump-style captures see dropped frames).
//
// For every frame, Deliver
//
//  1. accepts it only if it is addressed to our MAC, to broadcast, or to a
//     multicast group we joined (everything else is counted and dropped
//     before IP parsing),
//  2. hands it to the protocol registered for its EtherType, like
//     ptype_base: ARP is handled here, IPv4 registers itself from package
//     stack/ipv4, and unknown types are counted.
//
// No layer imports the layer above it: ipv4 registers with the Stack, udp
// and tcp register with ipv4.
//
// Frames are processed synchronously on the receiving goroutine. A Packet
// is a view into the driver's frame and is valid only during the call; a
// layer that keeps data copies it (reassembly, socket receive queues). So
// the stack never holds a driver buffer and the poller releases every
// frame when the call returns.
//
// Output: layers build an IPv4 packet behind EthernetSize bytes of
// headroom and call WriteIPv4, which resolves the next hop through the
// neighbour cache (ARP, at most 3 packets queued per unresolved neighbour
// as Linux's arp_queue) and transmits through the link on the queue the
// packet's reply belongs to, or on queue 0 for sends from application
// goroutines.
//
// Every drop has a named counter in Stats. Stack is safe for concurrent
// use: the pollers of several queues call Deliver concurrently.
package stack
