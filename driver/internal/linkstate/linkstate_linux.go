package linkstate

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
)

// Watcher follows one interface. Safe for concurrent use.
type Watcher struct {
	index int
	now   func() time.Time

	mu        sync.Mutex
	nl        int // NETLINK_ROUTE, RTMGRP_LINK, nonblocking
	ctl       int // AF_INET datagram socket for SIOCGIFNAME/SIOCGIFFLAGS
	up        bool
	gone      bool
	downs     uint64
	downSince time.Time
	downTotal time.Duration
	buf       []byte
}

// Watch starts following the interface with the given index. It must run
// on a thread in the interface's network namespace.
func Watch(index int) (*Watcher, error) {
	w := &Watcher{index: index, now: time.Now, nl: -1, ctl: -1, buf: make([]byte, 1<<16)}
	var err error
	w.nl, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("linkstate: %w", os.NewSyscallError("socket(AF_NETLINK)", err))
	}
	if err := unix.Bind(w.nl, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
		w.Close()
		return nil, fmt.Errorf("linkstate: %w", os.NewSyscallError("bind(RTMGRP_LINK)", err))
	}
	w.ctl, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("linkstate: %w", os.NewSyscallError("socket(AF_INET)", err))
	}
	// Subscribe first, then read the state: a change in between shows up
	// as an event.
	up, gone, err := w.query()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("linkstate: %w", err)
	}
	if gone {
		w.Close()
		return nil, fmt.Errorf("linkstate: ifindex %d: %w", index, driver.ErrLinkGone)
	}
	w.up = up
	if !up {
		w.downSince = w.now()
	}
	return w, nil
}

// FD is the descriptor to poll for POLLIN: readable when a link event is
// pending. It is -1 after Close.
func (w *Watcher) FD() int {
	if w == nil {
		return -1
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nl
}

// Update reads the pending link events and applies them. It returns an
// error wrapping driver.ErrLinkGone once the interface is deleted. It
// never blocks.
func (w *Watcher) Update() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.nl < 0 {
		return nil
	}
	resync := false
	for !w.gone {
		n, _, err := unix.Recvfrom(w.nl, w.buf, unix.MSG_DONTWAIT)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ENOBUFS {
			// The socket overflowed and events were lost: read the
			// state directly once the queue is drained.
			resync = true
			continue
		}
		if err != nil || n == 0 {
			break // EAGAIN: drained
		}
		msgs, err := syscall.ParseNetlinkMessage(w.buf[:n])
		if err != nil {
			resync = true
			continue
		}
		for _, m := range msgs {
			w.apply(m)
		}
	}
	if resync && !w.gone {
		up, gone, err := w.query()
		if err == nil {
			w.gone = w.gone || gone
			w.set(up)
		}
	}
	if w.gone {
		return w.goneErr()
	}
	return nil
}

// Check asks the kernel directly whether the interface still exists, for
// a socket error (ENETDOWN) that may come before the link's event.
func (w *Watcher) Check() error {
	if w == nil {
		return nil
	}
	if err := w.Update(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctl < 0 {
		return nil
	}
	up, gone, err := w.query()
	if err != nil {
		return err
	}
	if gone {
		w.gone = true
		w.set(false)
		return w.goneErr()
	}
	w.set(up)
	return nil
}

// goneErr names the interface's fate and the errno a socket on it gets.
func (w *Watcher) goneErr() error {
	return fmt.Errorf("ifindex %d: %w (%w)", w.index, driver.ErrLinkGone, unix.ENODEV)
}

func (w *Watcher) apply(m syscall.NetlinkMessage) {
	if m.Header.Type != unix.RTM_NEWLINK && m.Header.Type != unix.RTM_DELLINK {
		return
	}
	if len(m.Data) < unix.SizeofIfInfomsg {
		return
	}
	family := m.Data[0]
	index := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
	flags := binary.NativeEndian.Uint32(m.Data[8:12])
	if index != w.index || family == unix.AF_BRIDGE {
		return // another link, or a bridge port notification about ours
	}
	if m.Header.Type == unix.RTM_DELLINK {
		w.gone = true
		w.set(false)
		return
	}
	w.set(flags&unix.IFF_UP != 0 && flags&unix.IFF_LOWER_UP != 0)
}

func (w *Watcher) set(up bool) {
	if up == w.up {
		return
	}
	t := w.now()
	if up {
		w.downTotal += t.Sub(w.downSince)
	} else {
		w.downs++
		w.downSince = t
	}
	w.up = up
}

// query reads the link's state with ioctls on the control socket.
func (w *Watcher) query() (up, gone bool, err error) {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return false, false, err
	}
	ifr.SetUint32(uint32(w.index))
	if err := unix.IoctlIfreq(w.ctl, unix.SIOCGIFNAME, ifr); err != nil {
		if err == unix.ENODEV {
			return false, true, nil
		}
		return false, false, os.NewSyscallError("ioctl(SIOCGIFNAME)", err)
	}
	if err := unix.IoctlIfreq(w.ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		if err == unix.ENODEV {
			return false, true, nil
		}
		return false, false, os.NewSyscallError("ioctl(SIOCGIFFLAGS)", err)
	}
	f := ifr.Uint16()
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0, false, nil
}

// Stats returns the link's state and counters, zero for a nil Watcher.
func (w *Watcher) Stats() driver.LinkStats {
	if w == nil {
		return driver.LinkStats{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.downTotal
	if !w.up {
		d += w.now().Sub(w.downSince)
	}
	return driver.LinkStats{Up: w.up, Downs: w.downs, DownTime: d.Seconds(), Deleted: w.gone}
}

// Close closes the watcher's sockets. It is idempotent.
func (w *Watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.nl >= 0 {
		unix.Close(w.nl)
		w.nl = -1
	}
	if w.ctl >= 0 {
		unix.Close(w.ctl)
		w.ctl = -1
	}
	return nil
}
