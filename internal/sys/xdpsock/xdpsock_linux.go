package xdpsock

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// getsockopt reads SOL_XDP option opt into the size bytes at p, and
// fails unless the kernel wrote exactly size bytes (an older kernel's
// shorter struct).
func getsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
	l := uint32(size)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return errno
	}
	if uintptr(l) != size {
		return fmt.Errorf("getsockopt %d: kernel wrote %d bytes, want %d", opt, l, size)
	}
	return nil
}

// MmapOffsets returns where the kernel put the four rings' words in
// their mappings.
func MmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	if err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return off, os.NewSyscallError("getsockopt XDP_MMAP_OFFSETS", err)
	}
	return off, nil
}

// Statistics returns the socket's XDP_STATISTICS.
func Statistics(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	if err := getsockopt(fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return st, os.NewSyscallError("getsockopt XDP_STATISTICS", err)
	}
	return st, nil
}
