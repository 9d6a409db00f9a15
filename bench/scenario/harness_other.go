//go:build !linux

package scenario

import (
	"errors"
	"runtime"
)

// errNeedsLinux is the reason live rows fail elsewhere.
var errNeedsLinux = errors.New("live scenarios need Linux (veth lab, XDP, AF_XDP); this is GOOS=" + runtime.GOOS)

func newLive(Config, *progress) (liveRunner, error) { return nil, errNeedsLinux }

func kernelRelease() string { return "" }

// TearDownNow does nothing: there is no lab off Linux.
func TearDownNow() error { return nil }
