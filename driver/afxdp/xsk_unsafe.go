//go:build linux

package afxdp

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/rxring"
)

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

func xdpStatistics(fd int) (driver.KernelStats, error) {
	var st unix.XDPStatistics
	if err := getsockopt(fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return driver.KernelStats{}, os.NewSyscallError("getsockopt XDP_STATISTICS", err)
	}
	return driver.KernelStats{
		RxDropped:       st.Rx_dropped,
		RxInvalidDescs:  st.Rx_invalid_descs,
		TxInvalidDescs:  st.Tx_invalid_descs,
		RxRingFull:      st.Rx_ring_full,
		RxFillRingEmpty: st.Rx_fill_ring_empty_descs,
		TxRingEmpty:     st.Tx_ring_empty_descs,
	}, nil
}

func offsets(o unix.XDPRingOffset) rxring.Offsets {
	return rxring.Offsets{Producer: o.Producer, Consumer: o.Consumer, Desc: o.Desc, Flags: o.Flags}
}

// mapRings reads the ring layout and maps the four rings.
func (q *Queue) mapRings(o Options) error {
	var off unix.XDPMmapOffsets
	if err := getsockopt(q.sk.FD, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return os.NewSyscallError("getsockopt XDP_MMAP_OFFSETS", err)
	}
	mmap := func(pgoff int64, ro unix.XDPRingOffset, size uint32, descSize uint64, name string) ([]byte, error) {
		length := int(ro.Desc + uint64(size)*descSize)
		m, err := unix.Mmap(q.sk.FD, pgoff, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, os.NewSyscallError("mmap "+name+" ring", err)
		}
		q.maps = append(q.maps, m)
		return m, nil
	}
	var err error
	var m []byte
	if m, err = mmap(unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, o.FillSize, 8, "fill"); err != nil {
		return err
	}
	if q.fill, err = rxring.NewFillRing(m, offsets(off.Fr), o.FillSize); err != nil {
		return err
	}
	if m, err = mmap(unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, o.CompSize, 8, "completion"); err != nil {
		return err
	}
	if q.comp, err = rxring.NewCompRing(m, offsets(off.Cr), o.CompSize); err != nil {
		return err
	}
	if m, err = mmap(unix.XDP_PGOFF_RX_RING, off.Rx, o.RxSize, 16, "rx"); err != nil {
		return err
	}
	if q.rx, err = rxring.NewRxRing(m, offsets(off.Rx), o.RxSize); err != nil {
		return err
	}
	if m, err = mmap(unix.XDP_PGOFF_TX_RING, off.Tx, o.TxSize, 16, "tx"); err != nil {
		return err
	}
	if q.tx, err = rxring.NewTxRing(m, offsets(off.Tx), o.TxSize); err != nil {
		return err
	}
	return nil
}
