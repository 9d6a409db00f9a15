//go:build !linux

package memnic

// threadID is 0 off Linux, where thread ids are not exposed.
func threadID() int { return 0 }
