package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Up creates the lab described by cfg; zero fields take their defaults.
// Namespaces left over with the same names (from a crashed run) are deleted
// first. If any step fails, Up deletes what it made and returns the error.
//
// Up needs CAP_NET_ADMIN and CAP_SYS_ADMIN; their absence is reported before
// anything is changed. It runs no external command: namespaces, links and
// addresses are made over rtnetlink and mounts, offloads over the ethtool
// ioctl.
func Up(cfg Config) (_ *Lab, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	if err := checkPrivileges(); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	if err := Down(cfg); err != nil {
		return nil, fmt.Errorf("lab up: remove stale lab: %w", err)
	}
	defer func() {
		if err != nil {
			if derr := Down(cfg); derr != nil {
				err = errors.Join(err, fmt.Errorf("lab up: tear down after failure: %w", derr))
			}
		}
	}()

	if err := createNS(cfg.PeerNS); err != nil {
		return nil, fmt.Errorf("lab up: add peer netns: %w", err)
	}
	if err := createNS(cfg.DUTNS); err != nil {
		return nil, fmt.Errorf("lab up: add DUT netns: %w", err)
	}
	if err := addVeth(cfg, nil, nil); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	// Loopback is up in both namespaces, as on any host.
	for _, ns := range []string{cfg.DUTNS, cfg.PeerNS} {
		if err := setLinkUp(ns, "lo"); err != nil {
			return nil, fmt.Errorf("lab up: %w", err)
		}
	}

	l := &Lab{Config: cfg}
	if err := l.readBack(); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	// Check that the data path is ready before handing the lab out.
	if err := waitCarrier(cfg.DUTNS, cfg.DUTIf, carrierTimeout); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	if err := waitCarrier(cfg.PeerNS, cfg.PeerIf, carrierTimeout); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	return l, nil
}

// addVeth creates the veth pair of cfg, with the given MACs (nil: random),
// configures it and brings both ends up.
func addVeth(cfg Config, dutMAC, peerMAC net.HardwareAddr) error {
	p := nsPath(cfg.PeerNS)
	peerNS, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create veth: %w", &os.PathError{Op: "open", Path: p, Err: err})
	}
	defer unix.Close(peerNS)
	// Created inside the DUT namespace with the peer end moved straight
	// into the peer namespace: the names never appear in the root
	// namespace. The peer end takes the same MTU and queue counts.
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = cfg.DUTIf, cfg.MTU
	attrs.NumTxQueues, attrs.NumRxQueues = cfg.Queues, cfg.Queues
	attrs.HardwareAddr = dutMAC
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         cfg.PeerIf,
		PeerHardwareAddr: peerMAC,
		PeerNamespace:    netlink.NsFd(peerNS),
	}
	if err := withHandle(cfg.DUTNS, func(h *netlink.Handle) error { return h.LinkAdd(veth) }); err != nil {
		return fmt.Errorf("create veth %s (netns %s) <-> %s (netns %s): %w", cfg.DUTIf, cfg.DUTNS, cfg.PeerIf, cfg.PeerNS, err)
	}
	// Before the links go up, so no IPv6 packet is ever sent.
	if err := disableIPv6(cfg.DUTNS, cfg.DUTIf); err != nil {
		return fmt.Errorf("disable IPv6 on DUT end: %w", err)
	}
	if err := disableIPv6(cfg.PeerNS, cfg.PeerIf); err != nil {
		return fmt.Errorf("disable IPv6 on peer end: %w", err)
	}
	if err := setFeature(cfg.PeerNS, cfg.PeerIf, "tx", false); err != nil {
		return fmt.Errorf("turn off tx checksum offload on peer end: %w", err)
	}
	if cfg.Queues > 1 {
		if err := configureXPS(cfg.PeerNS, cfg.PeerIf, cfg.Queues, runtime.NumCPU()); err != nil {
			return fmt.Errorf("configure XPS on peer end: %w", err)
		}
	}
	if err := addAddr(cfg.PeerNS, cfg.PeerIf, cfg.PeerAddr); err != nil {
		return fmt.Errorf("add peer address: %w", err)
	}
	for _, link := range [][2]string{
		{cfg.DUTNS, cfg.DUTIf}, {cfg.PeerNS, cfg.PeerIf},
	} {
		if err := setLinkUp(link[0], link[1]); err != nil {
			return err
		}
	}
	return nil
}

