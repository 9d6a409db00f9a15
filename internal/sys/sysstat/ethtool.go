package sysstat

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// ParseEthtool parses the output of `ethtool -S IFACE` into name → value.
// Lines that are not "name: number" (the "NIC statistics:" header) are
// skipped.
func ParseEthtool(r io.Reader) (map[string]uint64, error) {
	out := make(map[string]uint64)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if err != nil {
			continue
		}
		out[strings.TrimSpace(name)] = v
	}
	return out, sc.Err()
}

// SNMP is /proc/net/snmp: protocol → field → value.
type SNMP map[string]map[string]uint64

// ParseSNMP parses /proc/net/snmp, whose protocols come as a line of
// field names followed by a line of values, both prefixed "Proto:".
func ParseSNMP(r io.Reader) (SNMP, error) {
	out := make(SNMP)
	sc := bufio.NewScanner(r)
	var names []string
	var proto string
	for sc.Scan() {
		p, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil || p != proto {
			proto, names = p, f
			continue
		}
		m := make(map[string]uint64, len(f))
		for i, v := range f {
			if i >= len(names) {
				break
			}
			// Values may be negative (Tcp MaxConn -1): skip those.
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				m[names[i]] = n
			}
		}
		out[p] = m
		names = nil
	}
	return out, sc.Err()
}

// Delta returns b - a for every key of b (keys missing from a count from
// zero; counters that went backwards give a negative delta).
func Delta(a, b map[string]uint64) map[string]int64 {
	out := make(map[string]int64, len(b))
	for k, v := range b {
		out[k] = int64(v) - int64(a[k])
	}
	return out
}
