package lab_test

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
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// TestMain fails the run if any namespace made by this process survives
// its tests' cleanups.
func TestMain(m *testing.M) {
	code := m.Run()
	if left := leftoverNamespaces(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: namespaces left behind: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

func leftoverNamespaces() []string {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return nil
	}
	var left []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), labtest.Prefix()) {
			left = append(left, e.Name())
		}
	}
	return left
}

// ipLink is the part of `ip -j [-d] link/addr show` the tests read.
type ipLink struct {
	IfIndex     int      `json:"ifindex"`
	IfName      string   `json:"ifname"`
	Flags       []string `json:"flags"`
	MTU         int      `json:"mtu"`
	Address     string   `json:"address"`
	NumTxQueues int      `json:"num_tx_queues"`
	NumRxQueues int      `json:"num_rx_queues"`
	AddrInfo    []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

func showLink(t *testing.T, ns, what, dev string) ipLink {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-d", "-j", what, "show", "dev", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s show dev %s: %v: %s", ns, what, dev, err, out)
	}
	var links []ipLink
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("parse ip -j output %q: %v", out, err)
	}
	if len(links) != 1 {
		t.Fatalf("ip -n %s %s show dev %s: %d entries, want 1", ns, what, dev, len(links))
	}
	return links[0]
}

func nsExists(ns string) bool {
	_, err := os.Lstat(filepath.Join("/var/run/netns", ns))
	return err == nil
}

func mustExec(t *testing.T, ns, name string, args ...string) string {
	t.Helper()
	out, err := lab.Exec(ns, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestUp(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})

	if want := lab.DefaultConfig(); l.PeerIf != want.PeerIf || l.DUTIf != want.DUTIf ||
		l.PeerAddr != want.PeerAddr || l.DUTAddr != want.DUTAddr || l.Queues != 1 || l.MTU != 1500 {
		t.Errorf("Lab config = %+v, want defaults apart from names", l.Config)
	}
	for _, ns := range []string{l.PeerNS, l.DUTNS} {
		if !strings.HasPrefix(ns, labtest.Prefix()) || !nsExists(ns) {
			t.Errorf("namespace %q: missing or not named by labtest", ns)
		}
	}

	ends := []struct {
		name, ns, ifname string
		mac              net.HardwareAddr
		index            int
		wantAddrs        []string
	}{
		{"dut", l.DUTNS, l.DUTIf, l.DUTMAC, l.DUTIndex, nil},
		{"peer", l.PeerNS, l.PeerIf, l.PeerMAC, l.PeerIndex, []string{"inet 10.99.0.1/24"}},
	}
	for _, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			link := showLink(t, e.ns, "link", e.ifname)
			if link.IfIndex != e.index || link.Address != e.mac.String() {
				t.Errorf("ifindex %d mac %s, Lab says %d %s", link.IfIndex, link.Address, e.index, e.mac)
			}
			if link.MTU != 1500 || link.NumTxQueues != 1 || link.NumRxQueues != 1 {
				t.Errorf("mtu %d queues tx %d rx %d, want 1500 1 1", link.MTU, link.NumTxQueues, link.NumRxQueues)
			}
			if !slices.Contains(link.Flags, "UP") || !slices.Contains(link.Flags, "LOWER_UP") {
				t.Errorf("flags %v, want UP and LOWER_UP", link.Flags)
			}
			if lo := showLink(t, e.ns, "link", "lo"); !slices.Contains(lo.Flags, "UP") {
				t.Errorf("lo flags %v, want UP", lo.Flags)
			}

			// IPv6 is off, so not even a link-local address.
			var addrs []string
			for _, a := range showLink(t, e.ns, "addr", e.ifname).AddrInfo {
				addrs = append(addrs, fmt.Sprintf("%s %s/%d", a.Family, a.Local, a.PrefixLen))
			}
			if !slices.Equal(addrs, e.wantAddrs) {
				t.Errorf("addresses %q, want %q", addrs, e.wantAddrs)
			}
			if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
				v := mustExec(t, e.ns, "cat", "/proc/sys/net/ipv6/conf/"+e.ifname+"/disable_ipv6")
				if strings.TrimSpace(v) != "1" {
					t.Errorf("disable_ipv6 = %q, want 1", v)
				}
			}
		})
	}

	if s := l.String(); !strings.Contains(s, l.DUTNS) || !strings.Contains(s, l.DUTMAC.String()) {
		t.Errorf("String() lacks namespace or MAC:\n%s", s)
	}
}

