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

// ChannelCounts are an interface's channels as ethtool -l shows them: the
// maxima and the current counts of rx-only, tx-only and combined channels.
// A NIC's rx queues are its rx plus combined channels.
type ChannelCounts struct {
	MaxRx, MaxTx, MaxCombined int
	Rx, Tx, Combined          int
}

// RxQueues returns how many rx queues the current channels give.
func (c ChannelCounts) RxQueues() int { return c.Rx + c.Combined }
