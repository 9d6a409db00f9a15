package netdev

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestChannels reads a veth's channels over the ioctl and compares them
// with what `ethtool -l` prints when it is installed; loopback has no
// channel support and must say so with EOPNOTSUPP.
func TestChannels(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a veth pair")
	}
	const a, b = "rxnd-ch0", "rxnd-ch1"
	if out, err := exec.Command("ip", "link", "add", a, "numrxqueues", "3", "numtxqueues", "3", "type", "veth", "peer", "name", b).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", a).Run() })
	c, err := Channels(a)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxRx != 3 || c.RxQueues() != 3 {
		t.Fatalf("veth with 3 rx queues: %+v", c)
	}
	if _, err := Channels("lo"); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("loopback channels: %v, want EOPNOTSUPP", err)
	}
	if _, err := Channels("rxnd-none"); !errors.Is(err, unix.ENODEV) {
		t.Fatalf("missing interface: %v, want ENODEV", err)
	}
	if _, err := RSSQueues(a); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Logf("veth RSS: %v", err) // veth has no RSS table
	}
}

// vethPair creates a veth pair a, b in the test's network namespace and
// deletes it on cleanup.
func vethPair(t *testing.T, a, b string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a veth pair")
	}
	if out, err := exec.Command("ip", "link", "add", a, "type", "veth", "peer", "name", b).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", a).Run() })
}

// TestSetFeatures turns veth offloads off and on over the ioctl, checks
// them with Features and, when it is installed, with `ethtool -k`.
func TestSetFeatures(t *testing.T) {
	const a, b = "rxnd-ft0", "rxnd-ft1"
	vethPair(t, a, b)
	before, err := Features(a)
	if err != nil {
		t.Fatal(err)
	}
	if !before["tx-checksum-ip-generic"] {
		t.Fatalf("veth starts with tx-checksum-ip-generic off: %v", before)
	}

	if err := SetFeatures(a, map[string]bool{"tx": false, "gro": true}); err != nil {
		t.Fatal(err)
	}
	after, err := Features(a)
	if err != nil {
		t.Fatal(err)
	}
	for name, on := range after {
		if strings.HasPrefix(name, "tx-checksum-") && on {
			t.Errorf("%s still on after tx off", name)
		}
	}
	if !after["rx-gro"] {
		t.Error("rx-gro off after gro on")
	}
	if other, err := Features(b); err != nil || !other["tx-checksum-ip-generic"] {
		t.Errorf("peer end changed too: %v %v", other["tx-checksum-ip-generic"], err)
	}
	if _, err := exec.LookPath("ethtool"); err == nil {
		out, err := exec.Command("ethtool", "-k", a).CombinedOutput()
		if err != nil {
			t.Fatalf("ethtool -k: %v: %s", err, out)
		}
		for _, want := range []string{"\ntx-checksumming: off", "\ngeneric-receive-offload: on"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("ethtool -k %s lacks %q:\n%s", a, want, out)
			}
		}
	}

	if err := SetFeatures(a, map[string]bool{"rx-gro": false, "tx-checksum-*": true}); err != nil {
		t.Fatal(err)
	}
	if f, _ := Features(a); f["rx-gro"] || !f["tx-checksum-ip-generic"] {
		t.Errorf("rx-gro %v tx-checksum-ip-generic %v, want off, on", f["rx-gro"], f["tx-checksum-ip-generic"])
	}

	// A feature the driver fixes, and a name that matches nothing, are
	// errors that change nothing.
	names, blocks, err := readFeatures(a)
	if err != nil {
		t.Fatal(err)
	}
	fixed := ""
	for i, n := range names {
		if n != "" && !bit(blocks, i, func(b featureBlock) uint32 { return b.Available }) {
			fixed = n
			break
		}
	}
	if fixed == "" {
		t.Fatal("veth has no fixed feature to try")
	}
	now, _ := Features(a)
	for _, bad := range []map[string]bool{
		{fixed: !now[fixed], "rx-gro": true},
		{"no-such-feature": true, "rx-gro": true},
		{"[": true},
	} {
		if err := SetFeatures(a, bad); err == nil {
			t.Errorf("SetFeatures(%v) succeeded", bad)
		} else if !errors.Is(err, unix.EOPNOTSUPP) && !strings.Contains(err.Error(), "pattern") {
			t.Errorf("SetFeatures(%v) = %v, want EOPNOTSUPP", bad, err)
		}
		if f, _ := Features(a); f["rx-gro"] {
			t.Fatalf("failed SetFeatures(%v) turned rx-gro on", bad)
		}
	}
	if _, err := Features("rxnd-none"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("missing interface: %v, want ENODEV", err)
	}
}

// TestEthtoolStats reads veth's statistics over the ioctl: its
// peer_ifindex names the other end, and loopback has none.
func TestEthtoolStats(t *testing.T) {
	const a, b = "rxnd-st0", "rxnd-st1"
	vethPair(t, a, b)
	st, err := EthtoolStats(a)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.InterfaceByName(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := st["peer_ifindex"]; !ok || got != uint64(peer.Index) {
		t.Errorf("peer_ifindex = %d (present %v), want %d; all: %v", got, ok, peer.Index, st)
	}
	if _, ok := st["rx_queue_0_xdp_packets"]; !ok {
		t.Errorf("no rx_queue_0_xdp_packets in %v", st)
	}
	if _, err := EthtoolStats("lo"); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("loopback statistics: %v, want EOPNOTSUPP", err)
	}
}