// Recreate replaces the veth pair with a new one of the same names, MACs,
// MTU and queues, in the same namespaces (and under any process running in
// them), as a NIC driver reload would. The new ends have new ifindexes.
func (l *Lab) Recreate() error {
	if err := delLink(l.DUTNS, l.DUTIf); err != nil {
		if _, lerr := linkAttrs(l.DUTNS, l.DUTIf); lerr == nil {
			return fmt.Errorf("lab recreate: %w", err)
		}
	}
	if err := addVeth(l.Config, l.DUTMAC, l.PeerMAC); err != nil {
		return fmt.Errorf("lab recreate: %w", err)
	}
	if err := l.readBack(); err != nil {
		return fmt.Errorf("lab recreate: %w", err)
	}
	if err := waitCarrier(l.DUTNS, l.DUTIf, carrierTimeout); err != nil {
		return fmt.Errorf("lab recreate: %w", err)
	}
	if err := waitCarrier(l.PeerNS, l.PeerIf, carrierTimeout); err != nil {
		return fmt.Errorf("lab recreate: %w", err)
	}
	return nil
}

// Open attaches to a lab made earlier by Up (typically by `rxpath lab up`)
// with the same names; zero fields of cfg take their defaults. It reads the
// MACs and ifindexes, and the MTU and queue count of the DUT end, from the
// kernel. The addresses are taken from cfg as given. Open returns an error
// wrapping fs.ErrNotExist if a namespace is absent.
func Open(cfg Config) (*Lab, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lab open: %w", err)
	}
	for _, ns := range []string{cfg.DUTNS, cfg.PeerNS} {
		if _, err := os.Lstat(nsPath(ns)); err != nil {
			return nil, fmt.Errorf("lab open: netns %s: %w", ns, err)
		}
	}
	l := &Lab{Config: cfg}
	if err := l.readBack(); err != nil {
		return nil, fmt.Errorf("lab open: %w", err)
	}
	attrs, err := linkAttrs(cfg.DUTNS, cfg.DUTIf)
	if err != nil {
		return nil, fmt.Errorf("lab open: %w", err)
	}
	l.MTU, l.Queues = attrs.MTU, attrs.NumRxQueues
	return l, nil
}

