//go:build linux

package umem

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Register registers the area with the AF_XDP socket fd (XDP_UMEM_REG).
func (u *UMEM) Register(fd int) error {
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(&u.mem[0]))),
		Len:      uint64(len(u.mem)),
		Size:     uint32(u.opts.FrameSize),
		Headroom: uint32(u.opts.Headroom),
	}
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0)
	if errno != 0 {
		err := os.NewSyscallError("setsockopt XDP_UMEM_REG", errno)
		if errors.Is(errno, unix.ENOMEM) || errors.Is(errno, unix.EPERM) {
			return fmt.Errorf("register umem of %d bytes (raise RLIMIT_MEMLOCK, e.g. ulimit -l unlimited, or grant CAP_IPC_LOCK): %w", len(u.mem), err)
		}
		return fmt.Errorf("register umem: %w", err)
	}
	return nil
}
