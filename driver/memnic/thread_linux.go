package memnic

import "golang.org/x/sys/unix"

// threadID is the calling OS thread's id.
func threadID() int { return unix.Gettid() }
