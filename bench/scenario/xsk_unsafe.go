//go:build linux

package scenario

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/sys/xdpsock"
	"github.com/rxpath/rxpath/rxring"
)

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
	off, err := xdpsock.MmapOffsets(fd)
	if err != nil {
		return fill, rx, err
	}
	conv := func(o unix.XDPRingOffset) rxring.Offsets {
		return rxring.Offsets{Producer: o.Producer, Consumer: o.Consumer, Desc: o.Desc, Flags: o.Flags}
	}
	return conv(off.Fr), conv(off.Rx), nil
}
