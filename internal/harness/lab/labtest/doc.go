// Package labtest gives privileged tests their own lab (see package lab):
// a veth pair between two network namespaces with names unique to the test,
// torn down by t.Cleanup, plus kernel UDP sockets on the peer side.
//
// New skips the test, with a reason, only when the process lacks
// CAP_NET_ADMIN, CAP_SYS_ADMIN or CAP_BPF; a lab that fails to come up
// fails the test. The lab needs no external command; tests that run one as
// a peer (ping, tcpdump, ip) check for it themselves. CI runs as root, so
// these tests run there.
//
// The peer side is always the kernel: UDPSender and UDPListener are kernel
// sockets made in the peer namespace, RawSender puts crafted Ethernet
// frames on the peer's veth end, and SendPaced, Sink and the payload
// helpers make and check sequenced traffic.
//
// All functions are safe for concurrent use by parallel tests.
package labtest
