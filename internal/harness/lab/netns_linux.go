package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

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
// started by fn do not run in the namespace. Files under /proc/thread-self/net
// and /proc/sys/net opened inside fn are the namespace's; /sys is not (see
// WithSysfs).
//
// After fn returns, the thread is switched back to its original namespace and
// unlocked. If switching back fails, the thread is left locked, so the Go
// runtime terminates it when the goroutine exits rather than reuse a thread
// in the wrong namespace.
//
// InNS is safe for concurrent use.
func InNS(ns string, fn func() error) error { return inNS(ns, fn, nil) }

// inNS is InNS. If hold is not nil and fn succeeds, the goroutine keeps its
// thread, back in its original namespace, locked until hold is closed.
func inNS(ns string, fn func() error, hold <-chan struct{}) error {
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
	go runInNS(ns, target, fn, hold, done)
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

func runInNS(ns string, target int, fn func() error, hold <-chan struct{}, done chan<- nsResult) {
	runtime.LockOSThread()
	r := nsResult{err: errGoexit} // overwritten unless fn calls Goexit
	threadOK := true
	defer func() {
		ok := r.err == nil && !r.panicked
		done <- r
		if !threadOK {
			// The goroutine exits locked and the runtime kills the
			// thread.
			return
		}
		if hold != nil && ok {
			<-hold
		}
		runtime.UnlockOSThread()
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

// netnsDirMu serializes preparing netnsDir, so that concurrent Ups in one
// process do not stack two bind mounts on it.
var netnsDirMu sync.Mutex

// prepareNetnsDir creates netnsDir and makes it a shared mount, as
// `ip netns add` does, so that namespace mounts made or removed later
// propagate into mount namespaces copied from this one (such as those of
// `ip netns exec`).
func prepareNetnsDir() error {
	netnsDirMu.Lock()
	defer netnsDirMu.Unlock()
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	madeMount := false
	for {
		err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if err != unix.EINVAL || madeMount {
			return fmt.Errorf("make %s a shared mount: %w", netnsDir, os.NewSyscallError("mount", err))
		}
		// EINVAL: not a mount point yet. Make it one.
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s on itself: %w", netnsDir, os.NewSyscallError("mount", err))
		}
		madeMount = true
	}
}

// createNS creates the named network namespace the way `ip netns add`
// does: a fresh namespace bind-mounted on /var/run/netns/<ns>, so `ip netns`
// and InNS find it. It fails if the file exists.
func createNS(ns string) error {
	if err := checkNSName(ns); err != nil {
		return err
	}
	if err := prepareNetnsDir(); err != nil {
		return fmt.Errorf("create netns %s: %w", ns, err)
	}
	p := nsPath(ns)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create netns %s: %w", ns, &os.PathError{Op: "open", Path: p, Err: err})
	}
	unix.Close(fd)

	errc := make(chan error, 1)
	go func() {
		// unshare moves this thread into the new namespace; it is
		// switched back before it is unlocked. (Leaving it locked for
		// the runtime to retire is not enough: if it is the main
		// thread, the runtime parks it instead, in the new namespace,
		// where it shows in /proc/self/net and keeps the namespace
		// alive.)
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current netns: %w", os.NewSyscallError("open", err))
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // a failed unshare changes nothing
			errc <- os.NewSyscallError("unshare CLONE_NEWNET", err)
			return
		}
		var merr error
		if err := unix.Mount("/proc/thread-self/ns/net", p, "none", unix.MS_BIND, ""); err != nil {
			merr = fmt.Errorf("bind-mount on %s: %w", p, os.NewSyscallError("mount", err))
		}
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The goroutine exits locked: the runtime does not
			// reuse the thread.
			errc <- errors.Join(merr, fmt.Errorf("restore netns (thread discarded): %w",
				os.NewSyscallError("setns", err)))
			return
		}
		runtime.UnlockOSThread()
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(p)
		return fmt.Errorf("create netns %s: %w", ns, err)
	}
	return nil
}

// deleteNS deletes the named network namespace the way `ip netns del`
// does: it detaches the bind mount and removes the file. The namespace
// itself, with its interfaces, goes when nothing else holds it (a process,
// an open file or socket). An absent namespace is not an error.
func deleteNS(ns string) error {
	if err := checkNSName(ns); err != nil {
		return err
	}
	p := nsPath(ns)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// EINVAL: not a mount point, as a failed createNS may leave it.
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("delete netns %s: unmount %s: %w", ns, p, os.NewSyscallError("umount2", err))
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", ns, err)
	}
	return nil
}

