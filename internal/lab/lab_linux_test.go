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

	"github.com/rxpath/rxpath/internal/lab"
	"github.com/rxpath/rxpath/internal/lab/labtest"
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
	out := mustExec(t, l.PeerNS, "ethtool", "-k", l.PeerIf)
	if !strings.Contains(out, "\ntx-checksumming: off") {
		t.Errorf("ethtool -k %s in %s:\n%s\nwant tx-checksumming: off", l.PeerIf, l.PeerNS, out)
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
	got := strings.Fields(mustExec(t, l.DUTNS, "ls", "/sys/class/net/"+l.DUTIf+"/queues"))
	if want := []string{"rx-0", "rx-1", "tx-0", "tx-1"}; !slices.Equal(got, want) {
		t.Errorf("DUT queues %q, want %q", got, want)
	}

	// XPS: peer tx queue i belongs to CPU i%ncpu.
	for q := range 2 {
		out := mustExec(t, l.PeerNS, "cat", fmt.Sprintf("/sys/class/net/%s/queues/tx-%d/xps_cpus", l.PeerIf, q))
		hex := strings.ReplaceAll(strings.TrimSpace(out), ",", "")
		hex = strings.TrimLeft(hex, "0")
		want := strconv.FormatUint(1<<(q%runtime.NumCPU()), 16)
		if hex != want {
			t.Errorf("tx-%d xps_cpus = %q, want mask %s", q, out, want)
		}
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
	mustExec(t, l.DUTNS, "ethtool", "-K", l.DUTIf, "gro", "on")
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}

	rxPackets := func() [2]int {
		out := mustExec(t, l.DUTNS, "ethtool", "-S", l.DUTIf)
		var n [2]int
		for q := range 2 {
			key := fmt.Sprintf("rx_queue_%d_xdp_packets:", q)
			i := strings.Index(out, key)
			if i < 0 {
				t.Skipf("veth has no %s counter:\n%s", key, out)
			}
			f := strings.Fields(out[i+len(key):])
			n[q], _ = strconv.Atoi(f[0])
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
	if out, err := exec.Command("ip", "-n", l.DUTNS, "addr", "add",
		netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits()).String(), "dev", l.DUTIf).CombinedOutput(); err != nil {
		t.Fatalf("add DUT address: %v: %s", err, out)
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

// fakePath returns a PATH directory holding links to the named real commands
// plus any fake shell scripts given.
func fakePath(t *testing.T, real []string, fakes map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range real {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, script := range fakes {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUpMissingTools(t *testing.T) {
	labtest.RequirePrivileges(t)
	tests := []struct {
		name, wantMsg string
		real          []string
	}{
		{"no ip", "iproute2 `ip`", nil},
		{"no ethtool", "ethtool", []string{"ip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", fakePath(t, tt.real, nil))
			cfg := lab.Config{PeerNS: labtest.Prefix() + "tools-p", DUTNS: labtest.Prefix() + "tools-d"}
			_, err := lab.Up(cfg)
			if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Up = %v, want exec.ErrNotFound mentioning %s", err, tt.wantMsg)
			}
			if nsExists(cfg.PeerNS) || nsExists(cfg.DUTNS) {
				t.Error("Up made namespaces before checking its tools")
			}
		})
	}
}

func TestUpFailureTearsDown(t *testing.T) {
	labtest.RequirePrivileges(t)
	// An ethtool that always fails makes Up fail after it has created the
	// namespaces and the veth.
	t.Setenv("PATH", fakePath(t, []string{"ip", "sh", "cat", "ls"},
		map[string]string{"ethtool": "echo fake ethtool failure >&2; exit 1"}))
	cfg := lab.Config{PeerNS: labtest.Prefix() + "fail-p", DUTNS: labtest.Prefix() + "fail-d"}
	t.Cleanup(func() { lab.Down(cfg) })
	_, err := lab.Up(cfg)
	if err == nil || !strings.Contains(err.Error(), "checksum offload") || !strings.Contains(err.Error(), "fake ethtool failure") {
		t.Fatalf("Up = %v, want the checksum offload step to fail with ethtool's output", err)
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
