// Package examples holds small standalone programs built on the rxpath
// facade, one per directory, each a package main:
//
//   - udpsink: a UDP sink on rxpath's stack, reading datagrams in batches
//     with udp.Conn.ReadBatch.
//   - tcpecho: a TCP echo server (RFC 862), one goroutine per connection
//     in the application, io.Copy on rxpath's net.Conn.
//   - capture: a raw frame counter with no stack, writing the frames that
//     match a tcpdump-style filter to a pcap file through the tap.
//   - httpserver: net/http serving a page on rxpath's net.Listener.
//
// Each binds an interface with rxpath.Open, so it needs root and must run
// in the interface's network namespace, for example in the test lab:
//
//	rxpath lab up
//	ip netns exec rxp-dut go run ./examples/udpsink -i rxp0 -addr 10.99.0.2/24 -v
//	ip netns exec rxp-peer sh -c 'echo hello | nc -u -q1 10.99.0.2 9000'
//
// Each prints one line when it is ready ("listening on ..." or
// "capturing ...") and a summary when it exits, on its own (-n) or on
// SIGINT or SIGTERM; a buffer ledger that does not balance at Close makes
// it exit with status 1. The package's lab test builds every program and
// runs it against a veth lab with kernel sockets as the peer.
package examples