func TestPeerChecksumOffloadOff(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})
	var peer, dut map[string]bool
	if err := lab.InNS(l.PeerNS, func() (err error) { peer, err = netdev.Features(l.PeerIf); return err }); err != nil {
		t.Fatal(err)
	}
	if err := lab.InNS(l.DUTNS, func() (err error) { dut, err = netdev.Features(l.DUTIf); return err }); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, on := range peer {
		if strings.HasPrefix(name, "tx-checksum-") {
			n++
			if on {
				t.Errorf("peer end: %s on, want every tx-checksum-* off", name)
			}
		}
	}
	if n == 0 {
		t.Errorf("peer end lists no tx-checksum-* feature: %v", peer)
	}
	if !dut["tx-checksum-ip-generic"] {
		t.Error("DUT end: tx-checksum-ip-generic off, want the default (on)")
	}
	// ethtool, when installed, agrees.
	if _, err := exec.LookPath("ethtool"); err == nil {
		out := mustExec(t, l.PeerNS, "ethtool", "-k", l.PeerIf)
		if !strings.Contains(out, "\ntx-checksumming: off") {
			t.Errorf("ethtool -k %s in %s:\n%s\nwant tx-checksumming: off", l.PeerIf, l.PeerNS, out)
		}
	}
}

func TestQueuesAndMTU(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{Queues: 2, MTU: 9000})

	for _, end := range [][2]string{{l.DUTNS, l.DUTIf}, {l.PeerNS, l.PeerIf}} {
		link := showLink(t, end[0], "link", end[1])
		if link.MTU != 9000 || link.NumTxQueues != 2 || link.NumRxQueues != 2 {
			t.Errorf("%s: mtu %d queues tx %d rx %d, want 9000 2 2", end[1], link.MTU, link.NumTxQueues, link.NumRxQueues)
		}
	}
	err := lab.WithSysfs(l.DUTNS, func(sys string) error {
		ents, err := os.ReadDir(filepath.Join(sys, "class/net", l.DUTIf, "queues"))
		if err != nil {
			return err
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if want := []string{"rx-0", "rx-1", "tx-0", "tx-1"}; !slices.Equal(got, want) {
			t.Errorf("DUT queues %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// XPS: peer tx queue i belongs to CPU i%ncpu.
	err = lab.WithSysfs(l.PeerNS, func(sys string) error {
		for q := range 2 {
			b, err := os.ReadFile(filepath.Join(sys, "class/net", l.PeerIf, "queues", fmt.Sprintf("tx-%d", q), "xps_cpus"))
			if err != nil {
				return err
			}
			hex := strings.ReplaceAll(strings.TrimSpace(string(b)), ",", "")
			hex = strings.TrimLeft(hex, "0")
			want := strconv.FormatUint(1<<(q%runtime.NumCPU()), 16)
			if hex != want {
				t.Errorf("tx-%d xps_cpus = %q, want mask %s", q, b, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestXPSSteersToRxQueue checks the point of the XPS setup: a kernel socket
// sending from CPU i reaches the DUT on rx queue i. veth counts frames per
// rx queue when it runs NAPI, which GRO on the DUT end turns on.
func TestXPSSteersToRxQueue(t *testing.T) {
	t.Parallel()
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs to steer to 2 queues")
	}
	l := labtest.New(t, lab.Config{Queues: 2})
	if err := lab.SetFeature(l.DUTNS, l.DUTIf, "gro", true); err != nil {
		t.Fatal(err)
	}
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}

	rxPackets := func() [2]int {
		st, err := lab.EthtoolStats(l.DUTNS, l.DUTIf)
		if err != nil {
			t.Fatal(err)
		}
		var n [2]int
		for q := range 2 {
			key := fmt.Sprintf("rx_queue_%d_xdp_packets", q)
			v, ok := st[key]
			if !ok {
				t.Skipf("veth has no %s counter: %v", key, st)
			}
			n[q] = int(v)
		}
		return n
	}

	const count = 5
	for cpu := range 2 {
		before := rxPackets()
		c := labtest.UDPSender(t, l, 9)
		sendPinned(t, cpu, func() {
			for range count {
				if _, err := c.Write([]byte("xps")); err != nil {
					t.Error(err)
				}
			}
		})
		var after [2]int
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if after = rxPackets(); after[0]+after[1]-before[0]-before[1] >= count {
				break
			}
		}
		want := before
		want[cpu] += count
		if after != want {
			t.Errorf("sent %d from CPU %d: rx queue packets %v -> %v, want %v", count, cpu, before, after, want)
		}
	}
}

// sendPinned runs fn on a thread pinned to cpu.
func sendPinned(t *testing.T, cpu int, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Skipf("cannot pin to CPU %d: %v", cpu, err)
	}
	defer unix.SchedSetaffinity(0, &old)
	fn()
}

func TestInNS(t *testing.T) {
	l := labtest.New(t, lab.Config{})

	if _, err := net.InterfaceByName(l.DUTIf); err == nil {
		t.Errorf("%s is visible outside its namespace", l.DUTIf)
	}
	root, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/var/run/netns/"+l.DUTNS, &st); err != nil {
		t.Fatal(err)
	}
	err = lab.InNS(l.DUTNS, func() error {
		ifi, err := net.InterfaceByName(l.DUTIf)
		if err != nil {
			return err
		}
		if !bytes.Equal(ifi.HardwareAddr, l.DUTMAC) || ifi.Index != l.DUTIndex {
			t.Errorf("inside: %s mac %s index %d, want %s %d", l.DUTIf, ifi.HardwareAddr, ifi.Index, l.DUTMAC, l.DUTIndex)
		}
		self, err := os.Readlink("/proc/thread-self/ns/net")
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("net:[%d]", st.Ino); self != want {
			t.Errorf("inside: thread netns %s, want %s (root is %s)", self, want, root)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InNS: %v", err)
	}

	errFn := errors.New("fn failed")
	if err := lab.InNS(l.DUTNS, func() error { return errFn }); !errors.Is(err, errFn) {
		t.Errorf("InNS returned %v, want fn's error", err)
	}

	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want fn's panic", p)
			}
		}()
		lab.InNS(l.DUTNS, func() error { panic("boom") })
		t.Error("InNS did not re-panic")
	}()

	called := false
	err = lab.InNS(labtest.Prefix()+"absent", func() error { called = true; return nil })
	if !errors.Is(err, fs.ErrNotExist) || called {
		t.Errorf("InNS(absent) = %v (fn called %v), want fs.ErrNotExist and no call", err, called)
	}
	if err := lab.InNS("../etc", func() error { called = true; return nil }); err == nil || called {
		t.Errorf("InNS(../etc) = %v (fn called %v), want error and no call", err, called)
	}

	// Hammer it, then check that no thread of the process was left in a
	// lab namespace. (No parallel test runs while this one does.)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := lab.InNS(l.PeerNS, func() error { return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		ns, err := os.Readlink(task)
		if err != nil {
			continue // thread exited
		}
		if ns != root {
			t.Errorf("%s = %s after InNS, want %s", task, ns, root)
		}
	}
}

// TestSocketsKeepNamespace checks that sockets made inside InNS stay in
// their namespace, work from other goroutines, and that the labtest helpers
// reach the DUT address. The test plays the user-space stack by giving the
// DUT address to the DUT kernel.
func TestSocketsKeepNamespace(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})
	if err := lab.AddAddr(l.DUTNS, l.DUTIf, netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits())); err != nil {
		t.Fatal(err)
	}

	var dut *net.UDPConn
	err := lab.InNS(l.DUTNS, func() error {
		var err error
		dut, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.DUTAddr, 0)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer dut.Close()
	dport := dut.LocalAddr().(*net.UDPAddr).Port

	send := labtest.UDPSender(t, l, dport)
	peer := labtest.UDPListener(t, l, 0)
	for _, c := range []*net.UDPConn{dut, send, peer} {
		c.SetDeadline(time.Now().Add(5 * time.Second))
	}

	if _, err := send.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := dut.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("DUT read: %v", err)
	}
	if string(buf[:n]) != "ping" || from.Addr() != l.PeerAddr.Addr() {
		t.Errorf("DUT got %q from %v, want ping from %v", buf[:n], from, l.PeerAddr.Addr())
	}

	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	if to.Addr() != l.PeerAddr.Addr() {
		t.Errorf("listener bound to %v, want %v", to, l.PeerAddr.Addr())
	}
	if _, err := dut.WriteToUDPAddrPort([]byte("pong"), to); err != nil {
		t.Fatal(err)
	}
	n, from, err = peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("peer read: %v", err)
	}
	if string(buf[:n]) != "pong" || from.Addr() != l.DUTAddr {
		t.Errorf("peer got %q from %v, want pong from %v", buf[:n], from, l.DUTAddr)
	}
}

