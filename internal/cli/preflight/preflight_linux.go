package preflight

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// Capability numbers (linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
	capIPCLock  = 14
	capSysAdmin = 21
	capBPF      = 39
)

var capNames = map[int]string{capNetAdmin: "CAP_NET_ADMIN", capNetRaw: "CAP_NET_RAW", capIPCLock: "CAP_IPC_LOCK", capSysAdmin: "CAP_SYS_ADMIN", capBPF: "CAP_BPF"}

// Run checks c in the calling thread's network namespace and returns
// every finding, failures first in the order the checks ran.
func Run(c Config) []Finding {
	var out []Finding
	add := func(check string, s Severity, format string, a ...any) {
		out = append(out, Finding{Check: check, Severity: s, Message: fmt.Sprintf(format, a...)})
	}
	caps, capErr := effectiveCaps()
	has := func(n int) bool { return capErr == nil && caps&(1<<n) != 0 }

	// Privileges.
	need := []int{capNetRaw}
	if c.Driver != DriverPacket {
		need = []int{capNetAdmin, capNetRaw}
	}
	var missing []string
	for _, n := range need {
		if !has(n) {
			missing = append(missing, capNames[n])
		}
	}
	if c.Driver != DriverPacket && !has(capBPF) && !has(capSysAdmin) {
		missing = append(missing, "CAP_BPF (or CAP_SYS_ADMIN)")
	}
	switch {
	case capErr != nil:
		add("privileges", Warn, "cannot read the process capabilities (%v); rxpath needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF", capErr)
	case len(missing) > 0:
		what := "AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF"
		set := "cap_net_admin,cap_net_raw,cap_bpf,cap_ipc_lock+ep"
		if c.Driver == DriverPacket {
			what, set = "AF_PACKET needs CAP_NET_RAW", "cap_net_raw+ep"
		}
		add("privileges", Fail, "missing %s: %s; run rxpath as root, or grant them with 'setcap %s /path/to/rxpath'",
			strings.Join(missing, ", "), what, set)
	default:
		add("privileges", OK, "capabilities present")
	}

	// The interface and its link.
	info, err := netdev.Lookup(c.Iface)
	if err != nil {
		if errors.Is(err, netdev.ErrNoInterface) {
			add("interface", Fail, "no interface named %q in this network namespace; 'ip -br link' lists them", c.Iface)
		} else {
			add("interface", Fail, "cannot look up %q: %v", c.Iface, err)
		}
		return sortFindings(out)
	}
	add("interface", OK, "%s is ifindex %d", info.Name, info.Index)
	switch {
	case !info.Up:
		add("link", Fail, "%s is down; bring it up with 'ip link set dev %s up'", info.Name, info.Name)
	case !info.Running:
		add("link", Warn, "%s is up but has no carrier (cable, switch port or peer down): nothing will arrive", info.Name)
	default:
		add("link", OK, "%s is up", info.Name)
	}

	// MTU against the UMEM frame and native XDP.
	drv := driverName(info.Name)
	if c.Driver != DriverPacket {
		room := c.FrameSize - xdpHeadroom
		if frame := info.MTU + 14 + 4; c.FrameSize > 0 && frame > room {
			fix := fmt.Sprintf("lower the MTU to %d", room-18)
			if c.FrameSize < 4096 {
				fix = "use --frame-size 4096, " + fix
			}
			add("mtu", Warn, "MTU %d (frames up to %d bytes with a VLAN tag) does not fit a %d-byte UMEM frame (%d bytes after the %d-byte headroom): longer frames will be dropped and counted; %s, or use --driver packet",
				info.MTU, frame, c.FrameSize, room, xdpHeadroom, fix)
		}
		if info.MTU > NativeMaxMTUVeth && c.Attach != AttachGeneric {
			limit := fmt.Sprintf("veth allows at most %d", NativeMaxMTUVeth)
			if drv != "veth" {
				limit = fmt.Sprintf("most drivers allow about %d without multi-buffer XDP", NativeMaxMTUVeth)
			}
			if c.Attach == AttachNative {
				add("mtu", Fail, "MTU %d is too large for native XDP on %s (%s): lower it with 'ip link set dev %s mtu %d', or use --attach generic",
					info.MTU, info.Name, limit, info.Name, NativeMaxMTUVeth)
			} else {
				add("mtu", Warn, "MTU %d is likely too large for native XDP on %s (%s): auto attach will fall back to generic XDP, which is slower",
					info.MTU, info.Name, limit)
			}
		}
	}

	// Queues: ethtool channels, else the kernel's rx queue count.
	nq, src := netdev.RxQueueCount(info)
	bound := c.Queues
	if bound == nil {
		for q := range nq {
			bound = append(bound, q)
		}
	}
	bad := false
	for _, q := range c.Queues {
		if q >= nq {
			bad = true
			add("queues", Fail, "queue %d does not exist: %s has %s (from %s; 'ethtool -l %s'); bind queues from that range, or add channels with 'ethtool -L %s combined N'",
				q, info.Name, queueRange(nq), src, info.Name, info.Name)
			break
		}
	}
	if !bad {
		add("queues", OK, "binding %d of %s", len(bound), queueRange(nq))
	}

	// An XDP program already attached.
	if info.XDPProgID != 0 && c.Driver != DriverPacket {
		sev := Fail
		tail := ""
		if c.Driver == DriverAuto {
			sev, tail = Warn, "; auto will fall back to AF_PACKET"
		}
		add("xdp", sev, "an XDP program (id %d, %s) is already attached to %s, perhaps another rxpath or a left-over; inspect it with 'bpftool net show dev %s', remove it with 'ip link set dev %s xdp off'%s",
			info.XDPProgID, attachedMode(info.XDPAttached), info.Name, info.Name, info.Name, tail)
	}

	// RLIMIT_MEMLOCK against the UMEM (XDP_UMEM_REG pins it).
	if c.Driver != DriverPacket && c.FrameSize > 0 && c.Frames > 0 && !has(capIPCLock) {
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err == nil {
			per := uint64(c.FrameSize) * uint64(c.Frames)
			if lim.Cur != unix.RLIM_INFINITY && per > lim.Cur {
				add("memlock", Fail, "RLIMIT_MEMLOCK is %s but each queue's UMEM pins %s (%d frames of %d bytes): raise it with 'ulimit -l unlimited' (LimitMEMLOCK=infinity under systemd), or grant CAP_IPC_LOCK",
					mib(lim.Cur), mib(per), c.Frames, c.FrameSize)
			}
		}
	}

	// RSS spreading traffic to queues that are not bound.
	if len(bound) < nq {
		spread, err := netdev.RSSQueues(info.Name)
		if err != nil { // no RSS table: assume traffic may land on any queue
			spread = nil
			for q := range nq {
				spread = append(spread, q)
			}
		}
		var unbound []string
		for _, q := range spread {
			if !slices.Contains(bound, q) {
				unbound = append(unbound, strconv.Itoa(q))
			}
		}
		if len(unbound) > 0 {
			fate := "go to the kernel stack"
			if c.UnboundDrop {
				fate = "are dropped"
			}
			add("rss", Warn, "%s spreads traffic over rx queues %s that are not bound: their frames %s; bind them too, or steer with 'ethtool -X %s equal %d' or ntuple rules ('ethtool -N')",
				info.Name, strings.Join(unbound, ","), fate, info.Name, len(bound))
		}
	}
	return sortFindings(out)
}

// sortFindings puts failures first, then warnings, keeping check order.
func sortFindings(f []Finding) []Finding {
	slices.SortStableFunc(f, func(a, b Finding) int { return int(b.Severity) - int(a.Severity) })
	return f
}

// effectiveCaps reads CapEff from /proc/self/status.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// driverName returns the interface's driver ("veth", "ixgbe"), or "".
func driverName(iface string) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	di, err := unix.IoctlGetEthtoolDrvinfo(fd, iface)
	if err != nil {
		return ""
	}
	return unix.ByteSliceToString(di.Driver[:])
}

// attachedMode words enum xdp_attach_mode (linux/if_link.h).
func attachedMode(m uint8) string {
	switch m {
	case 1: // XDP_ATTACHED_DRV
		return "native"
	case 2: // XDP_ATTACHED_SKB
		return "generic"
	case 3: // XDP_ATTACHED_HW
		return "offloaded"
	case 4: // XDP_ATTACHED_MULTI
		return "several modes"
	}
	return "attached"
}
