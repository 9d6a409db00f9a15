package afxdp

import (
	"fmt"
	"time"

	"github.com/rxpath/rxpath/driver/internal/xsk"
	"github.com/rxpath/rxpath/umem"
)

// AttachMode selects how the XDP program is attached.
type AttachMode int

// Attach modes.
const (
	// AttachAuto tries native (driver) mode and falls back to generic.
	AttachAuto AttachMode = iota
	// AttachNative requires the driver's XDP hook.
	AttachNative
	// AttachGeneric uses the generic (SKB) hook, slower but universal.
	AttachGeneric
)

// String returns "auto", "native" or "generic", as ParseAttachMode accepts.
func (m AttachMode) String() string {
	switch m {
	case AttachNative:
		return "native"
	case AttachGeneric:
		return "generic"
	}
	return "auto"
}

// ParseAttachMode parses "auto", "native"/"drv" or "generic"/"skb".
func ParseAttachMode(s string) (AttachMode, error) {
	switch s {
	case "", "auto":
		return AttachAuto, nil
	case "native", "drv", "driver":
		return AttachNative, nil
	case "generic", "skb":
		return AttachGeneric, nil
	}
	return 0, fmt.Errorf("unknown attach mode %q (want auto, native or generic)", s)
}

// CopyMode selects copy or zero-copy binding.
type CopyMode int

// Copy modes.
const (
	// CopyAuto tries zero-copy and falls back to copy.
	CopyAuto CopyMode = iota
	// CopyForce binds in copy mode.
	CopyForce
	// ZeroCopyForce binds in zero-copy mode or fails.
	ZeroCopyForce
)

// String returns "auto", "copy" or "zerocopy".
func (m CopyMode) String() string {
	switch m {
	case CopyForce:
		return "copy"
	case ZeroCopyForce:
		return "zerocopy"
	}
	return "auto"
}

// BusyPoll configures the socket busy-poll options. Zero values leave the
// kernel defaults.
type BusyPoll struct {
	Prefer bool // SO_PREFER_BUSY_POLL
	Usec   int  // SO_BUSY_POLL
	Budget int  // SO_BUSY_POLL_BUDGET
}

// Options configures Open. The zero value means DefaultOptions.
type Options struct {
	// Queues lists the rx queues to bind; nil binds every queue.
	Queues []int
	// Attach selects native or generic XDP.
	Attach AttachMode
	// Copy selects copy or zero-copy binding.
	Copy CopyMode
	// UnboundAction is what the program does with frames of queues that
	// have no socket.
	UnboundAction Action
	// UMEM configures each queue's frame area.
	UMEM umem.Options
	// Ring sizes, powers of two (defaults: fill and rx 4096, tx and
	// completion 512). Fill and rx are larger than the UMEM's receive
	// frames (3584 by default) so that every receive frame can wait in
	// the fill ring or the rx ring at once: the frames, not the rings,
	// bound how long a descheduled poller can be away before the kernel
	// drops (about 6.5 ms at 0.55 Mpps, 240 µs at 14.88 Mpps).
	FillSize, RxSize, TxSize, CompSize uint32
	// DisableNeedWakeup turns XDP_USE_NEED_WAKEUP off.
	DisableNeedWakeup bool
	// BusyPoll sets the socket busy-poll options.
	BusyPoll BusyPoll
	// TransmitOnly binds the sockets for transmit alone: no XDP program
	// is loaded or attached and no socket enters an XSKMAP, so the
	// interface's receive path stays the kernel's. Receive finds nothing.
	// For traffic generators, which must not take the peer's frames.
	TransmitOnly bool
	// BindRetry bounds how long bind retries EBUSY, which the kernel
	// returns after a socket on the same queue closed until deferred
	// work that needs the RTNL lock releases the queue: usually a few
	// milliseconds, seconds on a host busy with link changes (default
	// 5s).
	BindRetry time.Duration
	// Triage configures the XDP triage stage: guards and stateless
	// rules that drop floods before the rx ring. Off by default (the
	// zero value); see DefaultTriage. When the kernel refuses the
	// stage, Open logs why and runs without it (Device.Triage).
	Triage Triage
}

// DefaultOptions returns the options the zero value stands for.
func DefaultOptions() Options {
	return Options{
		UMEM:      umem.DefaultOptions(),
		FillSize:  xsk.DefaultFillSize,
		RxSize:    xsk.DefaultRxSize,
		TxSize:    xsk.DefaultTxSize,
		CompSize:  xsk.DefaultCompSize,
		BindRetry: 5 * time.Second,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	xsk.SizeDefaults(&o.FillSize, &o.RxSize, &o.TxSize, &o.CompSize)
	if o.BindRetry == 0 {
		o.BindRetry = d.BindRetry
	}
	return o
}

func (o Options) validate() error {
	if err := xsk.CheckSizes(o.FillSize, o.RxSize, o.TxSize, o.CompSize); err != nil {
		return err
	}
	if err := o.Triage.validate(); err != nil {
		return err
	}
	if o.Attach < AttachAuto || o.Attach > AttachGeneric {
		return fmt.Errorf("unknown attach mode %d", o.Attach)
	}
	return nil
}
