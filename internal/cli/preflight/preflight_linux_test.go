package preflight_test

import (
	"strings"
	"testing"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/cli/preflight"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// run runs the checks inside the lab's DUT namespace.
func run(t *testing.T, l *lab.Lab, c preflight.Config) []preflight.Finding {
	t.Helper()
	var f []preflight.Finding
	if err := lab.InNS(l.DUTNS, func() error { f = preflight.Run(c); return nil }); err != nil {
		t.Fatal(err)
	}
	return f
}

// find returns the finding of check with severity s, failing the test
// (and listing them all) when there is none.
func find(t *testing.T, fs []preflight.Finding, check string, s preflight.Severity, substr string) {
	t.Helper()
	for _, f := range fs {
		if f.Check == check && f.Severity == s && strings.Contains(f.Message, substr) {
			return
		}
	}
	t.Fatalf("no %s %s finding containing %q in:\n%v", check, s, substr, fs)
}

func none(t *testing.T, fs []preflight.Finding, s preflight.Severity) {
	t.Helper()
	for _, f := range fs {
		if f.Severity >= s {
			t.Fatalf("unexpected %v", f)
		}
	}
}

func TestPreflight(t *testing.T) {
	l := labtest.New(t, lab.Config{Queues: 2})
	base := preflight.Config{Iface: l.DUTIf, FrameSize: 4096, Frames: 4096}

	t.Run("clean", func(t *testing.T) {
		fs := run(t, l, base)
		none(t, fs, preflight.Warn)
		find(t, fs, "queues", preflight.OK, "binding 2 of 2 rx queues")
		if err := preflight.Errors(fs); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no such interface", func(t *testing.T) {
		c := base
		c.Iface = "rxp-missing0"
		fs := run(t, l, c)
		find(t, fs, "interface", preflight.Fail, `no interface named "rxp-missing0"`)
		if err := preflight.Errors(fs); err == nil || !strings.Contains(err.Error(), "ip -br link") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("queue count", func(t *testing.T) {
		c := base
		c.Queues = []int{0, 5}
		find(t, run(t, l, c), "queues", preflight.Fail, "queue 5 does not exist: "+l.DUTIf+" has 2 rx queues (0-1) (from ethtool channels")
	})
	t.Run("unbound queues", func(t *testing.T) {
		c := base
		c.Queues = []int{0}
		find(t, run(t, l, c), "rss", preflight.Warn, "rx queues 1 that are not bound: their frames go to the kernel stack")
		c.UnboundDrop = true
		find(t, run(t, l, c), "rss", preflight.Warn, "are dropped")
	})
	t.Run("mtu", func(t *testing.T) {
		if err := l.SetMTU(9000); err != nil {
			t.Fatal(err)
		}
		defer l.SetMTU(1500)
		c := base
		c.Attach = preflight.AttachNative
		fs := run(t, l, c)
		find(t, fs, "mtu", preflight.Fail, "MTU 9000 is too large for native XDP on "+l.DUTIf+" (veth allows at most 3506)")
		find(t, fs, "mtu", preflight.Warn, "does not fit a 4096-byte UMEM frame (3840 bytes after the 256-byte headroom): longer frames will be dropped and counted; lower the MTU to 3822")
		c.Attach, c.Driver = preflight.AttachAuto, preflight.DriverAuto
		fs = run(t, l, c)
		find(t, fs, "mtu", preflight.Warn, "auto attach will fall back to generic")
		c.Driver = preflight.DriverPacket
		none(t, run(t, l, c), preflight.Warn)
	})
	t.Run("link down", func(t *testing.T) {
		if err := lab.SetLinkDown(l.DUTNS, l.DUTIf); err != nil {
			t.Fatal(err)
		}
		defer lab.SetLinkUp(l.DUTNS, l.DUTIf)
		find(t, run(t, l, base), "link", preflight.Fail, "is down; bring it up with 'ip link set dev "+l.DUTIf+" up'")
	})
	t.Run("xdp attached", func(t *testing.T) {
		var d *afxdp.Device
		if err := lab.InNS(l.DUTNS, func() (err error) {
			d, err = afxdp.Open(l.DUTIf, afxdp.Options{Attach: afxdp.AttachGeneric})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		c := base
		c.Driver = preflight.DriverXDP
		find(t, run(t, l, c), "xdp", preflight.Fail, "is already attached to "+l.DUTIf)
		c.Driver = preflight.DriverAuto
		find(t, run(t, l, c), "xdp", preflight.Warn, "auto will fall back to AF_PACKET")
	})
}
