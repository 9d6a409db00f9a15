package sockq

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver/internal/linkstate"
	"github.com/rxpath/rxpath/internal/sys/netdev"
)

// Device is the part of a socket driver's device that both drivers have:
// what netdev learned about the interface, the link watcher its queues
// sleep on, and an idempotent Close. Safe for concurrent use once Open has
// returned.
type Device struct {
	// Info is the interface, as Open looked it up.
	Info netdev.Info
	// Watch follows the link; nil until Open starts it.
	Watch *linkstate.Watcher

	once sync.Once
	err  error
}

// Open is the open sequence of the driver called name: it runs validate
// (the options), looks ifname up, starts the link watch, then runs open,
// the driver's own part. If anything fails it runs close, which must cope
// with a half-built device, and returns the error behind the driver's
// name ("afxdp: ..."). It must run on a thread in the interface's network
// namespace.
func (d *Device) Open(name, ifname string, validate, open, close func() error) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
	}()
	if err := validate(); err != nil {
		return err
	}
	if d.Info, err = netdev.Lookup(ifname); err != nil {
		return err
	}
	if d.Watch, err = linkstate.Watch(d.Info.Index); err != nil {
		close()
		return fmt.Errorf("%s: %w", ifname, err)
	}
	if err := open(); err != nil {
		close()
		return err
	}
	return nil
}

// Close runs teardown, the driver's part, then closes the link watcher,
// and returns their errors joined. It runs once: later calls return the
// first call's result.
func (d *Device) Close(teardown func() []error) error {
	d.once.Do(func() {
		errs := teardown()
		if d.Watch != nil {
			errs = append(errs, d.Watch.Close())
		}
		d.err = errors.Join(errs...)
	})
	return d.err
}

// Privileged adds the capabilities to name (caps) to a permission error.
func Privileged(err error, caps string) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w (needs %s, e.g. run as root)", err, caps)
	}
	return err
}
