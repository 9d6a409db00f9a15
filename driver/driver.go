package driver

import "errors"

// Sentinel errors that callers branch on.
var (
	// ErrNotSupported: the driver cannot run here (kernel, NIC or GOOS).
	ErrNotSupported = errors.New("not supported")
	// ErrQueueDown: the queue's device went away or reported an error.
	ErrQueueDown = errors.New("queue down")
	// ErrLinkGone: the interface was deleted (or moved to another
	// namespace) while bound. Errors from a queue's Wait wrap it, with
	// ErrQueueDown and syscall.ENODEV.
	ErrLinkGone = errors.New("link deleted")
)

// LinkStats are the link's state and its down/up history, as the device's
// link watcher saw them.
type LinkStats struct {
	Up       bool    `json:"up"`
	Downs    uint64  `json:"downs"`       // up → down transitions since the device opened
	DownTime float64 `json:"down_time_s"` // seconds spent down, the current stretch included
	Deleted  bool    `json:"deleted,omitempty"`
}
