package sysstat

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// UserHZ is the unit of /proc/stat times (USER_HZ), 100 on every Linux
// architecture rxbench runs on.
const UserHZ = 100

// CPUTimes is one cpu line of /proc/stat, in USER_HZ ticks.
type CPUTimes struct {
	CPU                                 int // -1 for the "cpu" total line
	User, Nice, System, Idle, IOWait    uint64
	IRQ, SoftIRQ, Steal, Guest, GuestNi uint64
}

// Stat is the cpu lines of /proc/stat.
type Stat struct {
	Total CPUTimes
	CPUs  []CPUTimes // indexed by position; CPUTimes.CPU has the number
}

// ParseStat parses the cpu lines of /proc/stat. Lines with fewer fields
// than the oldest kernels print (user to idle) are an error; missing later
// fields read as zero.
func ParseStat(r io.Reader) (Stat, error) {
	var st Stat
	sc := bufio.NewScanner(r)
	seenTotal := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if len(f) < 5 {
			return Stat{}, fmt.Errorf("/proc/stat: short line %q", sc.Text())
		}
		var t CPUTimes
		if f[0] == "cpu" {
			t.CPU = -1
		} else {
			n, err := strconv.Atoi(f[0][3:])
			if err != nil {
				return Stat{}, fmt.Errorf("/proc/stat: bad cpu name %q", f[0])
			}
			t.CPU = n
		}
		vals := make([]uint64, 10)
		for i := 1; i < len(f) && i <= 10; i++ {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return Stat{}, fmt.Errorf("/proc/stat: %s field %d: %w", f[0], i, err)
			}
			vals[i-1] = v
		}
		t.User, t.Nice, t.System, t.Idle, t.IOWait = vals[0], vals[1], vals[2], vals[3], vals[4]
		t.IRQ, t.SoftIRQ, t.Steal, t.Guest, t.GuestNi = vals[5], vals[6], vals[7], vals[8], vals[9]
		if t.CPU < 0 {
			st.Total, seenTotal = t, true
		} else {
			st.CPUs = append(st.CPUs, t)
		}
	}
	if err := sc.Err(); err != nil {
		return Stat{}, fmt.Errorf("/proc/stat: %w", err)
	}
	if !seenTotal {
		return Stat{}, fmt.Errorf("/proc/stat: no cpu line")
	}
	return st, nil
}

// Ticks converts USER_HZ ticks to a duration.
func Ticks(n uint64) time.Duration { return time.Duration(n) * (time.Second / UserHZ) }

// SoftIRQDelta returns the softirq time spent between a and b on each CPU
// present in both (by CPU number, in a's order) and in total.
func SoftIRQDelta(a, b Stat) (perCPU []time.Duration, total time.Duration) {
	return delta(a, b, func(c CPUTimes) uint64 { return c.SoftIRQ })
}

// StealDelta returns the time the hypervisor ran something else while
// each CPU wanted to run (steal) between a and b, as SoftIRQDelta does.
func StealDelta(a, b Stat) (perCPU []time.Duration, total time.Duration) {
	return delta(a, b, func(c CPUTimes) uint64 { return c.Steal })
}

// delta returns field's growth between a and b on each CPU present in
// both (by CPU number, in a's order) and in total.
func delta(a, b Stat, field func(CPUTimes) uint64) (perCPU []time.Duration, total time.Duration) {
	byCPU := make(map[int]uint64, len(b.CPUs))
	for _, c := range b.CPUs {
		byCPU[c.CPU] = field(c)
	}
	for _, c := range a.CPUs {
		v, ok := byCPU[c.CPU]
		if !ok {
			continue
		}
		d := Ticks(sub(v, field(c)))
		perCPU = append(perCPU, d)
		total += d
	}
	return perCPU, total
}

func sub(b, a uint64) uint64 {
	if b < a {
		return 0 // a counter that went backwards (CPU hotplug) counts as zero
	}
	return b - a
}
