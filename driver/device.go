package driver

import "net"

// Device is an opened interface: its queues and how they were opened.
// Package auto opens one on a real interface; tests may build one around
// in-memory queues. Safe for concurrent use; the queues follow the Queue
// contract.
type Device struct {
	// Kind is the driver in use (XDP or Packet, never Auto).
	Kind Kind
	// Reason says why Auto fell back to AF_PACKET, or is empty.
	Reason string
	// Mode describes the driver's mode, e.g. "native XDP, copy".
	Mode string
	// Name, Index and MAC identify the interface.
	Name  string
	Index int
	MAC   net.HardwareAddr
	// Queues are the receive queues, one per poller.
	Queues []Queue
	// Backend is the driver's own device (*afxdp.Device or
	// *afpacket.Device; package auto has typed accessors), or nil for a
	// device without one.
	Backend Backend
}

// Backend is the driver's own device behind a Device.
type Backend interface {
	// Close closes the device and its queues. It is idempotent.
	Close() error
	// Link returns the link's state and its down/up history.
	Link() LinkStats
}

// Link returns the link's state and its down/up history: a down link is a
// gap in receive, counted here; a deleted one ends every queue's poller
// with ErrLinkGone. It is zero without a Backend.
func (d *Device) Link() LinkStats {
	if d.Backend == nil {
		return LinkStats{}
	}
	return d.Backend.Link()
}

// Close closes the Backend, and with it the queues; without a Backend it
// does nothing. It is idempotent.
func (d *Device) Close() error {
	if d.Backend == nil {
		return nil
	}
	return d.Backend.Close()
}
