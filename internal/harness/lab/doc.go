// Package lab builds and tears down the rxpath test lab: two network
// namespaces joined by a veth pair.
//
// The lab looks like this (defaults shown):
//
//	netns rxp-peer                         netns rxp-dut
//	+--------------------------+           +---------------------------+
//	| rxp-peer0  10.99.0.1/24  |<--veth--->| rxp0  (no kernel address) |
//	| kernel stack, tx csum off|           | rxpath owns 10.99.0.2     |
//	+--------------------------+           +---------------------------+
//
// The DUT ("device under test") end is where rxpath attaches its AF_XDP
// sockets. Its IPv4 address, Config.DUTAddr, is deliberately not given to the
// kernel: the user-space stack answers for it. The peer end is an ordinary
// kernel interface, so tests, the demo and the benchmark drive traffic with
// plain kernel sockets created inside the peer namespace (see InNS and the
// labtest package).
//
// Up creates the veth inside the DUT namespace and moves the peer end straight
// into the peer namespace, so the interface names never exist in the root
// namespace and never collide with the host or with another lab. It also
//
//   - turns TX checksum offload off on the peer end, so frames on the wire
//     carry real checksums that the user-space stack can verify;
//   - with Queues > 1, configures XPS on the peer end: tx queue i belongs to
//     CPU i%ncpu (ncpu = runtime.NumCPU()), so with Queues <= ncpu a kernel
//     socket sending from CPU i uses tx queue i. veth delivers peer tx queue
//     i to DUT rx queue i, which is how a test aims traffic at one AF_XDP
//     queue. (With more queues than CPUs, a CPU owns several tx queues and
//     the kernel spreads its flows over them by hash.)
//     A UDP socket keeps the tx queue of its first send, so pin the sending
//     thread before the first write;
//   - disables IPv6 on both ends, so router solicitations and MLD reports do
//     not show up in test traffic.
//
// Up removes stale namespaces with the same names first (a crashed run leaves
// them behind), and a failed Up removes whatever it made. Down deletes both
// namespaces, which destroys the veth pair; it is idempotent.
//
// Callers are the privileged tests (through labtest, which gives each lab
// unique namespace names), the `rxpath lab up/down` command, the demo and the
// benchmark. Everything needs CAP_NET_ADMIN and CAP_SYS_ADMIN, in practice
// root, and no external command: namespaces are made and removed the way
// `ip netns add` and `ip netns del` do (a bind mount on /var/run/netns/NAME,
// so `ip netns` lists them and `ip netns exec` enters them), links,
// addresses and neighbours are set over rtnetlink, and offloads and driver
// statistics go through the ethtool ioctl (package netdev).
//
// InNS runs a function on an OS thread switched into a lab namespace. Sockets
// and netlink handles created there stay in that namespace for their lifetime
// and may be used from any goroutine afterwards. The helpers built on it
// (AddAddr, SetLinkUp, DelLink, LinkStats, SetFeature, EthtoolStats,
// DetachXDP, ReadProcSys, ...) take the namespace and interface by name, so
// they work on either end of a lab or on any other named namespace.
// WithSysfs mounts a sysfs that shows a namespace's interfaces, which the
// host's /sys does not.
//
// Command and Exec run an external program in a namespace, as `ip netns
// exec` does but without it: the child is forked from a thread inside the
// namespace. Its /proc/net and /proc/sys/net are the namespace's; its /sys
// is the host's.
//
// The package is Linux-only; on other systems every function returns an error
// wrapping ErrNotSupported.
package lab
