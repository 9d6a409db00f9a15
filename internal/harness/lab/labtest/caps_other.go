//go:build !linux

package labtest

import (
	"runtime"
	"testing"
)

// RequirePrivileges skips the test: the lab needs Linux.
func RequirePrivileges(t testing.TB) {
	t.Helper()
	t.Skipf("lab: not supported on GOOS=%s", runtime.GOOS)
}