func TestUpReplacesStaleLab(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{Queues: 2})

	// A crashed run leaves the namespaces; Up with the same names must win.
	l2, err := lab.Up(l.Config)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	got, err := lab.Open(lab.Config{PeerNS: l.PeerNS, DUTNS: l.DUTNS})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got.String() != l2.String() {
		t.Errorf("Open found\n%s\nwant\n%s", got, l2)
	}
}

func TestDown(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})
	for i := range 2 {
		if err := lab.Down(l.Config); err != nil {
			t.Fatalf("Down #%d: %v", i+1, err)
		}
		if nsExists(l.PeerNS) || nsExists(l.DUTNS) {
			t.Fatalf("namespaces remain after Down #%d", i+1)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close after Down: %v", err)
	}
	if _, err := lab.Open(l.Config); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Down = %v, want fs.ErrNotExist", err)
	}
}

func TestAddStaticNeighbor(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})
	for range 2 { // replace, so repeating is fine
		if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("ip", "-n", l.PeerNS, "-j", "neigh", "show", "dev", l.PeerIf).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var neighs []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal(out, &neighs); err != nil {
		t.Fatal(err)
	}
	if len(neighs) != 1 || neighs[0].Dst != l.DUTAddr.String() || neighs[0].LLAddr != l.DUTMAC.String() ||
		!slices.Contains(neighs[0].State, "PERMANENT") {
		t.Errorf("neighbours %s, want one permanent %v -> %s", out, l.DUTAddr, l.DUTMAC)
	}
	if err := l.AddStaticNeighbor(netip.Addr{}, l.DUTMAC); err == nil {
		t.Error("AddStaticNeighbor accepted an invalid address")
	}

	if err := l.DelStaticNeighbor(l.DUTAddr); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command("ip", "-n", l.PeerNS, "-j", "neigh", "show", "dev", l.PeerIf).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := json.Unmarshal(out, &neighs); err != nil {
		t.Fatal(err)
	}
	if len(neighs) != 0 {
		t.Errorf("neighbours %s after DelStaticNeighbor, want none", out)
	}
	if err := l.DelStaticNeighbor(l.DUTAddr); err == nil {
		t.Error("second DelStaticNeighbor succeeded")
	}
}

