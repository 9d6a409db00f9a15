package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/linkstate"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// Device is an interface with a fanout group of AF_PACKET sockets, each
// with its own TPACKET_V3 ring. Safe for concurrent use.
type Device struct {
	info      netdev.Info
	opts      Options
	group     uint16 // fanout group id
	grouped   bool   // the sockets joined a fanout group
	queues    []*Queue
	watch     *linkstate.Watcher
	closeOnce sync.Once
	closeErr  error
}

// Open opens opts.Queues sockets on ifname, joins them in a fanout group
// and maps their rings. It must run on a thread in the interface's network
// namespace. On failure everything built so far is released.
func Open(ifname string, opts Options) (d *Device, err error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("afpacket: %w", err)
	}
	info, err := netdev.Lookup(ifname)
	if err != nil {
		return nil, fmt.Errorf("afpacket: %w", err)
	}
	// A block must hold the largest frame with its headers, or the kernel
	// truncates it.
	if need := blockHdrLen + pktHdrLen + 2*alignment + ethHdrLen + 4 + info.MTU; need > opts.BlockSize {
		return nil, fmt.Errorf("afpacket: %s: MTU %d does not fit a ring block of %d bytes (need %d)", ifname, info.MTU, opts.BlockSize, need)
	}
	n := opts.Queues
	if n == 0 {
		n = max(info.NumRxQueues, 1)
	}
	d = &Device{info: info, opts: opts}
	defer func() {
		if err != nil {
			d.Close()
			d = nil
		}
	}()
	if d.watch, err = linkstate.Watch(info.Index); err != nil {
		return d, fmt.Errorf("afpacket: %s: %w", ifname, err)
	}
	for i := range n {
		q, err := openQueue(d, i)
		if err != nil {
			return d, fmt.Errorf("afpacket: %s socket %d: %w", ifname, i, err)
		}
		d.queues = append(d.queues, q)
	}
	if n > 1 || opts.FanoutGroup != 0 {
		if err := d.joinFanout(); err != nil {
			return d, fmt.Errorf("afpacket: %s: %w", ifname, err)
		}
	}
	// The group is complete: replace the drop-all setup filter.
	for _, q := range d.queues {
		if err := q.setFilter(opts.Filter); err != nil {
			return d, fmt.Errorf("afpacket: %s socket %d: %w", ifname, q.id, err)
		}
	}
	if opts.Promisc {
		mreq := unix.PacketMreq{Ifindex: int32(info.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(d.queues[0].fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return d, fmt.Errorf("afpacket: %s: %w", ifname, os.NewSyscallError("setsockopt PACKET_ADD_MEMBERSHIP", err))
		}
	}
	return d, nil
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
			return unix.SetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(id)|flags<<16)
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
			v, err := unix.GetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
			if err != nil {
				return fmt.Errorf("socket %d: read fanout group id: %w", i, os.NewSyscallError("getsockopt PACKET_FANOUT", err))
			}
			id, haveID = uint16(v), true
		}
	}
	d.group, d.grouped = id, true
	return nil
}

// privileged adds the capability to name to a permission error.
func privileged(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w (needs CAP_NET_RAW, e.g. run as root)", err)
	}
	return err
}

// Queues returns the sockets, in fanout-group order.
func (d *Device) Queues() []*Queue { return d.queues }

// DriverQueues returns the sockets as driver.Queue values.
func (d *Device) DriverQueues() []driver.Queue {
	out := make([]driver.Queue, len(d.queues))
	for i, q := range d.queues {
		out[i] = q
	}
	return out
}

// Info returns what Open learned about the interface.
func (d *Device) Info() netdev.Info { return d.info }

// MAC returns the interface's hardware address.
func (d *Device) MAC() net.HardwareAddr { return d.info.MAC }

// FanoutGroup returns the fanout group id, and false if the sockets joined
// no group (one socket and no Options.FanoutGroup).
func (d *Device) FanoutGroup() (id uint16, ok bool) { return d.group, d.grouped }

// Close closes every queue, waking its poller. It is idempotent: later
// calls return the first call's result.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		for _, q := range d.queues {
			errs = append(errs, q.Close())
		}
		if d.watch != nil {
			errs = append(errs, d.watch.Close())
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// Link returns the link's state as the device saw it: up or down, how
// often and how long it went down, and whether it was deleted.
func (d *Device) Link() driver.LinkStats {
	if d.watch == nil {
		return driver.LinkStats{}
	}
	return d.watch.Stats()
}
