package labtest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rxpath/rxpath/internal/harness/lab"
)

var counter atomic.Int64

// Prefix returns the namespace name prefix of every lab New makes in this
// process: "rxpt-<pid>-". Tests use it to check nothing was left behind.
func Prefix() string { return fmt.Sprintf("rxpt-%d-", os.Getpid()) }

// New creates a lab from cfg with unique namespace names,
// rxpt-<pid>-<n>-p and rxpt-<pid>-<n>-d (cfg's PeerNS and DUTNS are ignored;
// other zero fields take lab's defaults), and registers t.Cleanup to delete it
// whether or not the test passes.
func New(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	RequirePrivileges(t)
	name := fmt.Sprintf("%s%d", Prefix(), counter.Add(1))
	cfg.PeerNS, cfg.DUTNS = name+"-p", name+"-d"
	// Registered before Up so that even a panic inside Up leaves nothing.
	t.Cleanup(func() {
		if err := lab.Down(cfg); err != nil {
			t.Errorf("labtest: %v", err)
		}
	})
	l, err := lab.Up(cfg)
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	return l
}

// UDPSender returns a kernel UDP socket created in the peer namespace,
// bound to PeerAddr (any port) and connected to DUTAddr:dport. It is closed
// by t.Cleanup.
func UDPSender(t testing.TB, l *lab.Lab, dport int) *net.UDPConn {
	t.Helper()
	laddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.PeerAddr.Addr(), 0))
	raddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.DUTAddr, uint16(dport)))
	var c *net.UDPConn
	err := lab.InNS(l.PeerNS, func() error {
		var err error
		c, err = net.DialUDP("udp", laddr, raddr)
		return err
	})
	if err != nil {
		t.Fatalf("labtest: UDP sender to %v in netns %s: %v", raddr, l.PeerNS, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// UDPListener returns a kernel UDP socket bound to PeerAddr:port in the peer
// namespace (port 0 picks one; see LocalAddr). It is closed by t.Cleanup.
func UDPListener(t testing.TB, l *lab.Lab, port int) *net.UDPConn {
	t.Helper()
	laddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.PeerAddr.Addr(), uint16(port)))
	var c *net.UDPConn
	err := lab.InNS(l.PeerNS, func() error {
		var err error
		c, err = net.ListenUDP("udp", laddr)
		return err
	})
	if err != nil {
		t.Fatalf("labtest: UDP listener on %v in netns %s: %v", laddr, l.PeerNS, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// PeerUDPStats returns the Udp lines of /proc/net/snmp in the peer
// namespace, so that a shortfall says whether the peer's kernel dropped
// datagrams (RcvbufErrors, InErrors) or never saw them.
func PeerUDPStats(l *lab.Lab) string {
	var out string
	err := lab.InNS(l.PeerNS, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Udp:") {
				out += line + "; "
			}
		}
		return nil
	})
	if err != nil {
		return err.Error()
	}
	return out
}

// FDCount returns how many file descriptors the process has open, for
// tests that check nothing leaks.
func FDCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
