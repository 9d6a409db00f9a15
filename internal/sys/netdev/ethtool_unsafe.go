//go:build linux

package netdev

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// String sets and sizes from <linux/ethtool.h>.
const (
	ethSSStats    = 1  // ETH_SS_STATS: the names of ETHTOOL_GSTATS values
	ethSSFeatures = 4  // ETH_SS_FEATURES: the names of feature bits
	ethGStringLen = 32 // ETH_GSTRING_LEN
)

// stringSetCount returns how many strings string set set has on the
// interface (ETHTOOL_GSSET_INFO), or an error wrapping EOPNOTSUPP if the
// driver has no such set.
func stringSetCount(name string, set uint32) (int, error) {
	// struct ethtool_sset_info: cmd, reserved, sset_mask, then one __u32
	// per bit set in sset_mask. One set is asked for, so one comes back.
	var si struct {
		Cmd, Reserved uint32
		Mask          uint64
		Data          uint32
	}
	si.Cmd = unix.ETHTOOL_GSSET_INFO
	si.Mask = 1 << set
	if err := ethtool(name, unsafe.Pointer(&si)); err != nil {
		return 0, err
	}
	if si.Mask&(1<<set) == 0 {
		return 0, fmt.Errorf("ethtool %s: no string set %d: %w", name, set, unix.EOPNOTSUPP)
	}
	return int(si.Data), nil
}

// headroom returns the capacity to allocate for n kernel-sized entries.
// ETHTOOL_GSTRINGS and ETHTOOL_GSTATS write as many entries as the driver
// has when they run, whatever the caller's buffer holds; veth's count
// follows its channel count, which may change between the count and the
// read. The spare room keeps such a race from writing past the buffer; the
// callers then report the mismatch.
func headroom(n int) int { return 2*n + 16 }

// stringSet returns the n strings of string set set (ETHTOOL_GSTRINGS).
func stringSet(name string, set uint32, n int) ([]string, error) {
	// struct ethtool_gstrings: cmd, string_set, len, then len strings of
	// ETH_GSTRING_LEN bytes each.
	buf := make([]uint32, 3+headroom(n)*ethGStringLen/4)
	buf[0], buf[1], buf[2] = unix.ETHTOOL_GSTRINGS, set, uint32(n)
	if err := ethtool(name, unsafe.Pointer(&buf[0])); err != nil {
		return nil, err
	}
	if int(buf[2]) != n {
		return nil, fmt.Errorf("ethtool %s: string set %d has %d strings, was %d", name, set, buf[2], n)
	}
	data := unsafe.Slice((*byte)(unsafe.Pointer(&buf[3])), n*ethGStringLen)
	out := make([]string, n)
	for i := range out {
		out[i] = cString(data[i*ethGStringLen : (i+1)*ethGStringLen])
	}
	return out, nil
}

// featureBlock is struct ethtool_get_features_block: one 32-bit word of
// the feature bits in each of four states.
type featureBlock struct {
	Available    uint32 // changeable by the user (hw_features)
	Requested    uint32 // asked for by the user (wanted_features)
	Active       uint32 // in effect (features)
	NeverChanged uint32 // fixed for the device's lifetime
}

// getFeatures returns the interface's words blocks of feature bits
// (ETHTOOL_GFEATURES).
func getFeatures(name string, words int) ([]featureBlock, error) {
	// struct ethtool_gfeatures: cmd, size (in blocks), then the blocks.
	// The kernel writes at most size blocks.
	buf := make([]uint32, 2+4*words)
	buf[0], buf[1] = unix.ETHTOOL_GFEATURES, uint32(words)
	if err := ethtool(name, unsafe.Pointer(&buf[0])); err != nil {
		return nil, err
	}
	if int(buf[1]) < words {
		return nil, fmt.Errorf("ethtool %s: kernel has %d feature words, want %d", name, buf[1], words)
	}
	out := make([]featureBlock, words)
	for i := range out {
		b := buf[2+4*i:]
		out[i] = featureBlock{Available: b[0], Requested: b[1], Active: b[2], NeverChanged: b[3]}
	}
	return out, nil
}

// setFeatures asks for the feature bits in valid to take the values in
// requested (ETHTOOL_SFEATURES). The kernel wants exactly as many words
// as it has; it may refuse or adjust some bits, so callers read back.
func setFeatures(name string, valid, requested []uint32) error {
	// struct ethtool_sfeatures: cmd, size, then size blocks of valid,
	// requested.
	buf := make([]uint32, 2+2*len(valid))
	buf[0], buf[1] = unix.ETHTOOL_SFEATURES, uint32(len(valid))
	for i := range valid {
		buf[2+2*i], buf[3+2*i] = valid[i], requested[i]
	}
	return ethtool(name, unsafe.Pointer(&buf[0]))
}

// statValues returns the interface's n statistics (ETHTOOL_GSTATS), in the
// order of string set ETH_SS_STATS.
func statValues(name string, n int) ([]uint64, error) {
	// struct ethtool_stats: cmd, n_stats, then n_stats __u64 values. The
	// two __u32 share the first __u64 of buf.
	buf := make([]uint64, 1+headroom(n))
	hdr := (*[2]uint32)(unsafe.Pointer(&buf[0]))
	hdr[0], hdr[1] = unix.ETHTOOL_GSTATS, uint32(n)
	if err := ethtool(name, unsafe.Pointer(&buf[0])); err != nil {
		return nil, err
	}
	if int(hdr[1]) != n {
		return nil, fmt.Errorf("ethtool %s: %d statistics, was %d", name, hdr[1], n)
	}
	return buf[1 : 1+n], nil
}
