//go:build !linux

package netdev

import (
	"errors"
	"runtime"
)

var errNotSupported = errors.New("netdev: not supported on " + runtime.GOOS)

// Lookup is not supported off Linux.
func Lookup(name string) (Info, error) { return Info{}, errNotSupported }

// List is not supported off Linux.
func List() ([]Info, error) { return nil, errNotSupported }

// Channels is not supported off Linux.
func Channels(name string) (ChannelCounts, error) { return ChannelCounts{}, errNotSupported }

// RxQueueCount returns info.NumRxQueues off Linux.
func RxQueueCount(info Info) (int, string) { return info.NumRxQueues, "rx queues" }

// RSSQueues is not supported off Linux.
func RSSQueues(name string) ([]int, error) { return nil, errNotSupported }

// Features is not supported off Linux.
func Features(name string) (map[string]bool, error) { return nil, errNotSupported }

// SetFeatures is not supported off Linux.
func SetFeatures(name string, want map[string]bool) error { return errNotSupported }

// EthtoolStats is not supported off Linux.
func EthtoolStats(name string) (map[string]uint64, error) { return nil, errNotSupported }
