//go:build !linux

package gen

import (
	"errors"
	"runtime"
)

// Generator is not available off Linux.
type Generator struct{}

// New reports that BPF_PROG_RUN live frames need Linux.
func New(o Options) (*Generator, error) {
	return nil, errors.New("generator: BPF_PROG_RUN live frames are not supported on " + runtime.GOOS)
}

// Run does nothing.
func (g *Generator) Run() (Result, error) { return Result{}, errors.New("not supported") }

// Close does nothing.
func (g *Generator) Close() error { return nil }
