// Package netdev reads what rxpath needs to know about a network interface
// (index, MTU, queue count, link state, an attached XDP program) over
// rtnetlink, in the network namespace of the calling thread.
//
// It uses rtnetlink rather than sysfs because /sys shows the namespace it
// was mounted in, not the one a thread has switched to with setns.
package netdev

import (
	"errors"
	"net"
)

// ErrNoInterface is returned when the named interface does not exist in
// the caller's network namespace.
var ErrNoInterface = errors.New("no such network interface")

// Info describes an interface.
type Info struct {
	Name        string
	Index       int
	MTU         int
	MAC         net.HardwareAddr
	Up          bool // administratively up (IFF_UP)
	Running     bool // carrier (IFF_RUNNING)
	NumRxQueues int
	NumTxQueues int
	XDPProgID   uint32 // 0 when no XDP program is attached
	XDPAttached uint8  // XDP_ATTACHED_* mode of that program
}
