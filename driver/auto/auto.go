package auto

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afpacket"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// Options configures Open. The zero value picks a driver automatically
// with each driver's defaults.
type Options struct {
	// Kind selects the driver (default driver.Auto).
	Kind driver.Kind
	// XDP configures the AF_XDP driver.
	XDP afxdp.Options
	// Packet configures the AF_PACKET driver.
	Packet afpacket.Options
}

// Open opens ifname with the driver o.Kind selects. With driver.Auto it
// tries AF_XDP and, when that fails for any reason but a missing
// interface, falls back to AF_PACKET; Device.Reason and a log line say
// why. It must run on a thread in the interface's network namespace.
func Open(ifname string, o Options) (*driver.Device, error) {
	if o.Kind != driver.Packet {
		x, err := afxdp.Open(ifname, o.XDP)
		if err == nil {
			return fromXDP(x), nil
		}
		if o.Kind == driver.XDP || errors.Is(err, netdev.ErrNoInterface) {
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

// XDP returns d's AF_XDP device, or nil if d has none.
func XDP(d *driver.Device) *afxdp.Device {
	x, _ := d.Backend.(*afxdp.Device)
	return x
}

// Packet returns d's AF_PACKET device, or nil if d has none.
func Packet(d *driver.Device) *afpacket.Device {
	p, _ := d.Backend.(*afpacket.Device)
	return p
}

func fromXDP(x *afxdp.Device) *driver.Device {
	info := x.Info()
	mode := x.Attach().String() + " XDP, copy"
	if x.ZeroCopy() {
		mode = x.Attach().String() + " XDP, zero-copy"
	}
	if x.Fallback() != "" {
		mode += " (native refused: " + x.Fallback() + ")"
	}
	return &driver.Device{Kind: driver.XDP, Mode: mode, Name: info.Name, Index: info.Index, MAC: info.MAC,
		Queues: x.DriverQueues(), Backend: x}
}

func openPacket(ifname string, o afpacket.Options) (*driver.Device, error) {
	p, err := afpacket.Open(ifname, o)
	if err != nil {
		return nil, err
	}
	info := p.Info()
	return &driver.Device{Kind: driver.Packet, Mode: "TPACKET_V3", Name: info.Name, Index: info.Index, MAC: info.MAC,
		Queues: p.DriverQueues(), Backend: p}, nil
}
