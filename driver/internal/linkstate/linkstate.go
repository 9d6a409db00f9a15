package linkstate

import "errors"

// ErrGone wraps the error Update returns once the interface was deleted
// (or moved to another namespace).
var ErrGone = errors.New("link deleted")

// Stats describe the link as the watcher saw it.
type Stats struct {
	Up       bool    `json:"up"`
	Downs    uint64  `json:"downs"`       // up → down transitions since Watch
	DownTime float64 `json:"down_time_s"` // seconds spent down, the current stretch included
	Deleted  bool    `json:"deleted,omitempty"`
}
