//go:build !linux

package lab

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
)

func errNotSupported(op string) error {
	return fmt.Errorf("%s: %w (GOOS=%s)", op, ErrNotSupported, runtime.GOOS)
}

// Up is not supported on this GOOS.
func Up(cfg Config) (*Lab, error) { return nil, errNotSupported("lab up") }

// Open is not supported on this GOOS.
func Open(cfg Config) (*Lab, error) { return nil, errNotSupported("lab open") }

// Down is not supported on this GOOS.
func Down(cfg Config) error { return errNotSupported("lab down") }

// Close is not supported on this GOOS.
func (l *Lab) Close() error { return errNotSupported("lab close") }

// InNS is not supported on this GOOS.
func InNS(ns string, fn func() error) error { return errNotSupported("lab: InNS") }

// Exec is not supported on this GOOS.
func Exec(ns, name string, args ...string) ([]byte, error) {
	return nil, errNotSupported("lab: exec")
}

// AddStaticNeighbor is not supported on this GOOS.
func (l *Lab) AddStaticNeighbor(ip netip.Addr, mac net.HardwareAddr) error {
	return errNotSupported("lab: add static neighbor")
}

// SetMTU is not supported on this GOOS.
func (l *Lab) SetMTU(mtu int) error { return errNotSupported("lab: set MTU") }

// Recreate is not supported outside Linux.
func (l *Lab) Recreate() error { return errNotSupported("lab: recreate") }
