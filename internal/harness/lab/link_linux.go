package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// withHandle calls fn with an rtnetlink handle whose socket lives in network
// namespace ns, and closes it afterwards (an open socket keeps its
// namespace alive). The handle is made inside InNS rather than by
// netlink.NewHandleAt, which hands its thread back to the scheduler even if
// switching it back to the caller's namespace fails.
func withHandle(ns string, fn func(h *netlink.Handle) error) error {
	var h *netlink.Handle
	err := InNS(ns, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return fmt.Errorf("netlink handle in netns %s: %w", ns, err)
	}
	defer h.Close()
	return fn(h)
}

// withLink calls fn with a handle in ns and the link named ifname there.
func withLink(ns, ifname string, fn func(h *netlink.Handle, link netlink.Link) error) error {
	return withHandle(ns, func(h *netlink.Handle) error {
		link, err := h.LinkByName(ifname)
		if err != nil {
			return fmt.Errorf("link %s in netns %s: %w", ifname, ns, err)
		}
		return fn(h, link)
	})
}

// labError prefixes a non-nil err with the package name.
func labError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("lab: %w", err)
}

func family(ip netip.Addr) int {
	if ip.Unmap().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func addr(p netip.Prefix) *netlink.Addr {
	a := p.Addr().Unmap()
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}}
}

// AddAddr assigns prefix (an address with its prefix length, such as
// 10.99.0.2/24) to ifname in network namespace ns, like `ip addr add`.
func AddAddr(ns, ifname string, prefix netip.Prefix) error {
	return labError(addAddr(ns, ifname, prefix))
}

func addAddr(ns, ifname string, prefix netip.Prefix) error {
	if !prefix.IsValid() {
		return fmt.Errorf("add address to %s in netns %s: invalid prefix", ifname, ns)
	}
	err := withLink(ns, ifname, func(h *netlink.Handle, link netlink.Link) error {
		return h.AddrAdd(link, addr(prefix))
	})
	if err != nil {
		return fmt.Errorf("add address %v to %s in netns %s: %w", prefix, ifname, ns, err)
	}
	return nil
}

// DelAddr removes prefix from ifname in network namespace ns, like
// `ip addr del`.
func DelAddr(ns, ifname string, prefix netip.Prefix) error {
	if !prefix.IsValid() {
		return fmt.Errorf("lab: delete address from %s in netns %s: invalid prefix", ifname, ns)
	}
	err := withLink(ns, ifname, func(h *netlink.Handle, link netlink.Link) error {
		return h.AddrDel(link, addr(prefix))
	})
	if err != nil {
		return fmt.Errorf("lab: delete address %v from %s in netns %s: %w", prefix, ifname, ns, err)
	}
	return nil
}

// SetLinkUp sets ifname in network namespace ns administratively up, like
// `ip link set dev ifname up`.
func SetLinkUp(ns, ifname string) error { return labError(setLinkUp(ns, ifname)) }

func setLinkUp(ns, ifname string) error {
	if err := withLink(ns, ifname, (*netlink.Handle).LinkSetUp); err != nil {
		return fmt.Errorf("set %s up in netns %s: %w", ifname, ns, err)
	}
	return nil
}

// SetLinkDown sets ifname in network namespace ns administratively down,
// like `ip link set dev ifname down`.
func SetLinkDown(ns, ifname string) error {
	if err := withLink(ns, ifname, (*netlink.Handle).LinkSetDown); err != nil {
		return fmt.Errorf("lab: set %s down in netns %s: %w", ifname, ns, err)
	}
	return nil
}

// DelLink deletes ifname in network namespace ns, like `ip link del`.
// Deleting either end of a veth pair deletes both.
func DelLink(ns, ifname string) error { return labError(delLink(ns, ifname)) }

func delLink(ns, ifname string) error {
	if err := withLink(ns, ifname, (*netlink.Handle).LinkDel); err != nil {
		return fmt.Errorf("delete %s in netns %s: %w", ifname, ns, err)
	}
	return nil
}

// LinkAttrs returns what rtnetlink reports about ifname in network
// namespace ns, like `ip -d -s link show`: index, MAC, MTU, flags (RawFlags
// has IFF_LOWER_UP, the carrier), queue counts, statistics and any XDP
// program.
func LinkAttrs(ns, ifname string) (*netlink.LinkAttrs, error) {
	attrs, err := linkAttrs(ns, ifname)
	return attrs, labError(err)
}

func linkAttrs(ns, ifname string) (*netlink.LinkAttrs, error) {
	var attrs *netlink.LinkAttrs
	err := withLink(ns, ifname, func(_ *netlink.Handle, link netlink.Link) error {
		attrs = link.Attrs()
		return nil
	})
	return attrs, err
}

