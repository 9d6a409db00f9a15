// Package netdev reads what rxpath needs to know about a network interface
// (index, MTU, queue count, link state, an attached XDP program) over
// rtnetlink, in the network namespace of the calling thread. The drivers
// use it to find the interface, read its MAC and size their queues to its
// rx queue count; auto.Open does not fall back from AF_XDP to AF_PACKET
// when the interface is missing (ErrNoInterface). The XDP fields show
// whether a program is attached.
//
// The ethtool side (Channels, RSSQueues, Features, EthtoolStats, and
// SetFeatures, the one call that changes an interface, used by the lab) uses
// the SIOCETHTOOL ioctl, so nothing needs the ethtool command. Like the
// rtnetlink calls, it acts on the interface of that name in the calling
// thread's network namespace.
//
// It uses rtnetlink rather than sysfs because /sys shows the namespace it
// was mounted in, not the one a thread has switched to with setns.
//
// The package is Linux-only; on other systems its functions return an
// error.
package netdev
