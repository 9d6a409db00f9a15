package main

import (
	"fmt"
	"io"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/cli/preflight"
)

// preflightCheck runs the checks for what o is about to bind, prints the
// warnings and failures on w, and returns the failures as an error.
func preflightCheck(o rxpath.Config, w io.Writer) error {
	c := preflight.Config{
		Iface:       o.Interface,
		Queues:      o.Driver.XDP.Queues,
		FrameSize:   o.Driver.XDP.UMEM.FrameSize,
		Frames:      o.Driver.XDP.UMEM.FrameCount,
		UnboundDrop: o.Driver.XDP.UnboundAction == afxdp.Drop,
	}
	switch o.Driver.Kind {
	case driver.XDP:
		c.Driver = preflight.DriverXDP
	case driver.Packet:
		c.Driver = preflight.DriverPacket
	}
	switch o.Driver.XDP.Attach {
	case afxdp.AttachNative:
		c.Attach = preflight.AttachNative
	case afxdp.AttachGeneric:
		c.Attach = preflight.AttachGeneric
	}
	findings := preflight.Run(c)
	for _, f := range findings {
		if f.Severity != preflight.OK {
			fmt.Fprintf(w, "rxpath: %v\n", f)
		}
	}
	return preflight.Errors(findings)
}
