package lab_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// TestLinkHelpers checks the helpers that replace `ip` and `ethtool`
// against the kernel's own view, each on the end of the lab it names.
func TestLinkHelpers(t *testing.T) {
	t.Parallel()
	l := labtest.New(t, lab.Config{})

	t.Run("addr", func(t *testing.T) {
		p := netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits())
		if err := lab.AddAddr(l.DUTNS, l.DUTIf, p); err != nil {
			t.Fatal(err)
		}
		if got := showLink(t, l.DUTNS, "addr", l.DUTIf).AddrInfo; len(got) != 1 || got[0].Local != l.DUTAddr.String() || got[0].PrefixLen != p.Bits() {
			t.Errorf("addresses %+v after AddAddr(%v)", got, p)
		}
		if err := lab.AddAddr(l.DUTNS, l.DUTIf, p); !errors.Is(err, unix.EEXIST) {
			t.Errorf("second AddAddr = %v, want EEXIST", err)
		}
		if err := lab.DelAddr(l.DUTNS, l.DUTIf, p); err != nil {
			t.Fatal(err)
		}
		if got := showLink(t, l.DUTNS, "addr", l.DUTIf).AddrInfo; len(got) != 0 {
			t.Errorf("addresses %+v after DelAddr", got)
		}
		if err := lab.AddAddr(l.DUTNS, "rxp-none", p); err == nil || !strings.Contains(err.Error(), "rxp-none") {
			t.Errorf("AddAddr on a missing link = %v", err)
		}
	})

	t.Run("down and up", func(t *testing.T) {
		if err := lab.SetLinkDown(l.PeerNS, l.PeerIf); err != nil {
			t.Fatal(err)
		}
		a, err := lab.LinkAttrs(l.DUTNS, l.DUTIf)
		if err != nil {
			t.Fatal(err)
		}
		if a.RawFlags&unix.IFF_LOWER_UP != 0 {
			t.Error("DUT end has carrier with the peer end down")
		}
		if err := lab.SetLinkUp(l.PeerNS, l.PeerIf); err != nil {
			t.Fatal(err)
		}
		if link := showLink(t, l.PeerNS, "link", l.PeerIf); !slices.Contains(link.Flags, "UP") {
			t.Errorf("peer flags %v after SetLinkUp", link.Flags)
		}
	})

	t.Run("stats", func(t *testing.T) {
		if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
			t.Fatal(err)
		}
		before, err := lab.LinkStats(l.PeerNS, l.PeerIf)
		if err != nil {
			t.Fatal(err)
		}
		c := labtest.UDPSender(t, l, 9)
		for range 3 {
			if _, err := c.Write([]byte("count me")); err != nil {
				t.Fatal(err)
			}
		}
		after, err := lab.LinkStats(l.PeerNS, l.PeerIf)
		if err != nil {
			t.Fatal(err)
		}
		if d := after.TxPackets - before.TxPackets; d != 3 {
			t.Errorf("peer tx_packets went up by %d, want 3", d)
		}
		et, err := lab.EthtoolStats(l.PeerNS, l.PeerIf)
		if err != nil {
			t.Fatal(err)
		}
		if et["peer_ifindex"] != uint64(l.DUTIndex) {
			t.Errorf("peer_ifindex %d, want the DUT end's %d", et["peer_ifindex"], l.DUTIndex)
		}
	})

	t.Run("feature", func(t *testing.T) {
		for _, on := range []bool{true, false} {
			if err := lab.SetFeature(l.DUTNS, l.DUTIf, "gro", on); err != nil {
				t.Fatal(err)
			}
		}
		if err := lab.SetFeature(l.DUTNS, l.DUTIf, "no-such-feature", true); !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("SetFeature(no-such-feature) = %v, want EOPNOTSUPP", err)
		}
	})

	t.Run("sysctl", func(t *testing.T) {
		const p = "/proc/sys/net/ipv4/tcp_slow_start_after_idle"
		host, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		old, err := lab.ReadProcSys(l.PeerNS, p)
		if err != nil {
			t.Fatal(err)
		}
		flip := map[string]string{"0": "1", "1": "0"}[old]
		if flip == "" {
			t.Fatalf("%s = %q", p, old)
		}
		if err := lab.WriteProcSys(l.PeerNS, p, flip); err != nil {
			t.Fatal(err)
		}
		if got, _ := lab.ReadProcSys(l.PeerNS, p); got != flip {
			t.Errorf("%s = %q after writing %q", p, got, flip)
		}
		if got, _ := lab.ReadProcSys(l.DUTNS, p); got != old {
			t.Errorf("%s in the DUT namespace = %q, want it untouched (%q)", p, got, old)
		}
		if now, _ := os.ReadFile(p); string(now) != string(host) {
			t.Errorf("host %s changed from %q to %q", p, host, now)
		}
		for _, bad := range []string{"/proc/sys/kernel/hostname", "/proc/sys/net/../kernel/hostname", "net/ipv4/ip_forward"} {
			if _, err := lab.ReadProcSys(l.PeerNS, bad); err == nil {
				t.Errorf("ReadProcSys(%q) succeeded", bad)
			}
			if err := lab.WriteProcSys(l.PeerNS, bad, "x"); err == nil {
				t.Errorf("WriteProcSys(%q) succeeded", bad)
			}
		}
	})

	t.Run("xdp", func(t *testing.T) {
		if err := lab.DetachXDP(l.DUTNS, l.DUTIf); err != nil {
			t.Errorf("DetachXDP without a program: %v", err)
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: ebpf.XDP, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}, // XDP_PASS
		})
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		err = lab.InNS(l.DUTNS, func() error {
			link, err := netlink.LinkByName(l.DUTIf)
			if err != nil {
				return err
			}
			return netlink.LinkSetXdpFdWithFlags(link, prog.FD(), unix.XDP_FLAGS_DRV_MODE)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !labtest.XDPAttached(t, l) {
			t.Fatal("XDPAttached = false with a program attached")
		}
		if err := lab.DetachXDP(l.DUTNS, l.DUTIf); err != nil {
			t.Fatal(err)
		}
		if labtest.XDPAttached(t, l) {
			t.Error("program still attached after DetachXDP")
		}
	})

	// Last: deleting one end deletes the pair.
	t.Run("del", func(t *testing.T) {
		if err := lab.DelLink(l.DUTNS, l.DUTIf); err != nil {
			t.Fatal(err)
		}
		for _, end := range [][2]string{{l.DUTNS, l.DUTIf}, {l.PeerNS, l.PeerIf}} {
			if _, err := lab.LinkAttrs(end[0], end[1]); err == nil {
				t.Errorf("%s still exists after DelLink", end[1])
			}
		}
		if err := lab.DelLink(l.DUTNS, l.DUTIf); err == nil {
			t.Error("second DelLink succeeded")
		}
	})
}

