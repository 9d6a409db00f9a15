package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns add` bind-mounts named namespaces.
const netnsDir = "/var/run/netns"

func nsPath(ns string) string { return filepath.Join(netnsDir, ns) }

// errGoexit is reported when fn ends its goroutine with runtime.Goexit (for
// example t.FailNow called inside InNS).
var errGoexit = errors.New("lab: function passed to InNS called runtime.Goexit")

type nsResult struct {
	err      error
	panicked bool
	panicVal any
}

// InNS runs fn on a locked OS thread switched into the network namespace
// /var/run/netns/<ns> and returns fn's error. fn runs on a fresh goroutine;
// InNS waits for it and re-panics in the caller if fn panics.
//
// Sockets and netlink handles created inside fn belong to that namespace for
// their lifetime and may be used from any goroutine afterwards. Goroutines
// started by fn do not run in the namespace.
//
// After fn returns, the thread is switched back to its original namespace and
// unlocked. If switching back fails, the thread is left locked, so the Go
// runtime terminates it when the goroutine exits rather than reuse a thread
// in the wrong namespace.
//
// InNS is safe for concurrent use.
func InNS(ns string, fn func() error) error {
	if err := checkNSName(ns); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	p := nsPath(ns)
	target, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lab: enter netns: %w", &os.PathError{Op: "open", Path: p, Err: err})
	}
	defer unix.Close(target)

	done := make(chan nsResult, 1)
	go runInNS(ns, target, fn, done)
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

func runInNS(ns string, target int, fn func() error, done chan<- nsResult) {
	runtime.LockOSThread()
	r := nsResult{err: errGoexit} // overwritten unless fn calls Goexit
	threadOK := true
	defer func() {
		if threadOK {
			runtime.UnlockOSThread()
		}
		// Otherwise the goroutine exits locked and the runtime kills
		// the thread.
		done <- r
	}()

	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		r.err = fmt.Errorf("lab: open current netns: %w", os.NewSyscallError("open", err))
		return
	}
	defer unix.Close(orig)

	threadOK = false // from here until restored, the thread is suspect
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		// A failed setns changes nothing, but restore anyway below.
		r.err = fmt.Errorf("lab: enter netns %q: %w", ns, os.NewSyscallError("setns", err))
		restoreNS(orig, &r, &threadOK)
		return
	}
	defer restoreNS(orig, &r, &threadOK)
	defer func() {
		if p := recover(); p != nil {
			r.panicked, r.panicVal = true, p
		}
	}()
	r.err = fn()
}

func restoreNS(orig int, r *nsResult, threadOK *bool) {
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		r.err = errors.Join(r.err, fmt.Errorf("lab: restore netns (thread discarded): %w",
			os.NewSyscallError("setns", err)))
		return
	}
	*threadOK = true
}
