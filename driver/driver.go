package driver

import (
	"github.com/rxpath/rxpath/driver/internal/linkstate"
	"github.com/rxpath/rxpath/driver/internal/queue"
)

// The queue interface and its types. They are defined in an internal
// package so that the drivers below can implement them while this package
// imports the drivers to choose one; these aliases are the public names.
type (
	// Frame is a received frame: a view into driver memory plus the
	// handle that releases it.
	Frame = queue.Frame
	// Queue is one receive queue with its buffers, driven by one poller.
	// See the package documentation for its contract.
	Queue = queue.Queue
	// QueueStats are a queue's driver-level counters.
	QueueStats = queue.QueueStats
	// KernelStats are the kernel's counters for a queue.
	KernelStats = queue.KernelStats
	// Buffers is a queue's buffer ledger.
	Buffers = queue.Buffers
	// LinkStats are the link's state and its down/up history, as the
	// device's link watcher saw them.
	LinkStats = linkstate.Stats
)

// Sentinel errors that callers branch on.
var (
	// ErrNotSupported: the driver cannot run here (kernel, NIC or GOOS).
	ErrNotSupported = queue.ErrNotSupported
	// ErrQueueDown: the queue's device went away or reported an error.
	ErrQueueDown = queue.ErrQueueDown
	// ErrLinkGone: the interface was deleted (or moved to another
	// namespace) while bound. Errors from a queue's Wait wrap it, with
	// ErrQueueDown and syscall.ENODEV.
	ErrLinkGone = linkstate.ErrGone
)
