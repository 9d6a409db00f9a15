// Package linkstate follows one network interface through rtnetlink link
// events, for the drivers' queues: whether the link is up, how often and
// how long it went down (the receive gap), and whether it was deleted.
//
// A Watcher owns a nonblocking NETLINK_ROUTE socket subscribed to
// RTMGRP_LINK. Queues add its descriptor to the set they sleep on, so a
// link event wakes an idle poller at once, and call Update after waking:
// no goroutine is involved, and closing the Watcher cannot strand one in
// recvfrom(2). Both sockets are opened in the calling thread's network
// namespace and stay in it.
package linkstate
