package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrNotSupported is returned (wrapped) by every function on systems other
// than Linux.
var ErrNotSupported = errors.New("lab: not supported on this GOOS")

// Defaults used by Up and Open for zero Config fields.
const (
	DefaultPeerNS = "rxp-peer"
	DefaultDUTNS  = "rxp-dut"
	DefaultPeerIf = "rxp-peer0"
	DefaultDUTIf  = "rxp0"
	DefaultQueues = 1
	DefaultMTU    = 1500
)

var (
	defaultPeerAddr = netip.MustParsePrefix("10.99.0.1/24")
	defaultDUTAddr  = netip.MustParseAddr("10.99.0.2")
)

// Config describes a lab. The zero value of every field means its default;
// DefaultConfig returns a Config with all defaults filled in.
type Config struct {
	// PeerNS and DUTNS name the namespaces (files in /var/run/netns).
	// Defaults "rxp-peer" and "rxp-dut".
	PeerNS, DUTNS string

	// PeerIf and DUTIf name the two veth ends. Each lives only inside its
	// namespace, so the names may repeat across labs. Defaults "rxp-peer0"
	// and "rxp0".
	PeerIf, DUTIf string

	// PeerAddr is assigned to PeerIf. The lab is IPv4-only.
	// Default 10.99.0.1/24.
	PeerAddr netip.Prefix

	// DUTAddr is the address the user-space stack answers for. It is not
	// assigned to the kernel on DUTIf; the lab uses it for neighbour
	// entries and the labtest socket helpers. It must lie in PeerAddr's
	// prefix so the peer kernel reaches it on-link. Default 10.99.0.2.
	DUTAddr netip.Addr

	// Queues is the number of tx and rx queues on both veth ends.
	// Default 1.
	Queues int

	// MTU is set on both veth ends. Default 1500.
	MTU int
}

// DefaultConfig returns the configuration used by `rxpath lab up`.
func DefaultConfig() Config {
	return Config{
		PeerNS:   DefaultPeerNS,
		DUTNS:    DefaultDUTNS,
		PeerIf:   DefaultPeerIf,
		DUTIf:    DefaultDUTIf,
		PeerAddr: defaultPeerAddr,
		DUTAddr:  defaultDUTAddr,
		Queues:   DefaultQueues,
		MTU:      DefaultMTU,
	}
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.PeerNS == "" {
		c.PeerNS = d.PeerNS
	}
	if c.DUTNS == "" {
		c.DUTNS = d.DUTNS
	}
	if c.PeerIf == "" {
		c.PeerIf = d.PeerIf
	}
	if c.DUTIf == "" {
		c.DUTIf = d.DUTIf
	}
	if !c.PeerAddr.IsValid() {
		c.PeerAddr = d.PeerAddr
	}
	if !c.DUTAddr.IsValid() {
		c.DUTAddr = d.DUTAddr
	}
	if c.Queues == 0 {
		c.Queues = d.Queues
	}
	if c.MTU == 0 {
		c.MTU = d.MTU
	}
	return c
}

// Limits checked by validate.
const (
	maxIfNameLen = 15   // IFNAMSIZ - 1
	maxQueues    = 4096 // veth's limit on numtxqueues/numrxqueues
	minMTU       = 68   // veth min_mtu
	maxMTU       = 65535
)

// validate checks a Config that already has its defaults filled in.
func (c Config) validate() error {
	for _, ns := range []string{c.PeerNS, c.DUTNS} {
		if err := checkNSName(ns); err != nil {
			return err
		}
	}
	if c.PeerNS == c.DUTNS {
		return fmt.Errorf("peer and DUT namespaces are both %q", c.PeerNS)
	}
	for _, ifname := range []string{c.PeerIf, c.DUTIf} {
		if err := checkIfName(ifname); err != nil {
			return err
		}
	}
	if !c.PeerAddr.Addr().Is4() || !c.DUTAddr.Is4() {
		return fmt.Errorf("addresses %v and %v: the lab is IPv4-only (IPv6 is disabled on both ends)", c.PeerAddr, c.DUTAddr)
	}
	if c.PeerAddr.Addr() == c.DUTAddr {
		return fmt.Errorf("peer and DUT addresses are both %v", c.DUTAddr)
	}
	if !c.PeerAddr.Contains(c.DUTAddr) {
		return fmt.Errorf("DUT address %v is outside the peer prefix %v", c.DUTAddr, c.PeerAddr)
	}
	if c.Queues < 1 || c.Queues > maxQueues {
		return fmt.Errorf("queue count %d out of range [1, %d]", c.Queues, maxQueues)
	}
	if c.MTU < minMTU || c.MTU > maxMTU {
		return fmt.Errorf("MTU %d out of range [%d, %d]", c.MTU, minMTU, maxMTU)
	}
	return nil
}

// checkNSName rejects names that are not a plain file name in /var/run/netns.
func checkNSName(ns string) error {
	if ns == "" || ns == "." || ns == ".." || strings.ContainsAny(ns, "/\x00") {
		return fmt.Errorf("invalid namespace name %q", ns)
	}
	return nil
}

// checkIfName accepts interface names the kernel accepts and that are safe
// to put in a /sys or /proc path: at most 15 bytes of [A-Za-z0-9._-], not
// "." or "..".
func checkIfName(name string) error {
	if name == "" || len(name) > maxIfNameLen || name == "." || name == ".." {
		return fmt.Errorf("invalid interface name %q (1 to %d characters)", name, maxIfNameLen)
	}
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("invalid interface name %q (use A-Z a-z 0-9 . _ -)", name)
		}
	}
	return nil
}

// Lab is a running lab: its Config, with defaults filled in, plus what the
// kernel assigned to the two veth ends.
//
// Its methods may be called concurrently, except SetMTU, which updates
// Config.MTU and must not run concurrently with anything that reads it.
type Lab struct {
	Config

	// PeerMAC and DUTMAC are the veth ends' hardware addresses.
	PeerMAC, DUTMAC net.HardwareAddr

	// PeerIndex and DUTIndex are the ifindexes, each valid in its own
	// namespace.
	PeerIndex, DUTIndex int
}

// String describes the lab in a few lines, for `rxpath lab up`.
func (l *Lab) String() string {
	var b strings.Builder
	q := "queues"
	if l.Queues == 1 {
		q = "queue"
	}
	fmt.Fprintf(&b, "lab: veth pair between netns %s and %s, MTU %d, %d %s per end\n",
		l.DUTNS, l.PeerNS, l.MTU, l.Queues, q)
	fmt.Fprintf(&b, "  dut:  netns %-12s if %-15s index %-3d mac %s  %s (user-space stack; no kernel address)\n",
		l.DUTNS, l.DUTIf, l.DUTIndex, l.DUTMAC, l.DUTAddr)
	fmt.Fprintf(&b, "  peer: netns %-12s if %-15s index %-3d mac %s  %s (kernel; tx checksum offload off)",
		l.PeerNS, l.PeerIf, l.PeerIndex, l.PeerMAC, l.PeerAddr)
	if l.Queues > 1 {
		fmt.Fprintf(&b, "\n  xps:  peer tx queue i belongs to CPU i%%ncpu and arrives on DUT rx queue i")
	}
	return b.String()
}
