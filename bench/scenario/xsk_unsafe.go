//go:build linux

package scenario

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/rxring"
)

// The few socket options of xsk-minimal that pass a struct to the kernel.

func xskGetsockopt(fd, opt int, p unsafe.Pointer, size uintptr) error {
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

// xskRegisterUMEM registers mem, cut into frames of frameSize bytes, with
// the AF_XDP socket fd (XDP_UMEM_REG, no headroom beyond the kernel's).
func xskRegisterUMEM(fd int, mem []byte, frameSize int) error {
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
		Len:  uint64(len(mem)),
		Size: uint32(frameSize),
	}
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_UMEM_REG,
		uintptr(unsafe.Pointer(&reg)), unsafe.Sizeof(reg), 0)
	if errno != 0 {
		return os.NewSyscallError("setsockopt XDP_UMEM_REG", errno)
	}
	return nil
}

// xskRingOffsets reads where the kernel put the fill and rx rings' words.
func xskRingOffsets(fd int) (fill, rx rxring.Offsets, err error) {
	var off unix.XDPMmapOffsets
	if err := xskGetsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fill, rx, os.NewSyscallError("getsockopt XDP_MMAP_OFFSETS", err)
	}
	conv := func(o unix.XDPRingOffset) rxring.Offsets {
		return rxring.Offsets{Producer: o.Producer, Consumer: o.Consumer, Desc: o.Desc, Flags: o.Flags}
	}
	return conv(off.Fr), conv(off.Rx), nil
}

// xskStatistics reads the socket's XDP_STATISTICS.
func xskStatistics(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	if err := xskGetsockopt(fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return st, os.NewSyscallError("getsockopt XDP_STATISTICS", err)
	}
	return st, nil
}
