package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/linkstate"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// nativeMaxMTUHint is the largest veth MTU native XDP accepts with 4 KiB
// pages; drivers differ, so it only shapes the error message.
const nativeMaxMTUHint = 3506

// Device is an interface with AF_XDP sockets bound to some of its queues
// and the XDP program that steers frames to them. Safe for concurrent use.
type Device struct {
	info      netdev.Info
	opts      Options
	prog      *ebpf.Program
	xsks      *ebpf.Map
	link      link.Link
	queues    []*Queue
	attach    AttachMode // the mode actually in use
	zeroCopy  bool
	fallback  string // why auto attach fell back to generic, if it did
	watch     *linkstate.Watcher
	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error
}

// Open binds the queues of ifname chosen by opts. It must run on a thread in
// the interface's network namespace. On failure everything built so far is
// released.
func Open(ifname string, opts Options) (d *Device, err error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("afxdp: %w", err)
	}
	info, err := netdev.Lookup(ifname)
	if err != nil {
		return nil, fmt.Errorf("afxdp: %w", err)
	}
	queues := opts.Queues
	if len(queues) == 0 {
		for q := range info.NumRxQueues {
			queues = append(queues, q)
		}
	}
	for _, q := range queues {
		if q < 0 || q >= info.NumRxQueues {
			return nil, fmt.Errorf("afxdp: %s has %d rx queues, no queue %d", ifname, info.NumRxQueues, q)
		}
	}
	if sorted := slices.Sorted(slices.Values(queues)); len(slices.Compact(sorted)) != len(queues) {
		return nil, fmt.Errorf("afxdp: queue list %v has duplicates", queues)
	}

	d = &Device{info: info, opts: opts}
	defer func() {
		if err != nil {
			d.Close()
			d = nil
		}
	}()

	if d.watch, err = linkstate.Watch(info.Index); err != nil {
		return d, fmt.Errorf("afxdp: %s: %w", ifname, err)
	}
	if !opts.TransmitOnly {
		d.xsks, err = ebpf.NewMap(xskMapSpec(info.NumRxQueues))
		if err != nil {
			return d, fmt.Errorf("afxdp: create XSKMAP: %w", privileged(err))
		}
		d.prog, err = ebpf.NewProgram(programSpec(d.xsks, opts.UnboundAction))
		if err != nil {
			return d, fmt.Errorf("afxdp: load XDP program: %w", privileged(err))
		}
	}
	for _, q := range queues {
		xq, err := openQueue(d, q)
		if err != nil {
			return d, fmt.Errorf("afxdp: %s queue %d: %w", ifname, q, err)
		}
		d.queues = append(d.queues, xq)
		d.zeroCopy = xq.zeroCopy
		if opts.TransmitOnly {
			continue
		}
		if err := d.xsks.Put(uint32(q), uint32(xq.fd)); err != nil {
			return d, fmt.Errorf("afxdp: %s queue %d: insert socket into XSKMAP: %w", ifname, q, err)
		}
	}
	if opts.TransmitOnly {
		return d, nil
	}
	if err := d.attachProgram(); err != nil {
		return d, err
	}
	return d, nil
}

func (d *Device) attachProgram() error {
	try := func(m AttachMode) error {
		flags := link.XDPDriverMode
		if m == AttachGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: d.prog, Interface: d.info.Index, Flags: flags})
		if err != nil {
			return err
		}
		d.link, d.attach = l, m
		return nil
	}
	switch d.opts.Attach {
	case AttachGeneric:
		if err := try(AttachGeneric); err != nil {
			return fmt.Errorf("afxdp: attach generic XDP to %s: %w", d.info.Name, privileged(err))
		}
		return nil
	case AttachNative:
		if err := try(AttachNative); err != nil {
			return d.nativeError(err)
		}
		return nil
	}
	nerr := try(AttachNative)
	if nerr == nil {
		return nil
	}
	if errors.Is(nerr, unix.EPERM) {
		return fmt.Errorf("afxdp: attach XDP to %s: %w", d.info.Name, privileged(nerr))
	}
	if err := try(AttachGeneric); err != nil {
		return fmt.Errorf("afxdp: attach XDP to %s: native: %v; generic: %w", d.info.Name, nerr, err)
	}
	d.fallback = d.nativeError(nerr).Error()
	slog.Warn("native XDP refused, using generic XDP", "iface", d.info.Name, "reason", d.fallback)
	return nil
}

func (d *Device) nativeError(err error) error {
	if d.info.MTU > nativeMaxMTUHint && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE) || errors.Is(err, unix.EOPNOTSUPP)) {
		return fmt.Errorf("afxdp: attach native XDP to %s: MTU %d is likely too large for the driver's native XDP (veth allows at most %d); lower the MTU or use generic attach: %w",
			d.info.Name, d.info.MTU, nativeMaxMTUHint, err)
	}
	return fmt.Errorf("afxdp: attach native XDP to %s: %w", d.info.Name, privileged(err))
}

// privileged adds the capabilities to name to a permission error.
func privileged(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w (needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF, e.g. run as root)", err)
	}
	return err
}

// Queues returns the bound queues, in the order of Options.Queues.
func (d *Device) Queues() []*Queue { return d.queues }

// DriverQueues returns the bound queues as driver.Queue values.
func (d *Device) DriverQueues() []driver.Queue {
	out := make([]driver.Queue, len(d.queues))
	for i, q := range d.queues {
		out[i] = q
	}
	return out
}

// Info returns what Open learned about the interface.
func (d *Device) Info() netdev.Info { return d.info }

// Attach returns the attach mode in use (native or generic).
func (d *Device) Attach() AttachMode { return d.attach }

// ZeroCopy reports whether the sockets are bound in zero-copy mode.
func (d *Device) ZeroCopy() bool { return d.zeroCopy }

// Fallback says why auto attach fell back to generic, or "".
func (d *Device) Fallback() string { return d.fallback }

// ProgramID returns the kernel ID of the XDP program.
func (d *Device) ProgramID() (ebpf.ProgramID, error) {
	if d.prog == nil {
		return 0, errors.New("afxdp: transmit-only device has no XDP program")
	}
	info, err := d.prog.Info()
	if err != nil {
		return 0, err
	}
	id, _ := info.ID()
	return id, nil
}

// MAC returns the interface's hardware address.
func (d *Device) MAC() net.HardwareAddr { return d.info.MAC }

// Close detaches the XDP program, then closes every queue (waking its
// poller) and frees the program and map. It is idempotent: later calls
// return the first call's result.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		var errs []error
		if d.link != nil {
			errs = append(errs, d.link.Close())
		}
		for _, q := range d.queues {
			errs = append(errs, q.Close())
		}
		if d.prog != nil {
			errs = append(errs, d.prog.Close())
		}
		if d.xsks != nil {
			errs = append(errs, d.xsks.Close())
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
