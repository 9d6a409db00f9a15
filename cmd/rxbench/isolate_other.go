//go:build !linux

package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
)

const isolatedEnv = "RXBENCH_ISOLATED"

func reexecIsolated(_ []string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "rxbench: --isolate is not supported on %s\n", runtime.GOOS)
	return exitFailed
}

func reniceAutogroup(int) error { return errors.New("not supported on " + runtime.GOOS) }
