package afxdp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/sockq"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// nativeMaxMTUHint is the largest veth MTU native XDP accepts with 4 KiB
// pages; drivers differ, so it only shapes the error message.
const nativeMaxMTUHint = 3506

// caps are the capabilities the driver needs, for permission errors.
const caps = "CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF"

var _ driver.Backend = (*Device)(nil)

// Device is an interface with AF_XDP sockets bound to some of its queues
// and the XDP program that steers frames to them. Safe for concurrent use.
type Device struct {
	dev      sockq.Device
	opts     Options
	prog     *ebpf.Program
	xsks     *ebpf.Map
	link     link.Link
	queues   []*Queue
	attach   AttachMode // the mode actually in use
	zeroCopy bool
	fallback string // why auto attach fell back to generic, if it did

	// triage is the loaded triage stage, or nil; triageErr says why it
	// was refused when Options.Triage asked for it.
	triage    *triage
	triageErr string
	// Sampled drops read so far (ReadDropSample).
	sampleMu             sync.Mutex
	samples, samplesLost uint64
}

// Open binds the queues of ifname chosen by opts. It must run on a thread in
// the interface's network namespace. On failure everything built so far is
// released.
func Open(ifname string, opts Options) (*Device, error) {
	d := &Device{opts: opts.withDefaults()}
	if err := d.dev.Open("afxdp", ifname, d.opts.validate, d.open, d.Close); err != nil {
		return nil, err
	}
	return d, nil
}

// open is Open's own part, once the interface is looked up and its link
// watched: check the queue list, load the program, bind the queues, attach.
func (d *Device) open() error {
	info, opts := d.dev.Info, d.opts
	queues := opts.Queues
	if len(queues) == 0 {
		for q := range info.NumRxQueues {
			queues = append(queues, q)
		}
	}
	for _, q := range queues {
		if q < 0 || q >= info.NumRxQueues {
			return fmt.Errorf("%s has %d rx queues, no queue %d", info.Name, info.NumRxQueues, q)
		}
	}
	if sorted := slices.Sorted(slices.Values(queues)); len(slices.Compact(sorted)) != len(queues) {
		return fmt.Errorf("queue list %v has duplicates", queues)
	}
	if !opts.TransmitOnly {
		var err error
		d.xsks, err = ebpf.NewMap(xskMapSpec(info.NumRxQueues))
		if err != nil {
			return fmt.Errorf("create XSKMAP: %w", sockq.Privileged(err, caps))
		}
		if opts.Triage.Enabled() {
			// A kernel without a helper the stage uses (or a verifier
			// that refuses it) costs the stage, not the device.
			d.triage, d.prog, err = loadTriage(d.xsks, opts.UnboundAction, opts.Triage)
			if err != nil {
				d.triageErr = err.Error()
				slog.Warn("XDP triage off: the kernel refused it", "iface", info.Name, "reason", err)
			}
		}
		if d.prog == nil {
			d.prog, err = ebpf.NewProgram(programSpec(d.xsks, opts.UnboundAction))
			if err != nil {
				return fmt.Errorf("load XDP program: %w", sockq.Privileged(err, caps))
			}
		}
	}
	for _, id := range queues {
		q := &Queue{}
		d.queues = append(d.queues, q) // Close releases it if open fails
		if err := q.open(d, id); err != nil {
			return fmt.Errorf("%s queue %d: %w", info.Name, id, err)
		}
		d.zeroCopy = q.zeroCopy
		if opts.TransmitOnly {
			continue
		}
		if err := d.xsks.Put(uint32(id), uint32(q.sk.FD)); err != nil {
			return fmt.Errorf("%s queue %d: insert socket into XSKMAP: %w", info.Name, id, err)
		}
	}
	if opts.TransmitOnly {
		return nil
	}
	return d.attachProgram()
}

func (d *Device) attachProgram() error {
	try := func(m AttachMode) error {
		flags := link.XDPDriverMode
		if m == AttachGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: d.prog, Interface: d.dev.Info.Index, Flags: flags})
		if err != nil {
			return err
		}
		d.link, d.attach = l, m
		return nil
	}
	switch d.opts.Attach {
	case AttachGeneric:
		if err := try(AttachGeneric); err != nil {
			return fmt.Errorf("attach generic XDP to %s: %w", d.dev.Info.Name, sockq.Privileged(err, caps))
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
		return fmt.Errorf("attach XDP to %s: %w", d.dev.Info.Name, sockq.Privileged(nerr, caps))
	}
	if err := try(AttachGeneric); err != nil {
		return fmt.Errorf("attach XDP to %s: native: %v; generic: %w", d.dev.Info.Name, nerr, err)
	}
	d.fallback = d.nativeError(nerr).Error()
	slog.Warn("native XDP refused, using generic XDP", "iface", d.dev.Info.Name, "reason", d.fallback)
	return nil
}

func (d *Device) nativeError(err error) error {
	if d.dev.Info.MTU > nativeMaxMTUHint && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE) || errors.Is(err, unix.EOPNOTSUPP)) {
		return fmt.Errorf("attach native XDP to %s: MTU %d is likely too large for the driver's native XDP (veth allows at most %d); lower the MTU or use generic attach: %w",
			d.dev.Info.Name, d.dev.Info.MTU, nativeMaxMTUHint, err)
	}
	return fmt.Errorf("attach native XDP to %s: %w", d.dev.Info.Name, sockq.Privileged(err, caps))
}

// Queues returns the bound queues, in the order of Options.Queues.
func (d *Device) Queues() []*Queue { return d.queues }

// DriverQueues returns the bound queues as driver.Queue values.
func (d *Device) DriverQueues() []driver.Queue { return sockq.DriverQueues(d.queues) }

// Attach returns the attach mode in use (native or generic).
func (d *Device) Attach() AttachMode { return d.attach }

// Info returns what Open learned about the interface.
func (d *Device) Info() netdev.Info { return d.dev.Info }

// ZeroCopy reports whether the sockets are bound in zero-copy mode.
func (d *Device) ZeroCopy() bool { return d.zeroCopy }

// MAC returns the interface's hardware address.
func (d *Device) MAC() net.HardwareAddr { return d.dev.Info.MAC }

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

// Link returns the link's state as the device saw it: up or down, how
// often and how long it went down, and whether it was deleted.
func (d *Device) Link() driver.LinkStats { return d.dev.Watch.Stats() }

// Close detaches the XDP program, then closes every queue (waking its
// poller) and frees the program and map. It is idempotent: later calls
// return the first call's result.
func (d *Device) Close() error {
	return d.dev.Close(func() (errs []error) {
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
		if d.triage != nil {
			errs = append(errs, d.triage.close())
		}
		return errs
	})
}
