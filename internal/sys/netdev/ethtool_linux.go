package netdev

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Channels returns the interface's channel counts (ethtool -l), from the
// ETHTOOL_GCHANNELS ioctl. Drivers without channel support return an
// error wrapping EOPNOTSUPP.
func Channels(name string) (ChannelCounts, error) {
	// struct ethtool_channels: cmd, then eight __u32 counts.
	var ec struct {
		Cmd                                         uint32
		MaxRx, MaxTx, MaxOther, MaxCombined         uint32
		RxCount, TxCount, OtherCount, CombinedCount uint32
	}
	ec.Cmd = unix.ETHTOOL_GCHANNELS
	if err := ethtool(name, unsafe.Pointer(&ec)); err != nil {
		return ChannelCounts{}, err
	}
	return ChannelCounts{
		MaxRx: int(ec.MaxRx), MaxTx: int(ec.MaxTx), MaxCombined: int(ec.MaxCombined),
		Rx: int(ec.RxCount), Tx: int(ec.TxCount), Combined: int(ec.CombinedCount),
	}, nil
}

// RxQueueCount returns how many rx queues info's interface uses, and where
// that came from: its ethtool channels when the driver reports them, else
// the kernel's rx queue count.
func RxQueueCount(info Info) (n int, source string) {
	if ch, err := Channels(info.Name); err == nil && ch.RxQueues() > 0 {
		return ch.RxQueues(), "ethtool channels"
	}
	return info.NumRxQueues, "rx queues"
}

// RSSQueues returns the rx queues the interface's RSS indirection table
// spreads traffic over (ethtool -x), from ETHTOOL_GRXFHINDIR. Drivers
// without RSS return an error wrapping EOPNOTSUPP.
func RSSQueues(name string) ([]int, error) {
	// struct ethtool_rxfh_indir: cmd, size, then size __u32 entries. A
	// first call with size 0 returns the table size.
	hdr := struct{ Cmd, Size uint32 }{Cmd: unix.ETHTOOL_GRXFHINDIR}
	if err := ethtool(name, unsafe.Pointer(&hdr)); err != nil {
		return nil, err
	}
	if hdr.Size == 0 || hdr.Size > 1<<16 {
		return nil, fmt.Errorf("ethtool %s: RSS table of %d entries: %w", name, hdr.Size, unix.EOPNOTSUPP)
	}
	buf := make([]uint32, 2+hdr.Size)
	buf[0], buf[1] = unix.ETHTOOL_GRXFHINDIR, hdr.Size
	if err := ethtool(name, unsafe.Pointer(&buf[0])); err != nil {
		return nil, err
	}
	seen := map[uint32]bool{}
	var qs []int
	for _, q := range buf[2:] {
		if !seen[q] {
			seen[q] = true
			qs = append(qs, int(q))
		}
	}
	return qs, nil
}

// ethtool runs one SIOCETHTOOL request; data points at the command
// structure, which the kernel reads and fills in place.
func ethtool(name string, data unsafe.Pointer) error {
	if len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q is too long", name)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	// struct ifreq: the name, then a union whose ifr_data is a pointer.
	var ifr struct {
		Name [unix.IFNAMSIZ]byte
		Data unsafe.Pointer
		_    [24 - unsafe.Sizeof(uintptr(0))]byte
	}
	copy(ifr.Name[:], name)
	ifr.Data = data
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return fmt.Errorf("ethtool %s: %w", name, e)
	}
	return nil
}
