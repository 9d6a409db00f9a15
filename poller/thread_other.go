//go:build !linux

package poller

import (
	"errors"
	"fmt"
	"runtime"
)

func threadID() int { return 0 }

func setNice(nice int) (func(), error) {
	return nil, fmt.Errorf("nice %d on %s: %w", nice, runtime.GOOS, errors.ErrUnsupported)
}

func schedYield() {}
