//go:build !linux

package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"

	"github.com/vishvananda/netlink"
)

func errNotSupported(op string) error {
	return fmt.Errorf("%s: %w (GOOS=%s)", op, ErrNotSupported, runtime.GOOS)
}

// Up is not supported on this GOOS.
func Up(cfg Config) (*Lab, error) { return nil, errNotSupported("lab up") }

// Open is not supported on this GOOS.
func Open(cfg Config) (*Lab, error) { return nil, errNotSupported("lab open") }

// Down is not supported on this GOOS.
func Down(cfg Config) error { return errNotSupported("lab down") }

// Close is not supported on this GOOS.
func (l *Lab) Close() error { return errNotSupported("lab close") }

// InNS is not supported on this GOOS.
func InNS(ns string, fn func() error) error { return errNotSupported("lab: InNS") }

// Exec is not supported on this GOOS.
func Exec(ns, name string, args ...string) ([]byte, error) {
	return nil, errNotSupported("lab: exec")
}

// AddStaticNeighbor is not supported on this GOOS.
func (l *Lab) AddStaticNeighbor(ip netip.Addr, mac net.HardwareAddr) error {
	return errNotSupported("lab: add static neighbor")
}

// SetMTU is not supported on this GOOS.
func (l *Lab) SetMTU(mtu int) error { return errNotSupported("lab: set MTU") }

// Recreate is not supported outside Linux.
func (l *Lab) Recreate() error { return errNotSupported("lab: recreate") }

// DelStaticNeighbor is not supported on this GOOS.
func (l *Lab) DelStaticNeighbor(ip netip.Addr) error {
	return errNotSupported("lab: delete static neighbor")
}

// WithSysfs is not supported on this GOOS.
func WithSysfs(ns string, fn func(dir string) error) error {
	return errNotSupported("lab: sysfs")
}

// Cmd is an external command to run in a lab namespace. On this GOOS it
// cannot be started.
type Cmd struct {
	*exec.Cmd
}

// Command returns a Cmd that cannot be started on this GOOS.
func Command(ctx context.Context, ns, name string, args ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, args...)}
}

// Start is not supported on this GOOS.
func (c *Cmd) Start() error { return errNotSupported("lab: start command") }

// Wait is not supported on this GOOS.
func (c *Cmd) Wait() error { return errNotSupported("lab: wait for command") }

// Run is not supported on this GOOS.
func (c *Cmd) Run() error { return c.Start() }

// Output is not supported on this GOOS.
func (c *Cmd) Output() ([]byte, error) { return nil, c.Start() }

// CombinedOutput is not supported on this GOOS.
func (c *Cmd) CombinedOutput() ([]byte, error) { return nil, c.Start() }

// AddAddr is not supported on this GOOS.
func AddAddr(ns, ifname string, prefix netip.Prefix) error {
	return errNotSupported("lab: add address")
}

// DelAddr is not supported on this GOOS.
func DelAddr(ns, ifname string, prefix netip.Prefix) error {
	return errNotSupported("lab: delete address")
}

// SetLinkUp is not supported on this GOOS.
func SetLinkUp(ns, ifname string) error { return errNotSupported("lab: set link up") }

// SetLinkDown is not supported on this GOOS.
func SetLinkDown(ns, ifname string) error { return errNotSupported("lab: set link down") }

// DelLink is not supported on this GOOS.
func DelLink(ns, ifname string) error { return errNotSupported("lab: delete link") }

// LinkAttrs is not supported on this GOOS.
func LinkAttrs(ns, ifname string) (*netlink.LinkAttrs, error) {
	return nil, errNotSupported("lab: link attributes")
}

// LinkStats is not supported on this GOOS.
func LinkStats(ns, ifname string) (netlink.LinkStatistics, error) {
	return netlink.LinkStatistics{}, errNotSupported("lab: link statistics")
}

// SetFeature is not supported on this GOOS.
func SetFeature(ns, ifname, feature string, on bool) error {
	return errNotSupported("lab: set feature")
}

// EthtoolStats is not supported on this GOOS.
func EthtoolStats(ns, ifname string) (map[string]uint64, error) {
	return nil, errNotSupported("lab: ethtool statistics")
}

// DetachXDP is not supported on this GOOS.
func DetachXDP(ns, ifname string) error { return errNotSupported("lab: detach XDP") }

// ReadProcSys is not supported on this GOOS.
func ReadProcSys(ns, p string) (string, error) { return "", errNotSupported("lab: read sysctl") }

// WriteProcSys is not supported on this GOOS.
func WriteProcSys(ns, p, value string) error { return errNotSupported("lab: write sysctl") }
