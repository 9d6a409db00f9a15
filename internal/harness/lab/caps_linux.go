package lab

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Capability bit numbers from <linux/capability.h>.
const (
	capNetAdmin = 12
	capSysAdmin = 21
)

// effectiveCaps returns the calling thread's effective capability set.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // version 3 uses two 32-bit words
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, os.NewSyscallError("capget", err)
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// checkPrivileges returns an error wrapping os.ErrPermission unless the
// process holds CAP_NET_ADMIN and CAP_SYS_ADMIN.
func checkPrivileges() error {
	caps, err := effectiveCaps()
	if err != nil {
		return err
	}
	var missing []string
	if caps&(1<<capNetAdmin) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if caps&(1<<capSysAdmin) == 0 {
		missing = append(missing, "CAP_SYS_ADMIN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: the lab needs CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root); missing %s",
			os.ErrPermission, strings.Join(missing, " and "))
	}
	return nil
}
