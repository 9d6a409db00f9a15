//go:build !linux

package poller

import (
	"fmt"
	"runtime"

	"github.com/rxpath/rxpath/driver"
)

func pin(cpu int) error {
	return fmt.Errorf("pin to CPU %d on %s: %w", cpu, runtime.GOOS, driver.ErrNotSupported)
}
