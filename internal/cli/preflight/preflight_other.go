//go:build !linux

package preflight

import "runtime"

// Run reports that the checks need Linux.
func Run(c Config) []Finding {
	return []Finding{{Check: "platform", Severity: Fail, Message: "rxpath binds interfaces on Linux only, not " + runtime.GOOS}}
}