// WithSysfs mounts a fresh sysfs for network namespace ns on a temporary
// directory and calls fn with its path, from a locked OS thread inside ns;
// then it unmounts the sysfs and removes the directory. Under
// dir/class/net fn sees ns's interfaces, which the host's /sys does not
// show (sysfs shows the network namespace of the thread that mounted it).
// This is what `ip netns exec` gets by remounting /sys in a private mount
// namespace; WithSysfs needs no mount namespace, so the mount is briefly
// visible to the whole host.
//
// WithSysfs is safe for concurrent use.
func WithSysfs(ns string, fn func(dir string) error) error {
	return InNS(ns, func() (err error) {
		dir, err := os.MkdirTemp("", "rxpath-sysfs-")
		if err != nil {
			return fmt.Errorf("lab: sysfs of netns %s: %w", ns, err)
		}
		defer func() {
			if rerr := os.Remove(dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("lab: sysfs of netns %s: %w", ns, rerr))
			}
		}()
		if err := unix.Mount("sysfs", dir, "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("lab: sysfs of netns %s: mount on %s: %w", ns, dir, os.NewSyscallError("mount", err))
		}
		defer func() {
			if uerr := unix.Unmount(dir, unix.MNT_DETACH); uerr != nil {
				err = errors.Join(err, fmt.Errorf("lab: sysfs of netns %s: unmount %s: %w", ns, dir, os.NewSyscallError("umount2", uerr)))
			}
		}()
		return fn(dir)
	})
}

// Cmd is an external command that runs in a lab's network namespace. Its
// Start, Run, Output, CombinedOutput and Wait methods replace those of the
// embedded exec.Cmd; call them, not the embedded ones. Set the exec.Cmd
// fields (Stdout, Env, SysProcAttr, ...) before Start as usual.
//
// Start forks the child from an OS thread switched into the namespace (the
// child inherits the forking thread's namespace), so no `ip netns exec` is
// needed. The child's /proc/net and /proc/sys/net are the namespace's, but
// its /sys is the host's: unlike `ip netns exec`, Cmd does not remount /sys
// (see WithSysfs).
//
// The forking thread, switched back to its own namespace, stays locked and
// alive until Wait returns, so a SysProcAttr.Pdeathsig fires when the
// process dies, not when the runtime retires a thread. Like exec.Cmd, a
// started Cmd must be waited for.
//
// A Cmd is not safe for concurrent use.
type Cmd struct {
	*exec.Cmd
	ns      string
	release chan struct{} // closed by Wait: frees the forking thread
}

// Command returns a Cmd that runs name with args in network namespace ns,
// as exec.CommandContext does: ctx's end kills the process. A name without
// a path separator is looked up in PATH now, in the caller's mount
// namespace.
func Command(ctx context.Context, ns, name string, args ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, args...), ns: ns}
}

// Start starts the command in its namespace; see Cmd.
func (c *Cmd) Start() error {
	if c.release != nil {
		return errors.New("lab: Cmd already started")
	}
	release := make(chan struct{})
	if err := inNS(c.ns, c.Cmd.Start, release); err != nil {
		return err
	}
	c.release = release
	return nil
}

// Wait waits for the command to exit, like exec.Cmd.Wait, and then frees
// the thread Start forked it from.
func (c *Cmd) Wait() error {
	err := c.Cmd.Wait()
	if c.release != nil {
		select {
		case <-c.release:
		default:
			close(c.release)
		}
	}
	return err
}

// Run starts the command and waits for it, like exec.Cmd.Run.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output, like
// exec.Cmd.Output: unless Stderr is set, an *exec.ExitError carries the
// standard error.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("lab: Stdout already set")
	}
	var stdout bytes.Buffer
	c.Stdout = &stdout
	var stderr *bytes.Buffer
	if c.Stderr == nil {
		stderr = new(bytes.Buffer)
		c.Stderr = stderr
	}
	err := c.Run()
	var ee *exec.ExitError
	if stderr != nil && errors.As(err, &ee) {
		ee.Stderr = stderr.Bytes()
	}
	return stdout.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and
// standard error together, like exec.Cmd.CombinedOutput.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil || c.Stderr != nil {
		return nil, errors.New("lab: Stdout or Stderr already set")
	}
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.Bytes(), err
}

// Exec runs name with args in network namespace ns (see Cmd) and returns its
// combined output. A non-nil error names the namespace and the command line
// and includes the output. A name without a path separator is looked up in
// PATH.
func Exec(ns, name string, args ...string) ([]byte, error) {
	if err := checkNSName(ns); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	out, err := Command(context.Background(), ns, name, args...).CombinedOutput()
	if err != nil {
		line := strings.Join(append([]string{name}, args...), " ")
		if o := bytes.TrimSpace(out); len(o) > 0 {
			return out, fmt.Errorf("netns %s: %s: %w: %s", ns, line, err, o)
		}
		return out, fmt.Errorf("netns %s: %s: %w", ns, line, err)
	}
	return out, nil
}
