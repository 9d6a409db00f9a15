//go:build !linux

package stackcost

// setNice does nothing off Linux.
func setNice(int) error { return nil }