// LinkStats returns the counters of ifname in network namespace ns, as
// `ip -s link show` prints them (IFLA_STATS64). rx_dropped and tx_dropped
// include what veth drops on the way between its ends.
func LinkStats(ns, ifname string) (netlink.LinkStatistics, error) {
	attrs, err := LinkAttrs(ns, ifname)
	if err != nil {
		return netlink.LinkStatistics{}, err
	}
	if attrs.Statistics == nil {
		return netlink.LinkStatistics{}, fmt.Errorf("lab: %s in netns %s: kernel sent no statistics", ifname, ns)
	}
	return *attrs.Statistics, nil
}

// SetFeature turns an offload feature of ifname in network namespace ns on
// or off, like `ethtool -K ifname feature on|off`, and checks that the
// kernel did. feature is ethtool's short name ("gro", "tx"), a kernel
// feature name ("rx-gro") or a pattern, as for netdev.SetFeatures.
func SetFeature(ns, ifname, feature string, on bool) error {
	return labError(setFeature(ns, ifname, feature, on))
}

func setFeature(ns, ifname, feature string, on bool) error {
	err := InNS(ns, func() error {
		return netdev.SetFeatures(ifname, map[string]bool{feature: on})
	})
	if err != nil {
		return fmt.Errorf("set %s %s on %s in netns %s: %w", feature, onOff(on), ifname, ns, err)
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// EthtoolStats returns the driver statistics of ifname in network
// namespace ns, as `ethtool -S` prints them (for veth: peer_ifindex and
// per-queue counters such as rx_queue_0_xdp_drops).
func EthtoolStats(ns, ifname string) (map[string]uint64, error) {
	var st map[string]uint64
	err := InNS(ns, func() (err error) {
		st, err = netdev.EthtoolStats(ifname)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab: statistics of %s in netns %s: %w", ifname, ns, err)
	}
	return st, nil
}

// XDP attach modes the kernel reports in IFLA_XDP_ATTACHED
// (XDP_ATTACHED_* in <linux/if_link.h>).
const (
	xdpAttachedDrv   = 1
	xdpAttachedSKB   = 2
	xdpAttachedHW    = 3
	xdpAttachedMulti = 4
)

// DetachXDP detaches the XDP program attached to ifname in network
// namespace ns through netlink, in whichever mode it is attached, like
// `ip link set dev ifname xdpdrv off` (or xdpgeneric, xdpoffload). An
// interface without a program is not an error. A program attached through a
// BPF link cannot be detached this way (the kernel says EBUSY); closing the
// link detaches it.
func DetachXDP(ns, ifname string) error {
	err := InNS(ns, func() error {
		// netlink's XDP call has no Handle form: it opens its socket
		// here, in ns.
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		x := link.Attrs().Xdp
		if x == nil || !x.Attached {
			return nil
		}
		var modes []int
		switch x.AttachMode {
		case xdpAttachedDrv:
			modes = []int{unix.XDP_FLAGS_DRV_MODE}
		case xdpAttachedSKB:
			modes = []int{unix.XDP_FLAGS_SKB_MODE}
		case xdpAttachedHW:
			modes = []int{unix.XDP_FLAGS_HW_MODE}
		case xdpAttachedMulti:
			modes = []int{unix.XDP_FLAGS_DRV_MODE, unix.XDP_FLAGS_SKB_MODE, unix.XDP_FLAGS_HW_MODE}
		default:
			return fmt.Errorf("unknown XDP attach mode %d", x.AttachMode)
		}
		for _, flags := range modes {
			if err := netlink.LinkSetXdpFdWithFlags(link, -1, flags); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lab: detach XDP from %s in netns %s: %w", ifname, ns, err)
	}
	return nil
}

// checkProcSysNet accepts clean paths of files under /proc/sys/net, the
// sysctls that belong to a network namespace.
func checkProcSysNet(p string) error {
	if path.Clean(p) != p || !strings.HasPrefix(p, "/proc/sys/net/") {
		return fmt.Errorf("%q is not a file under /proc/sys/net", p)
	}
	return nil
}

// ReadProcSys returns the contents of sysctl file p (a path under
// /proc/sys/net, such as /proc/sys/net/ipv4/tcp_slow_start_after_idle) as
// network namespace ns has it, with surrounding white space trimmed.
func ReadProcSys(ns, p string) (string, error) {
	if err := checkProcSysNet(p); err != nil {
		return "", fmt.Errorf("lab: read sysctl: %w", err)
	}
	var b []byte
	err := InNS(ns, func() (err error) {
		b, err = os.ReadFile(p)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("lab: read sysctl in netns %s: %w", ns, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// WriteProcSys writes value to sysctl file p (a path under /proc/sys/net)
// in network namespace ns, like `sysctl -w` run in ns.
func WriteProcSys(ns, p, value string) error {
	if err := checkProcSysNet(p); err != nil {
		return fmt.Errorf("lab: write sysctl: %w", err)
	}
	err := InNS(ns, func() error {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(value + "\n")
		return errors.Join(err, f.Close())
	})
	if err != nil {
		return fmt.Errorf("lab: write sysctl %s=%q in netns %s: %w", p, value, ns, err)
	}
	return nil
}
