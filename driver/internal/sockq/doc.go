// Package sockq is the scaffolding of the socket-backed queues, written
// once for driver/afxdp and driver/afpacket, as mdlayher/socket writes the
// descriptor lifecycle once for every socket family.
//
// A driver's Queue keeps a Core in an unexported field. The Core owns the
// socket, the eventfd that Wake and Close signal, and the counters every
// socket queue has; the driver owns its rings and its buffer ledger. The
// Core gives each driver:
//
//   - the life lock: every call that touches the socket or the rings runs
//     between Enter and Exit and checks Closed first (Transmit: EnterTx,
//     which also takes the transmit lock, and ExitTx). Close takes it for
//     writing, so it waits out a running call and no call starts on memory
//     Close has freed;
//   - the receive owner's claim: Claim lets the poller's goroutine run
//     Refill, Receive and Release without Enter and Exit for as long as it
//     holds it (over whole busy and idle passes), and Close waits for it
//     to end before it takes the life lock. A claimed call that finds the
//     queue closed drops the claim, so Close waits for one call at most;
//   - Wake, which writes the eventfd under the life lock, so that Close
//     cannot close it (and the number go to another file) in between;
//   - the close handshake: BeginClose marks the queue closed, wakes a
//     waiter and takes the life lock; the driver tears its rings down,
//     calling CloseFDs where its order needs it, then EndClose;
//   - Sleep, the wait in ppoll (or in an epoll set, edge-triggered on the
//     socket) on the socket, the eventfd and the link watcher's socket,
//     which retries EINTR, drains the eventfd and reports net.ErrClosed
//     after Close. Sleep says what woke it, and the driver decides in its
//     own order what that means (a socket error, a link event, frames);
//   - Down, the error that ends a queue (it wraps driver.ErrQueueDown),
//     and UpdateLink and CheckLink, which turn a deleted link into one;
//   - Stats: the counters as driver.QueueStats, with the kernel's counters
//     kept across Close.
//
// On the device side, Device is the open prologue (look the interface up,
// start its link watch, release everything if the driver's part fails)
// and the idempotent Close; Privileged names the capabilities a
// permission error needs. Off Linux the package offers the stubs:
// UnsupportedQueue and UnsupportedDevice, which the drivers' types embed,
// and Unsupported, the error their Open returns.
//
// Concurrency: a Core follows the driver.Queue contract of the queue that
// holds it: Sleep, Claim, Unclaim and Claimed belong to the poller's
// goroutine; Wake, Stats, Enter, EnterTx and BeginClose may be called from
// any goroutine.
package sockq
