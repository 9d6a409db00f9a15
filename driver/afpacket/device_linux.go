package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/sockq"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// caps are the capabilities the driver needs, for permission errors.
const caps = "CAP_NET_RAW"

var _ driver.Backend = (*Device)(nil)

// Device is an interface with a fanout group of AF_PACKET sockets, each
// with its own TPACKET_V3 ring. Safe for concurrent use.
type Device struct {
	dev     sockq.Device
	opts    Options
	group   uint16 // fanout group id
	grouped bool   // the sockets joined a fanout group
	queues  []*Queue
}

// Open opens opts.Queues sockets on ifname, joins them in a fanout group
// and maps their rings. It must run on a thread in the interface's network
// namespace. On failure everything built so far is released.
func Open(ifname string, opts Options) (*Device, error) {
	d := &Device{opts: opts.withDefaults()}
	if err := d.dev.Open("afpacket", ifname, d.opts.validate, d.open, d.Close); err != nil {
		return nil, err
	}
	return d, nil
}

// open is Open's own part, once the interface is looked up and its link
// watched.
func (d *Device) open() error {
	info, opts := d.dev.Info, d.opts
	// A block must hold the largest frame with its headers, or the kernel
	// truncates it.
	if need := blockHdrLen + pktHdrLen + 2*alignment + ethHdrLen + 4 + info.MTU; need > opts.BlockSize {
		return fmt.Errorf("%s: MTU %d does not fit a ring block of %d bytes (need %d)", info.Name, info.MTU, opts.BlockSize, need)
	}
	n := opts.Queues
	if n == 0 {
		n = max(info.NumRxQueues, 1)
	}
	for i := range n {
		q := &Queue{}
		d.queues = append(d.queues, q) // Close releases it if open fails
		if err := q.open(d, i); err != nil {
			return fmt.Errorf("%s socket %d: %w", info.Name, i, err)
		}
	}
	if n > 1 || opts.FanoutGroup != 0 {
		if err := d.joinFanout(); err != nil {
			return fmt.Errorf("%s: %w", info.Name, err)
		}
	}
	// The group is complete: replace the drop-all setup filter.
	for _, q := range d.queues {
		if err := q.setFilter(opts.SocketFilter); err != nil {
			return fmt.Errorf("%s socket %d: %w", info.Name, q.ID(), err)
		}
	}
	if opts.Promisc {
		mreq := unix.PacketMreq{Ifindex: int32(info.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(d.queues[0].sk.FD, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fmt.Errorf("%s: %w", info.Name, os.NewSyscallError("setsockopt PACKET_ADD_MEMBERSHIP", err))
		}
	}
	return nil
}

// joinFanout puts every socket in one fanout group. Without a group id the
// first socket asks the kernel for an unused one.
func (d *Device) joinFanout() error {
	mode := unix.PACKET_FANOUT_HASH
	switch d.opts.Fanout {
	case FanoutCPU:
		mode = unix.PACKET_FANOUT_CPU
	case FanoutLB:
		mode = unix.PACKET_FANOUT_LB
	}
	// The kernel registers the group's hook in place of the sockets', so
	// the group needs the ignore-outgoing flag too (Linux 6.8+; older
	// kernels refuse it and deliver our own transmissions).
	flags := mode | unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
	// The kernel may hand out id 0, so "have an id" is not id != 0.
	id, haveID := d.opts.FanoutGroup, d.opts.FanoutGroup != 0
	for i, q := range d.queues {
		join := func(flags int) error {
			if !haveID {
				flags |= unix.PACKET_FANOUT_FLAG_UNIQUEID
			}
			return unix.SetsockoptInt(q.sk.FD, unix.SOL_PACKET, unix.PACKET_FANOUT, int(id)|flags<<16)
		}
		err := join(flags)
		if i == 0 && errors.Is(err, unix.EINVAL) {
			if join(mode) == nil {
				flags, err = mode, nil
			}
		}
		if err != nil {
			return fmt.Errorf("socket %d: join fanout group %d (%s): %w", i, id, d.opts.Fanout, os.NewSyscallError("setsockopt PACKET_FANOUT", err))
		}
		if !haveID {
			v, err := unix.GetsockoptInt(q.sk.FD, unix.SOL_PACKET, unix.PACKET_FANOUT)
			if err != nil {
				return fmt.Errorf("socket %d: read fanout group id: %w", i, os.NewSyscallError("getsockopt PACKET_FANOUT", err))
			}
			id, haveID = uint16(v), true
		}
	}
	d.group, d.grouped = id, true
	return nil
}

// Queues returns the sockets, in fanout-group order.
func (d *Device) Queues() []*Queue { return d.queues }

// FanoutGroup returns the fanout group id, and false if the sockets joined
// no group (one socket and no Options.FanoutGroup).
func (d *Device) FanoutGroup() (id uint16, ok bool) { return d.group, d.grouped }

// DriverQueues returns the sockets as driver.Queue values.
func (d *Device) DriverQueues() []driver.Queue { return sockq.DriverQueues(d.queues) }

// Info returns what Open learned about the interface.
func (d *Device) Info() netdev.Info { return d.dev.Info }

// MAC returns the interface's hardware address.
func (d *Device) MAC() net.HardwareAddr { return d.dev.Info.MAC }

// Link returns the link's state as the device saw it: up or down, how
// often and how long it went down, and whether it was deleted.
func (d *Device) Link() driver.LinkStats { return d.dev.Watch.Stats() }

// Close closes every queue, waking its poller. It is idempotent: later
// calls return the first call's result.
func (d *Device) Close() error {
	return d.dev.Close(func() (errs []error) {
		for _, q := range d.queues {
			errs = append(errs, q.Close())
		}
		return errs
	})
}
