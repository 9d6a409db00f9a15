//go:build !linux

package sysstat

import (
	"errors"
	"runtime"
	"time"
)

var errNotSupported = errors.New("sysstat: not supported on " + runtime.GOOS)

// ReadStat reports that /proc/stat needs Linux.
func ReadStat() (Stat, error) { return Stat{}, errNotSupported }

// ReadSNMP reports that /proc/net/snmp needs Linux.
func ReadSNMP() (SNMP, error) { return nil, errNotSupported }

// ReadNetstat reports that /proc/net/netstat needs Linux.
func ReadNetstat() (SNMP, error) { return nil, errNotSupported }

// Gettid returns 0 off Linux.
func Gettid() int { return 0 }

// ThreadCPU reports that thread CPU clocks need Linux.
func ThreadCPU(int) (time.Duration, error) { return 0, errNotSupported }

// ProcessCPU reports that it needs Linux.
func ProcessCPU() (time.Duration, error) { return 0, errNotSupported }

// ThreadSched reports that schedstat needs Linux.
func ThreadSched(int) (Sched, error) { return Sched{}, errNotSupported }
