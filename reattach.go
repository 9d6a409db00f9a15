package rxpath

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/netdev"
	"github.com/rxpath/rxpath/poller"
)

// runs is a node's engine across re-attaches: when the interface is
// deleted and comes back, Reattach binds it with a new engine and the
// counters carry over.
type runs struct {
	mu    sync.Mutex
	cur   *engine  // nil while waiting for the interface
	base  Snapshot // totals of the engines closed so far
	last  Snapshot // the final snapshot of the last closed engine
	gone  time.Time
	count int // re-attaches
}

// engine returns the current engine, nil while re-attaching.
func (n *Node) engine() *engine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur
}

// Device returns the device the node is bound to, nil while Reattach
// waits for the interface.
func (n *Node) Device() *driver.Device {
	if e := n.engine(); e != nil {
		return e.dev
	}
	return nil
}

// Pollers returns the pollers, one per bound queue (none while Reattach
// waits).
func (n *Node) Pollers() []*poller.Poller {
	if e := n.engine(); e != nil {
		return e.pollers
	}
	return nil
}

// Err delivers the first failure of a poller of the current binding: an
// error wrapping driver.ErrLinkGone when the interface was deleted (see
// Reattach). It is nil while Reattach waits.
func (n *Node) Err() <-chan error {
	if e := n.engine(); e != nil {
		return e.errc
	}
	return nil
}

// Reattached returns how many times Reattach bound the interface again.
func (n *Node) Reattached() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.count
}

// addTotals adds the counters of s that carry over a re-attach to dst.
func addTotals(dst *Snapshot, s Snapshot) {
	dst.Frames += s.Frames
	dst.Bytes += s.Bytes
	dst.Dropped += s.Dropped
	dst.Link.Downs += s.Link.Downs
	dst.Link.DownTime += s.Link.DownTime
}

// merged adds the closed engines' totals to s, one engine's snapshot.
func (n *Node) merged(s Snapshot) Snapshot {
	s.Elapsed = time.Since(n.started).Seconds()
	addTotals(&s, n.base)
	return s
}

// waiting is the snapshot while no engine runs: the last one's, with the
// totals and the time the interface has been gone.
func (n *Node) waiting() Snapshot {
	s := n.last // its counters are in n.base already
	s.Elapsed = time.Since(n.started).Seconds()
	s.Frames, s.Bytes, s.Dropped, s.Link.Downs, s.Link.DownTime = 0, 0, 0, 0, 0
	addTotals(&s, n.base)
	s.Link.DownTime += time.Since(n.gone).Seconds()
	return s
}

// Snapshot returns the node's receive counters, totals carried over
// re-attaches.
func (n *Node) Snapshot() Snapshot {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return n.waiting()
	}
	return n.merged(n.cur.snapshot())
}

// Final returns the snapshot Close took, with every queue's buffer ledger
// (LedgerErr says what did not balance). Before Close it is the zero
// Snapshot.
func (n *Node) Final() Snapshot {
	if !n.closed.Load() {
		return Snapshot{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur == nil {
		return n.waiting()
	}
	return n.merged(n.cur.final)
}

// closeEngine closes the current engine, if one runs.
func (n *Node) closeEngine() error {
	if e := n.engine(); e != nil {
		return e.close()
	}
	return nil
}

// Reattach rebinds a node whose interface was deleted (Err delivered an
// error wrapping driver.ErrLinkGone), as a NIC driver reload needs: it
// closes the old binding, waits for an interface of the same name, and
// binds it with the same stack, sockets, connections and capture, its
// counters carried over. A new interface must have the stack's MAC. It
// returns nil once bound again, or ctx's error if ctx ends first. It must
// run on a thread in the interface's network namespace, like Open.
func (n *Node) Reattach(ctx context.Context) error {
	if n.closed.Load() {
		return fmt.Errorf("rxpath: reattach: %w", net.ErrClosed)
	}
	n.mu.Lock()
	old := n.cur
	n.mu.Unlock()
	if old != nil {
		cerr := old.close()
		fin := old.final
		n.mu.Lock()
		n.cur, n.last, n.gone = nil, fin, time.Now()
		addTotals(&n.base, fin)
		n.mu.Unlock()
		if fin.LedgerErr != "" {
			return fmt.Errorf("rxpath: reattach: closing the deleted interface's binding: %w", cerr)
		}
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if n.cfg.OpenDevice == nil {
			if _, err := netdev.Lookup(n.cfg.Interface); err != nil {
				continue
			}
		}
		e, err := startEngine(n.engineOptions())
		if err != nil {
			// Back, but not ready yet (down, or its old sockets not
			// yet released): retry, and say why once per reason.
			if err.Error() != lastErr {
				lastErr = err.Error()
				n.cfg.Logger.Warn("the interface is back but cannot be bound yet; retrying", "iface", n.cfg.Interface, "err", err)
			}
			continue
		}
		n.mu.Lock()
		n.base.Link.DownTime += time.Since(n.gone).Seconds()
		n.cur = e
		n.count++
		n.mu.Unlock()
		return nil
	}
}