// TestCommand runs programs in a namespace through Command: the child is
// in the namespace, the output methods behave like exec.Cmd's, the
// context kills the child, and no thread of this process stays behind in
// the namespace.
func TestCommand(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	var nsStat syscall.Stat_t
	if err := syscall.Stat("/var/run/netns/"+l.PeerNS, &nsStat); err != nil {
		t.Fatal(err)
	}
	inNS := fmt.Sprintf("net:[%d]", nsStat.Ino)

	out, err := lab.Command(context.Background(), l.PeerNS, cat, "/proc/net/dev").Output()
	if err != nil || !strings.Contains(string(out), l.PeerIf+":") {
		t.Errorf("Output of cat /proc/net/dev = %v:\n%s", err, out)
	}
	_, err = lab.Command(context.Background(), l.PeerNS, cat, "/nonexistent").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(ee.Stderr), "No such file") {
		t.Errorf("Output of a failing cat = %v, want an ExitError with its stderr", err)
	}
	out, err = lab.Command(context.Background(), l.PeerNS, cat, "/nonexistent").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "No such file") {
		t.Errorf("CombinedOutput of a failing cat = %v:\n%s", err, out)
	}
	if err := lab.Command(context.Background(), labtest.Prefix()+"absent", cat, "/dev/null").Run(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run in an absent namespace = %v, want fs.ErrNotExist", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	c := lab.Command(ctx, l.PeerNS, sleep, "30")
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	if got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", c.Process.Pid)); err != nil || got != inNS {
		t.Errorf("child's netns %s (%v), want %s", got, err, inNS)
	}
	// The Pdeathsig fires only when the forking thread exits, which it
	// must not do before Wait: the child is still alive a little later.
	time.Sleep(50 * time.Millisecond)
	if err := c.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("child gone before its context ended: %v", err)
	}
	cancel()
	if err := c.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait after cancel = %v, want killed", err)
	}

	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if got, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && got == inNS {
			t.Errorf("thread %s is still in the peer namespace", task.Name())
		}
	}
}
