package netdev

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// featureAliases are ethtool's short names for groups of features (its
// off_flag_def table), as `ethtool -K IF gro on` accepts them.
var featureAliases = map[string]string{
	"rx":     "rx-checksum",
	"tx":     "tx-checksum-*",
	"sg":     "tx-scatter-gather*",
	"tso":    "tx-tcp*-segmentation",
	"gso":    "tx-generic-segmentation",
	"gro":    "rx-gro",
	"lro":    "rx-lro",
	"rxvlan": "rx-vlan-hw-parse",
	"txvlan": "tx-vlan-hw-insert",
	"ntuple": "rx-ntuple-filter",
	"rxhash": "rx-hashing",
}

// Features returns the interface's offload features, as `ethtool -k`
// lists them: the kernel's feature name ("rx-gro",
// "tx-checksum-ip-generic") → whether it is active. It uses the
// ETHTOOL_GFEATURES ioctl in the calling thread's network namespace.
func Features(name string) (map[string]bool, error) {
	names, blocks, err := readFeatures(name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(names))
	for i, n := range names {
		if n != "" {
			out[n] = bit(blocks, i, func(b featureBlock) uint32 { return b.Active })
		}
	}
	return out, nil
}

// SetFeatures turns offload features of the interface on or off, like
// `ethtool -K`, and checks that the kernel did. A key of want is a kernel
// feature name as Features returns it, one of ethtool's short names ("gro",
// "tx", "sg", "tso", "gso", "lro", "rx", ...), or a path.Match pattern
// ("tx-checksum-*"). A short name or a pattern changes every matching
// feature the driver lets the user change, as ethtool does; a feature name
// the driver does not let change, or a name or pattern that matches no
// changeable feature, is an error, and nothing is changed. It uses the
// ETHTOOL_SFEATURES ioctl in the calling thread's network namespace.
func SetFeatures(name string, want map[string]bool) error {
	names, blocks, err := readFeatures(name)
	if err != nil {
		return err
	}
	valid := make([]uint32, len(blocks))
	requested := make([]uint32, len(blocks))
	for i := range blocks {
		requested[i] = blocks[i].Requested
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type change struct {
		i  int
		on bool
	}
	var changes []change
	for _, key := range keys {
		pattern, group := key, false
		if alias, ok := featureAliases[key]; ok {
			pattern, group = alias, true
		}
		if strings.ContainsAny(pattern, "*?[") {
			group = true
			if _, err := path.Match(pattern, ""); err != nil {
				return fmt.Errorf("ethtool %s: feature pattern %q: %w", name, pattern, err)
			}
		}
		matched := 0
		for i, n := range names {
			if ok, _ := path.Match(pattern, n); !ok || n == "" {
				continue
			}
			if !bit(blocks, i, func(b featureBlock) uint32 { return b.Available }) {
				if group {
					continue // ethtool skips fixed members of a group
				}
				return fmt.Errorf("ethtool %s: feature %s is fixed: %w", name, n, unix.EOPNOTSUPP)
			}
			valid[i/32] |= 1 << (i % 32)
			if want[key] {
				requested[i/32] |= 1 << (i % 32)
			} else {
				requested[i/32] &^= 1 << (i % 32)
			}
			changes = append(changes, change{i, want[key]})
			matched++
		}
		if matched == 0 {
			return fmt.Errorf("ethtool %s: no changeable feature %q: %w", name, key, unix.EOPNOTSUPP)
		}
	}
	if err := setFeatures(name, valid, requested); err != nil {
		return err
	}
	after, err := getFeatures(name, len(blocks))
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range changes {
		if bit(after, c.i, func(b featureBlock) uint32 { return b.Active }) != c.on {
			errs = append(errs, fmt.Errorf("ethtool %s: feature %s is still %s", name, names[c.i], onOff(!c.on)))
		}
	}
	return errors.Join(errs...)
}

// EthtoolStats returns the driver's statistics, as `ethtool -S` prints
// them: name → value. It uses the ETHTOOL_GSTATS ioctl in the calling
// thread's network namespace. Drivers without statistics return an error
// wrapping EOPNOTSUPP.
func EthtoolStats(name string) (map[string]uint64, error) {
	n, err := stringSetCount(name, ethSSStats)
	if err != nil {
		return nil, err
	}
	names, err := stringSet(name, ethSSStats, n)
	if err != nil {
		return nil, err
	}
	vals, err := statValues(name, n)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, n)
	for i, v := range vals {
		out[names[i]] = v
	}
	return out, nil
}

// readFeatures returns the names of the feature bits and their current
// blocks.
func readFeatures(name string) ([]string, []featureBlock, error) {
	n, err := stringSetCount(name, ethSSFeatures)
	if err != nil {
		return nil, nil, err
	}
	names, err := stringSet(name, ethSSFeatures, n)
	if err != nil {
		return nil, nil, err
	}
	blocks, err := getFeatures(name, (n+31)/32)
	if err != nil {
		return nil, nil, err
	}
	return names, blocks, nil
}

func bit(blocks []featureBlock, i int, word func(featureBlock) uint32) bool {
	return word(blocks[i/32])&(1<<(i%32)) != 0
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
