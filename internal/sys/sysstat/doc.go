// Package sysstat reads the system counters rxbench turns into figures:
// per-CPU softirq time from /proc/stat, `ethtool -S` statistics, the
// kernel's SNMP MIBs (/proc/net/snmp) and per-thread CPU time. The parsers
// are pure functions of the text and build on every GOOS; the readers
// that touch the system are Linux-only (stubs elsewhere say so).
//
// All functions are safe for concurrent use.
package sysstat
