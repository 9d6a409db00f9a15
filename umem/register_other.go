//go:build !linux

package umem

import (
	"errors"
	"runtime"
)

// ErrNotSupported is returned by Register off Linux.
var ErrNotSupported = errors.New("AF_XDP umem registration is not supported on " + runtime.GOOS)

// Register reports ErrNotSupported: AF_XDP exists only on Linux.
func (u *UMEM) Register(fd int) error { return ErrNotSupported }