func TestSetMTU(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})
	if err := l.SetMTU(4000); err != nil {
		t.Fatal(err)
	}
	if l.MTU != 4000 {
		t.Errorf("l.MTU = %d, want 4000", l.MTU)
	}
	for _, end := range [][2]string{{l.DUTNS, l.DUTIf}, {l.PeerNS, l.PeerIf}} {
		if mtu := showLink(t, end[0], "link", end[1]).MTU; mtu != 4000 {
			t.Errorf("%s mtu %d, want 4000", end[1], mtu)
		}
	}
	if err := l.SetMTU(10); err == nil || l.MTU != 4000 {
		t.Errorf("SetMTU(10) = %v, MTU now %d; want error and 4000", err, l.MTU)
	}
}

func TestUpFailureTearsDown(t *testing.T) {
	labtest.RequirePrivileges(t)
	// The DUT namespace has its own "lo", so creating the veth fails after
	// Up has made both namespaces.
	cfg := lab.Config{PeerNS: labtest.Prefix() + "fail-p", DUTNS: labtest.Prefix() + "fail-d", DUTIf: "lo"}
	t.Cleanup(func() { lab.Down(cfg) })
	_, err := lab.Up(cfg)
	if !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "create veth") {
		t.Fatalf("Up = %v, want creating the veth to fail with EEXIST", err)
	}
	if nsExists(cfg.PeerNS) || nsExists(cfg.DUTNS) {
		t.Error("failed Up left namespaces behind")
	}
}