// Down deletes the lab's two namespaces, which destroys the veth pair. It is
// idempotent: absent namespaces are not an error. Zero fields of cfg take
// their defaults.
//
// Like `ip netns del`, Down removes the names; the kernel frees each
// namespace, and the veth with it, once no process, open file or socket
// holds it any more.
func Down(cfg Config) error {
	cfg = cfg.withDefaults()
	var errs []error
	for _, ns := range []string{cfg.DUTNS, cfg.PeerNS} {
		if err := deleteNS(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	return nil
}

// Close deletes the lab, like Down(l.Config). Like Down, it is idempotent.
func (l *Lab) Close() error { return Down(l.Config) }

// AddStaticNeighbor adds (or replaces) a permanent neighbour entry ip → mac
// on the peer end, so the peer kernel sends to ip without resolving it.
func (l *Lab) AddStaticNeighbor(ip netip.Addr, mac net.HardwareAddr) error {
	if !ip.IsValid() {
		return errors.New("lab: add static neighbor: invalid IP address")
	}
	if len(mac) == 0 {
		return fmt.Errorf("lab: add static neighbor %v: empty hardware address", ip)
	}
	err := withLink(l.PeerNS, l.PeerIf, func(h *netlink.Handle, link netlink.Link) error {
		return h.NeighSet(&netlink.Neigh{
			LinkIndex:    link.Attrs().Index,
			Family:       family(ip),
			State:        netlink.NUD_PERMANENT,
			IP:           net.IP(ip.Unmap().AsSlice()),
			HardwareAddr: mac,
		})
	})
	if err != nil {
		return fmt.Errorf("lab: add static neighbor %v: %w", ip, err)
	}
	return nil
}

// DelStaticNeighbor deletes the neighbour entry for ip on the peer end, as
// AddStaticNeighbor made it.
func (l *Lab) DelStaticNeighbor(ip netip.Addr) error {
	if !ip.IsValid() {
		return errors.New("lab: delete static neighbor: invalid IP address")
	}
	err := withLink(l.PeerNS, l.PeerIf, func(h *netlink.Handle, link netlink.Link) error {
		return h.NeighDel(&netlink.Neigh{
			LinkIndex: link.Attrs().Index,
			Family:    family(ip),
			IP:        net.IP(ip.Unmap().AsSlice()),
		})
	})
	if err != nil {
		return fmt.Errorf("lab: delete static neighbor %v: %w", ip, err)
	}
	return nil
}

// SetMTU sets the MTU of both veth ends and records it in l.MTU. If the
// second end fails, the first is set back.
func (l *Lab) SetMTU(mtu int) error {
	if mtu < minMTU || mtu > maxMTU {
		return fmt.Errorf("lab: set MTU: %d out of range [%d, %d]", mtu, minMTU, maxMTU)
	}
	if err := setMTU(l.DUTNS, l.DUTIf, mtu); err != nil {
		return fmt.Errorf("lab: set MTU %d on DUT end: %w", mtu, err)
	}
	if err := setMTU(l.PeerNS, l.PeerIf, mtu); err != nil {
		err = fmt.Errorf("lab: set MTU %d on peer end: %w", mtu, err)
		if rerr := setMTU(l.DUTNS, l.DUTIf, l.MTU); rerr != nil {
			err = errors.Join(err, fmt.Errorf("lab: restore MTU %d on DUT end: %w", l.MTU, rerr))
		}
		return err
	}
	l.MTU = mtu
	return nil
}

func setMTU(ns, ifname string, mtu int) error {
	return withLink(ns, ifname, func(h *netlink.Handle, link netlink.Link) error {
		return h.LinkSetMTU(link, mtu)
	})
}

// readBack fills in the MACs and ifindexes of both ends.
func (l *Lab) readBack() error {
	dut, err := linkAttrs(l.DUTNS, l.DUTIf)
	if err != nil {
		return err
	}
	peer, err := linkAttrs(l.PeerNS, l.PeerIf)
	if err != nil {
		return err
	}
	l.DUTMAC, l.DUTIndex = dut.HardwareAddr, dut.Index
	l.PeerMAC, l.PeerIndex = peer.HardwareAddr, peer.Index
	return nil
}

// carrierTimeout bounds how long Up waits for both ends to report carrier.
const carrierTimeout = 5 * time.Second

// waitCarrier polls until ifname in ns reports carrier (IFF_LOWER_UP). veth
// turns carrier on as soon as both ends are up, so this normally returns at
// once. The operational state (IFF_RUNNING, "state UP" in `ip link`) is
// updated by the kernel's link watcher, which may lag by up to a second; the
// data path does not wait for it, so neither does Up.
func waitCarrier(ns, ifname string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		attrs, err := linkAttrs(ns, ifname)
		if err != nil {
			return fmt.Errorf("wait for carrier: %w", err)
		}
		if attrs.RawFlags&unix.IFF_LOWER_UP != 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in netns %s has no carrier after %v (flags %v, raw %#x)",
				ifname, ns, timeout, attrs.Flags, attrs.RawFlags)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// disableIPv6 sets net.ipv6.conf.<ifname>.disable_ipv6=1 in ns. Net sysctls
// under /proc/sys/net belong to the namespace of the thread that opens them,
// so this writes the file from inside InNS. A kernel without IPv6 is fine.
func disableIPv6(ns, ifname string) error {
	return InNS(ns, func() error {
		if _, err := os.Stat("/proc/sys/net/ipv6"); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return os.WriteFile(path.Join("/proc/sys/net/ipv6/conf", ifname, "disable_ipv6"), []byte("1\n"), 0)
	})
}

// configureXPS makes tx queue i of ifname (in ns) the queue used by CPU
// i%ncpu, through a sysfs mounted for ns (see WithSysfs).
func configureXPS(ns, ifname string, queues, ncpu int) error {
	return WithSysfs(ns, func(sys string) error {
		for i := range queues {
			p := filepath.Join(sys, "class/net", ifname, "queues", fmt.Sprintf("tx-%d", i), "xps_cpus")
			if err := os.WriteFile(p, []byte(cpuMask(i%ncpu)+"\n"), 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// cpuMask formats a cpumask holding only cpu the way sysfs prints one:
// 32-bit hex words, most significant first, separated by commas.
func cpuMask(cpu int) string {
	words := make([]string, cpu/32+1)
	for w := range words {
		var v uint32
		if w == cpu/32 {
			v = 1 << (cpu % 32)
		}
		words[len(words)-1-w] = fmt.Sprintf("%08x", v)
	}
	return strings.Join(words, ",")
}
