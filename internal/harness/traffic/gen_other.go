//go:build !linux

package traffic

import (
	"errors"
	"runtime"
	"time"
)

var errNotSupported = errors.New("generator: not supported on " + runtime.GOOS)

// Generator is not available off Linux.
type Generator struct{}

// New reports that BPF_PROG_RUN live frames need Linux.
func New(o Options) (*Generator, error) {
	return nil, errors.New("generator: BPF_PROG_RUN live frames are not supported on " + runtime.GOOS)
}

// Run does nothing.
func (g *Generator) Run() (Result, error) { return Result{}, errNotSupported }

// Send does nothing.
func (g *Generator) Send(uint64, time.Duration) (Result, error) { return Result{}, errNotSupported }

// Kind returns "xdp-live-frames".
func (g *Generator) Kind() string { return "xdp-live-frames" }

// Close does nothing.
func (g *Generator) Close() error { return nil }

// PacketGenerator is not available off Linux.
type PacketGenerator struct{}

// NewPacket reports that AF_PACKET needs Linux.
func NewPacket(o Options) (*PacketGenerator, error) {
	return nil, errors.New("generator: AF_PACKET is not supported on " + runtime.GOOS)
}

// Send does nothing.
func (g *PacketGenerator) Send(uint64, time.Duration) (Result, error) {
	return Result{}, errNotSupported
}

// Kind returns "af-packet".
func (g *PacketGenerator) Kind() string { return "af-packet" }

// Close does nothing.
func (g *PacketGenerator) Close() error { return nil }

// XSKGenerator is not available off Linux.
type XSKGenerator struct{}

// NewXSK reports that AF_XDP needs Linux.
func NewXSK(o Options) (*XSKGenerator, error) {
	return nil, errors.New("generator: AF_XDP is not supported on " + runtime.GOOS)
}

// Send does nothing.
func (g *XSKGenerator) Send(uint64, time.Duration) (Result, error) { return Result{}, errNotSupported }

// Kind returns "af-xdp".
func (g *XSKGenerator) Kind() string { return MethodXSK }

// Close does nothing.
func (g *XSKGenerator) Close() error { return nil }