// TestCleanupRemovesLab checks that a test's cleanup removes its lab as soon
// as the test ends. (TestMain checks that nothing is left after all tests.)
func TestCleanupRemovesLab(t *testing.T) {
	labtest.RequirePrivileges(t)
	var cfg lab.Config
	t.Run("lab", func(t *testing.T) {
		cfg = labtest.New(t, lab.Config{}).Config
	})
	if nsExists(cfg.PeerNS) || nsExists(cfg.DUTNS) {
		t.Errorf("namespaces %s, %s remain after the subtest's cleanup", cfg.PeerNS, cfg.DUTNS)
	}
	if _, err := lab.Open(cfg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after cleanup = %v, want fs.ErrNotExist", err)
	}
}

// TestWithoutTools drives a whole lab's life with a PATH that holds no
// command at all, so nothing can be shelled out to: Up, Open, SetMTU,
// AddStaticNeighbor, Recreate, Exec (by absolute path) and Down. The
// namespaces must be where `ip netns` looks for them while the lab is up,
// and gone, with nothing of this process left in them, after Down.
func TestWithoutTools(t *testing.T) {
	labtest.RequirePrivileges(t)
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	ipCmd, _ := exec.LookPath("ip") // to check interoperation, if installed
	if out, err := exec.Command(cat, "/dev/null").CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", cat, err, out) // warm up the runtime's poller before counting fds
	}
	fds := labtest.FDCount(t)
	t.Setenv("PATH", t.TempDir())
	for _, tool := range []string{"ip", "ethtool", "sh"} {
		if p, err := exec.LookPath(tool); err == nil {
			t.Fatalf("%s found in the empty PATH at %s", tool, p)
		}
	}

	l := labtest.New(t, lab.Config{Queues: 2})
	inodes := map[string]uint64{}
	for _, ns := range []string{l.PeerNS, l.DUTNS} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join("/var/run/netns", ns), &st); err != nil {
			t.Fatal(err)
		}
		var fs unix.Statfs_t
		if err := unix.Statfs(filepath.Join("/var/run/netns", ns), &fs); err != nil {
			t.Fatal(err)
		}
		if fs.Type != unix.NSFS_MAGIC {
			t.Errorf("/var/run/netns/%s is on fs type %#x, want nsfs (a bind-mounted namespace)", ns, fs.Type)
		}
		inodes[ns] = st.Ino
	}
	if inodes[l.PeerNS] == inodes[l.DUTNS] {
		t.Errorf("both namespaces are inode %d", inodes[l.PeerNS])
	}
	if ipCmd != "" {
		out, err := exec.Command(ipCmd, "netns", "list").CombinedOutput()
		if err != nil {
			t.Fatalf("ip netns list: %v: %s", err, out)
		}
		for _, ns := range []string{l.PeerNS, l.DUTNS} {
			if !strings.Contains(string(out), ns) {
				t.Errorf("ip netns list lacks %s:\n%s", ns, out)
			}
		}
		out, err = exec.Command(ipCmd, "-n", l.DUTNS, "link", "show", "dev", l.DUTIf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), l.DUTMAC.String()) {
			t.Errorf("ip -n %s link show dev %s: %v:\n%s", l.DUTNS, l.DUTIf, err, out)
		}
	}

	got, err := lab.Open(lab.Config{PeerNS: l.PeerNS, DUTNS: l.DUTNS})
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != l.String() {
		t.Errorf("Open found\n%s\nwant\n%s", got, l)
	}

	if err := l.SetMTU(3000); err != nil {
		t.Fatal(err)
	}
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	oldIndex := l.DUTIndex
	if err := l.Recreate(); err != nil {
		t.Fatal(err)
	}
	if l.DUTIndex == oldIndex {
		t.Errorf("Recreate kept DUT ifindex %d", oldIndex)
	}
	for _, end := range [][3]string{{l.DUTNS, l.DUTIf, l.DUTMAC.String()}, {l.PeerNS, l.PeerIf, l.PeerMAC.String()}} {
		a, err := lab.LinkAttrs(end[0], end[1])
		if err != nil {
			t.Fatal(err)
		}
		if a.MTU != 3000 || a.NumRxQueues != 2 || a.NumTxQueues != 2 || a.HardwareAddr.String() != end[2] ||
			a.RawFlags&unix.IFF_LOWER_UP == 0 {
			t.Errorf("%s after Recreate: mtu %d queues %d/%d mac %s flags %v, want 3000 2/2 %s with carrier",
				end[1], a.MTU, a.NumRxQueues, a.NumTxQueues, a.HardwareAddr, a.Flags, end[2])
		}
	}

	// Exec runs in the namespace: the child's /proc/net is the peer's.
	out, err := lab.Exec(l.PeerNS, cat, "/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), l.PeerIf+":") || strings.Contains(string(out), l.DUTIf+":") {
		t.Errorf("/proc/net/dev in %s:\n%s\nwant %s and not %s", l.PeerNS, out, l.PeerIf, l.DUTIf)
	}
	_, err = lab.Exec(l.PeerNS, cat, "/nonexistent")
	if err == nil || !strings.Contains(err.Error(), cat+" /nonexistent") || !strings.Contains(err.Error(), "No such file") {
		t.Errorf("Exec of a failing command = %v, want the command line and its output", err)
	}
	if _, err := lab.Exec(l.PeerNS, "cat", "/dev/null"); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("Exec(cat) with an empty PATH = %v, want exec.ErrNotFound", err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{l.PeerNS, l.DUTNS} {
		if nsExists(ns) {
			t.Errorf("/var/run/netns/%s remains after Down", ns)
		}
	}
	if ipCmd != "" {
		out, err := exec.Command(ipCmd, "netns", "list").CombinedOutput()
		if err != nil {
			t.Fatalf("ip netns list: %v: %s", err, out)
		}
		if strings.Contains(string(out), l.PeerNS) || strings.Contains(string(out), l.DUTNS) {
			t.Errorf("ip netns list after Down:\n%s", out)
		}
	}
	// Nothing of this process holds the namespaces: no thread is in one,
	// no fd (namespace file, netlink socket) is left open, and no mount
	// (namespace file, sysfs for XPS) remains.
	for _, ino := range inodes {
		want := fmt.Sprintf("net:[%d]", ino)
		links, _ := filepath.Glob("/proc/self/task/*/ns/net")
		fdLinks, _ := filepath.Glob("/proc/self/fd/*")
		for _, p := range append(links, fdLinks...) {
			if target, err := os.Readlink(p); err == nil && target == want {
				t.Errorf("%s is still %s", p, want)
			}
		}
	}
	if n := labtest.FDCount(t); n != fds {
		t.Errorf("%d fds open after Down, %d before Up", n, fds)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, l.PeerNS) || strings.Contains(line, l.DUTNS) || strings.Contains(line, "rxpath-sysfs-") {
			t.Errorf("mount left behind: %s", line)
		}
	}
}
