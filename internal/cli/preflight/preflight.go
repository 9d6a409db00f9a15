package preflight

import (
	"errors"
	"fmt"
	"strings"
)

// Severity grades a finding.
type Severity int

const (
	// OK is a passed check, reported for completeness.
	OK Severity = iota
	// Warn is something that works but probably not as intended.
	Warn
	// Fail stops the run: binding would fail or be wrong.
	Fail
)

// String returns "ok", "warning" or "error".
func (s Severity) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warning"
	default:
		return "error"
	}
}

// Finding is the outcome of one check.
type Finding struct {
	Check    string // "privileges", "interface", "link", "mtu", "queues", "xdp", "memlock", "rss"
	Severity Severity
	Message  string // what is wrong and what to do, for people
}

func (f Finding) String() string {
	return fmt.Sprintf("preflight %s: %s: %s", f.Check, f.Severity, f.Message)
}

// Driver is the driver the run asked for.
type Driver int

const (
	// DriverAuto tries AF_XDP and falls back to AF_PACKET.
	DriverAuto Driver = iota
	// DriverXDP is AF_XDP only.
	DriverXDP
	// DriverPacket is AF_PACKET only.
	DriverPacket
)

// Attach is the XDP attach mode the run asked for.
type Attach int

const (
	// AttachAuto tries native, then generic.
	AttachAuto Attach = iota
	// AttachNative requires the driver's XDP hook.
	AttachNative
	// AttachGeneric uses the generic hook.
	AttachGeneric
)

// Config is what the run is about to do.
type Config struct {
	Iface  string
	Queues []int // nil: every rx queue
	Driver Driver
	Attach Attach
	// FrameSize and Frames size each queue's UMEM (AF_XDP).
	FrameSize, Frames int
	// UnboundDrop says the XDP program drops frames of unbound queues
	// (else they pass to the kernel); it words the RSS warning.
	UnboundDrop bool
}

// xdpHeadroom is XDP_PACKET_HEADROOM: where frame data starts in a UMEM
// frame (copy mode) and the room native XDP needs in front of a frame.
const xdpHeadroom = 256

// NativeMaxMTUVeth is the largest MTU veth accepts for native XDP without
// multi-buffer support (measured on Linux 6.18 with 4 KiB pages).
const NativeMaxMTUVeth = 3506

// Errors returns the failures among findings as one error, or nil.
func Errors(findings []Finding) error {
	var errs []error
	for _, f := range findings {
		if f.Severity == Fail {
			errs = append(errs, errors.New(f.Check+": "+f.Message))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{errs}
}

// Error is the failed checks of a preflight.
type Error struct{ Failed []error }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("preflight failed:")
	for _, err := range e.Failed {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the individual failures.
func (e *Error) Unwrap() []error { return e.Failed }

// queueRange words a queue count as "queue 0" or "queues 0-3".
func queueRange(n int) string {
	if n == 1 {
		return "1 rx queue (0)"
	}
	return fmt.Sprintf("%d rx queues (0-%d)", n, n-1)
}

func mib(b uint64) string { return fmt.Sprintf("%d MiB", (b+(1<<20)-1)>>20) }
