package driver

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/rxpath/rxpath/driver/afpacket"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/netdev"
)

// Kind selects a driver.
type Kind int

// Driver kinds.
const (
	// Auto picks AF_XDP when it can and falls back to AF_PACKET.
	Auto Kind = iota
	// XDP is AF_XDP (package afxdp).
	XDP
	// Packet is AF_PACKET TPACKET_V3 (package afpacket).
	Packet
)

// String returns "auto", "xdp" or "packet", as ParseKind accepts.
func (k Kind) String() string {
	switch k {
	case XDP:
		return "xdp"
	case Packet:
		return "packet"
	}
	return "auto"
}

// ParseKind parses "auto", "xdp" or "packet".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "", "auto":
		return Auto, nil
	case "xdp", "afxdp":
		return XDP, nil
	case "packet", "afpacket":
		return Packet, nil
	}
	return 0, fmt.Errorf("unknown driver %q (want auto, xdp or packet)", s)
}

// Options configures Open. The zero value picks a driver automatically
// with each driver's defaults.
type Options struct {
	// Kind selects the driver (default Auto).
	Kind Kind
	// XDP configures the AF_XDP driver.
	XDP afxdp.Options
	// Packet configures the AF_PACKET driver.
	Packet afpacket.Options
}

// Device is an opened interface: its queues and how they were opened.
// Safe for concurrent use; the queues follow the Queue contract.
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

	// XDP is the AF_XDP device when Kind is XDP.
	XDP *afxdp.Device
	// Packet is the AF_PACKET device when Kind is Packet.
	Packet *afpacket.Device

	closer io.Closer
	link   func() LinkStats
}

// Link returns the link's state and its down/up history: a down link is a
// gap in receive, counted here; a deleted one ends every queue's poller
// with ErrLinkGone.
func (d *Device) Link() LinkStats {
	if d.link == nil {
		return LinkStats{}
	}
	return d.link()
}

// Close closes the underlying device. It is idempotent. A Device built
// around in-memory queues (no underlying device) has nothing to close.
func (d *Device) Close() error {
	if d.closer == nil {
		return nil
	}
	return d.closer.Close()
}

// Open opens ifname with the driver o.Kind selects. With Auto it tries
// AF_XDP and, when that fails for any reason but a missing interface,
// falls back to AF_PACKET; Device.Reason and a log line say why. It must
// run on a thread in the interface's network namespace.
func Open(ifname string, o Options) (*Device, error) {
	if o.Kind != Packet {
		x, err := afxdp.Open(ifname, o.XDP)
		if err == nil {
			return fromXDP(x), nil
		}
		if o.Kind == XDP || errors.Is(err, netdev.ErrNoInterface) {
			return nil, err
		}
		slog.Warn("AF_XDP unavailable, falling back to AF_PACKET", "iface", ifname, "reason", err)
		d, perr := openPacket(ifname, o.Packet)
		if perr != nil {
			return nil, fmt.Errorf("open %s: AF_XDP: %v; AF_PACKET: %w", ifname, err, perr)
		}
		d.Reason = err.Error()
		return d, nil
	}
	return openPacket(ifname, o.Packet)
}

func fromXDP(x *afxdp.Device) *Device {
	info := x.Info()
	mode := x.Attach().String() + " XDP, copy"
	if x.ZeroCopy() {
		mode = x.Attach().String() + " XDP, zero-copy"
	}
	if x.Fallback() != "" {
		mode += " (native refused: " + x.Fallback() + ")"
	}
	return &Device{Kind: XDP, Mode: mode, Name: info.Name, Index: info.Index, MAC: info.MAC,
		Queues: x.DriverQueues(), XDP: x, closer: x, link: x.Link}
}

func openPacket(ifname string, o afpacket.Options) (*Device, error) {
	p, err := afpacket.Open(ifname, o)
	if err != nil {
		return nil, err
	}
	info := p.Info()
	return &Device{Kind: Packet, Mode: "TPACKET_V3", Name: info.Name, Index: info.Index, MAC: info.MAC,
		Queues: p.DriverQueues(), Packet: p, closer: p, link: p.Link}, nil
}
