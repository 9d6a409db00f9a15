package sysstat

import (
	"os"
	"strings"
)

// LoadAvg returns the three load averages of /proc/loadavg as one string,
// or "" where there is no such file.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
