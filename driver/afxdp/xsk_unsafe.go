//go:build linux

package afxdp

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/xdpsock"
	"github.com/rxpath/rxpath/rxring"
)

func xdpStatistics(fd int) (driver.KernelStats, error) {
	st, err := xdpsock.Statistics(fd)
	if err != nil {
		return driver.KernelStats{}, err
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
	off, err := xdpsock.MmapOffsets(q.sk.FD)
	if err != nil {
		return err
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
	var m []byte
	if m, err = mmap(unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, o.FillSize, 8, "fill"); err != nil {
		return err
	}
	if q.r.Fill, err = rxring.NewFillRing(m, offsets(off.Fr), o.FillSize); err != nil {
		return err
	}
	if m, err = mmap(unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, o.CompSize, 8, "completion"); err != nil {
		return err
	}
	if q.r.Comp, err = rxring.NewCompRing(m, offsets(off.Cr), o.CompSize); err != nil {
		return err
	}
	if m, err = mmap(unix.XDP_PGOFF_RX_RING, off.Rx, o.RxSize, 16, "rx"); err != nil {
		return err
	}
	if q.r.Rx, err = rxring.NewRxRing(m, offsets(off.Rx), o.RxSize); err != nil {
		return err
	}
	if m, err = mmap(unix.XDP_PGOFF_TX_RING, off.Tx, o.TxSize, 16, "tx"); err != nil {
		return err
	}
	if q.r.Tx, err = rxring.NewTxRing(m, offsets(off.Tx), o.TxSize); err != nil {
		return err
	}
	return nil
}
