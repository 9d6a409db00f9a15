package labtest

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Capability bit numbers from <linux/capability.h>.
var needCaps = []struct {
	bit  uint
	name string
}{
	{12, "CAP_NET_ADMIN"},
	{21, "CAP_SYS_ADMIN"},
	{39, "CAP_BPF"},
}

// RequirePrivileges skips the test unless the process holds CAP_NET_ADMIN,
// CAP_SYS_ADMIN and CAP_BPF in its effective set (running as root gives all
// three).
func RequirePrivileges(t testing.TB) {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // version 3 uses two 32-bit words
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatalf("labtest: capget: %v", err)
	}
	eff := uint64(data[1].Effective)<<32 | uint64(data[0].Effective)
	var missing []string
	for _, c := range needCaps {
		if eff&(1<<c.bit) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		t.Skipf("needs CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_BPF (run as root); missing %s",
			strings.Join(missing, ", "))
	}
}
