//go:build !linux

package affinity

import (
	"fmt"
	"runtime"

	"github.com/rxpath/rxpath/driver"
)

// Pin is not supported off Linux.
func Pin(cpu int) error {
	return fmt.Errorf("pin to CPU %d on %s: %w", cpu, runtime.GOOS, driver.ErrNotSupported)
}
