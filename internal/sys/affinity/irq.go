package affinity

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// QueueIRQs finds the interrupt of each rx queue of iface in the text of
// /proc/interrupts, by the names drivers give their queue vectors:
// "eth0-TxRx-3" (ixgbe, i40e, ice, igb), "eth0-rx-3", "eth0-3". A vector
// whose name says rx or TxRx wins over a tx-only one for the same queue.
func QueueIRQs(r io.Reader, iface string) (map[int]int, error) {
	irqs := map[int]int{}
	rank := map[int]int{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		irq, err := strconv.Atoi(strings.TrimSuffix(fields[0], ":"))
		if err != nil {
			continue // the CPU header, NMI, LOC and friends
		}
		name := fields[len(fields)-1]
		rest, ok := strings.CutPrefix(name, iface+"-")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '-')
		q, err := strconv.Atoi(rest[i+1:])
		if err != nil || q < 0 {
			continue
		}
		kind := strings.ToLower(rest[:max(i, 0)])
		r := 1 // "eth0-3"
		switch {
		case strings.Contains(kind, "rx"):
			r = 2
		case strings.Contains(kind, "tx"):
			r = 0
		}
		if old, seen := rank[q]; !seen || r > old {
			irqs[q], rank[q] = irq, r
		}
	}
	return irqs, sc.Err()
}

// ParseCPUList parses a CPU list as in /proc/irq/N/smp_affinity_list or
// cpuset files: "0-3,8,10-11".
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
