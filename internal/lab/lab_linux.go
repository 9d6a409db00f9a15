package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Up creates the lab described by cfg; zero fields take their defaults.
// Namespaces left over with the same names (from a crashed run) are deleted
// first. If any step fails, Up deletes what it made and returns the error.
//
// Up needs CAP_NET_ADMIN and CAP_SYS_ADMIN and the `ip` and `ethtool`
// commands; their absence is reported before anything is changed.
func Up(cfg Config) (_ *Lab, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	if err := lookTools("ip", "ethtool"); err != nil {
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

	if _, err := runIP("netns", "add", cfg.PeerNS); err != nil {
		return nil, fmt.Errorf("lab up: add peer netns: %w", err)
	}
	if _, err := runIP("netns", "add", cfg.DUTNS); err != nil {
		return nil, fmt.Errorf("lab up: add DUT netns: %w", err)
	}
	if err := addVeth(cfg, nil, nil); err != nil {
		return nil, fmt.Errorf("lab up: %w", err)
	}
	// Loopback is up in both namespaces, as on any host.
	for _, ns := range []string{cfg.DUTNS, cfg.PeerNS} {
		if _, err := runIP("-n", ns, "link", "set", "dev", "lo", "up"); err != nil {
			return nil, fmt.Errorf("lab up: set lo up in netns %s: %w", ns, err)
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
	q, mtu := strconv.Itoa(cfg.Queues), strconv.Itoa(cfg.MTU)
	// Created inside the DUT namespace with the peer end moved straight
	// into the peer namespace: the names never appear in the root
	// namespace.
	dut := []string{"-n", cfg.DUTNS, "link", "add", cfg.DUTIf, "numtxqueues", q, "numrxqueues", q, "mtu", mtu}
	if dutMAC != nil {
		dut = append(dut, "address", dutMAC.String())
	}
	peer := []string{"type", "veth", "peer", "name", cfg.PeerIf, "numtxqueues", q, "numrxqueues", q, "mtu", mtu, "netns", cfg.PeerNS}
	if peerMAC != nil {
		peer = append(peer, "address", peerMAC.String())
	}
	if _, err := runIP(append(dut, peer...)...); err != nil {
		return fmt.Errorf("create veth: %w", err)
	}
	// Before the links go up, so no IPv6 packet is ever sent.
	if err := disableIPv6(cfg.DUTNS, cfg.DUTIf); err != nil {
		return fmt.Errorf("disable IPv6 on DUT end: %w", err)
	}
	if err := disableIPv6(cfg.PeerNS, cfg.PeerIf); err != nil {
		return fmt.Errorf("disable IPv6 on peer end: %w", err)
	}
	if _, err := Exec(cfg.PeerNS, "ethtool", "-K", cfg.PeerIf, "tx", "off"); err != nil {
		return fmt.Errorf("turn off tx checksum offload on peer end: %w", err)
	}
	if cfg.Queues > 1 {
		if err := configureXPS(cfg.PeerNS, cfg.PeerIf, cfg.Queues, runtime.NumCPU()); err != nil {
			return fmt.Errorf("configure XPS on peer end: %w", err)
		}
	}
	if _, err := runIP("-n", cfg.PeerNS, "addr", "add", cfg.PeerAddr.String(), "dev", cfg.PeerIf); err != nil {
		return fmt.Errorf("add peer address: %w", err)
	}
	for _, link := range [][2]string{
		{cfg.DUTNS, cfg.DUTIf}, {cfg.PeerNS, cfg.PeerIf},
	} {
		if _, err := runIP("-n", link[0], "link", "set", "dev", link[1], "up"); err != nil {
			return fmt.Errorf("set %s up in netns %s: %w", link[1], link[0], err)
		}
	}

	return nil
}

// Recreate replaces the veth pair with a new one of the same names, MACs,
// MTU and queues, in the same namespaces (and under any process running in
// them), as a NIC driver reload would. The new ends have new ifindexes.
func (l *Lab) Recreate() error {
	if _, err := runIP("-n", l.DUTNS, "link", "del", "dev", l.DUTIf); err != nil {
		if _, _, lerr := lookupLink(l.DUTNS, l.DUTIf); lerr == nil {
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
	info, err := linkDetails(cfg.DUTNS, cfg.DUTIf)
	if err != nil {
		return nil, fmt.Errorf("lab open: %w", err)
	}
	l.MTU, l.Queues = info.MTU, info.NumRxQueues
	return l, nil
}

// Down deletes the lab's two namespaces, which destroys the veth pair. It is
// idempotent: absent namespaces are not an error. Zero fields of cfg take
// their defaults.
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

// Exec runs `ip netns exec ns name args...` and returns its combined output.
// A non-nil error includes the command line and the output. Because
// `ip netns exec` remounts /sys for the namespace, files under
// /sys/class/net read or written this way are the namespace's own.
func Exec(ns, name string, args ...string) ([]byte, error) {
	if err := checkNSName(ns); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return runIP(append([]string{"netns", "exec", ns, name}, args...)...)
}

// AddStaticNeighbor adds (or replaces) a permanent neighbour entry ip → mac
// on the peer end, so the peer kernel sends to ip without resolving it.
func (l *Lab) AddStaticNeighbor(ip netip.Addr, mac net.HardwareAddr) error {
	if !ip.IsValid() {
		return errors.New("lab: add static neighbor: invalid IP address")
	}
	if len(mac) == 0 {
		return fmt.Errorf("lab: add static neighbor %v: empty hardware address", ip)
	}
	if _, err := runIP("-n", l.PeerNS, "neigh", "replace", ip.Unmap().String(),
		"lladdr", mac.String(), "dev", l.PeerIf, "nud", "permanent"); err != nil {
		return fmt.Errorf("lab: add static neighbor %v: %w", ip, err)
	}
	return nil
}

// SetMTU sets the MTU of both veth ends and records it in l.MTU. If the
// second end fails, the first is set back.
func (l *Lab) SetMTU(mtu int) error {
	if mtu < minMTU || mtu > maxMTU {
		return fmt.Errorf("lab: set MTU: %d out of range [%d, %d]", mtu, minMTU, maxMTU)
	}
	if _, err := runIP("-n", l.DUTNS, "link", "set", "dev", l.DUTIf, "mtu", strconv.Itoa(mtu)); err != nil {
		return fmt.Errorf("lab: set MTU %d on DUT end: %w", mtu, err)
	}
	if _, err := runIP("-n", l.PeerNS, "link", "set", "dev", l.PeerIf, "mtu", strconv.Itoa(mtu)); err != nil {
		err = fmt.Errorf("lab: set MTU %d on peer end: %w", mtu, err)
		if _, rerr := runIP("-n", l.DUTNS, "link", "set", "dev", l.DUTIf, "mtu", strconv.Itoa(l.MTU)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("lab: restore MTU %d on DUT end: %w", l.MTU, rerr))
		}
		return err
	}
	l.MTU = mtu
	return nil
}

// readBack fills in the MACs and ifindexes of both ends.
func (l *Lab) readBack() error {
	var err error
	if l.DUTMAC, l.DUTIndex, err = lookupLink(l.DUTNS, l.DUTIf); err != nil {
		return err
	}
	if l.PeerMAC, l.PeerIndex, err = lookupLink(l.PeerNS, l.PeerIf); err != nil {
		return err
	}
	return nil
}

func lookupLink(ns, ifname string) (net.HardwareAddr, int, error) {
	var ifi *net.Interface
	err := InNS(ns, func() error {
		var err error
		ifi, err = net.InterfaceByName(ifname)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("look up %s in netns %s: %w", ifname, ns, err)
	}
	return ifi.HardwareAddr, ifi.Index, nil
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
		info, err := linkDetails(ns, ifname)
		if err != nil {
			return fmt.Errorf("wait for carrier: %w", err)
		}
		if slices.Contains(info.Flags, "LOWER_UP") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in netns %s has no carrier after %v (flags %v)", ifname, ns, timeout, info.Flags)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// linkInfo is the part of `ip -d -j link show` that Open reads.
type linkInfo struct {
	Flags       []string `json:"flags"`
	MTU         int      `json:"mtu"`
	NumTxQueues int      `json:"num_tx_queues"`
	NumRxQueues int      `json:"num_rx_queues"`
}

func linkDetails(ns, ifname string) (linkInfo, error) {
	out, err := runIP("-n", ns, "-d", "-j", "link", "show", "dev", ifname)
	if err != nil {
		return linkInfo{}, err
	}
	var links []linkInfo
	if err := json.Unmarshal(out, &links); err != nil {
		return linkInfo{}, fmt.Errorf("parse `ip -d -j link show dev %s`: %w", ifname, err)
	}
	if len(links) != 1 {
		return linkInfo{}, fmt.Errorf("`ip -d -j link show dev %s` listed %d links", ifname, len(links))
	}
	return links[0], nil
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
// i%ncpu. The sysfs files are written through `ip netns exec`, which mounts
// the namespace's own /sys; one shell writes all of them.
func configureXPS(ns, ifname string, queues, ncpu int) error {
	args := []string{"sh", "-c", `while [ $# -gt 0 ]; do echo "$1" > "$2" || exit 1; shift 2; done`, "sh"}
	for i := range queues {
		args = append(args, cpuMask(i%ncpu), fmt.Sprintf("/sys/class/net/%s/queues/tx-%d/xps_cpus", ifname, i))
	}
	_, err := Exec(ns, args[0], args[1:]...)
	return err
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

func deleteNS(ns string) error {
	if err := checkNSName(ns); err != nil {
		return err
	}
	if _, err := os.Lstat(nsPath(ns)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := runIP("netns", "del", ns); err != nil {
		if _, serr := os.Lstat(nsPath(ns)); errors.Is(serr, fs.ErrNotExist) {
			return nil // deleted concurrently
		}
		return fmt.Errorf("delete netns %s: %w", ns, err)
	}
	return nil
}

// lookTools reports the first of the named commands missing from PATH.
func lookTools(names ...string) error {
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			what := name
			if name == "ip" {
				what = "iproute2 `ip`"
			}
			return fmt.Errorf("%s command is required: %w", what, err)
		}
	}
	return nil
}

// runIP runs `ip args...`, returning its combined output. The error names the
// command and includes the output.
func runIP(args ...string) ([]byte, error) {
	cmd := exec.Command("ip", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := "ip " + strings.Join(args, " ")
		if o := bytes.TrimSpace(out); len(o) > 0 {
			return out, fmt.Errorf("%s: %w: %s", msg, err, o)
		}
		return out, fmt.Errorf("%s: %w", msg, err)
	}
	return out, nil
}
