package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/engine"
	"github.com/rxpath/rxpath/internal/netdev"
)

// engineRuns is the run's engine across re-attaches: with --reattach, when
// the interface is deleted and comes back, a new engine binds it and the
// counters carry over. Safe for concurrent use (metrics scrapes).
type engineRuns struct {
	o       engine.Options
	started time.Time

	mu    sync.Mutex
	cur   *engine.Engine  // nil while waiting for the interface
	base  engine.Snapshot // totals of the engines closed so far
	last  engine.Snapshot // the final snapshot of the last closed engine
	gone  time.Time       // when the last engine closed
	count int             // re-attaches
}

func startRuns(o engine.Options) (*engineRuns, error) {
	e, err := engine.Start(o)
	if err != nil {
		return nil, err
	}
	return &engineRuns{o: o, started: time.Now(), cur: e}, nil
}

func (r *engineRuns) device() *driver.Device {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.Device()
}

// err delivers the current engine's first poller failure.
func (r *engineRuns) err() <-chan error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return nil
	}
	return r.cur.Err()
}

func (r *engineRuns) reattached() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// addTotals adds the counters of s that carry over a re-attach to dst.
func addTotals(dst *engine.Snapshot, s engine.Snapshot) {
	dst.Frames += s.Frames
	dst.Bytes += s.Bytes
	dst.Dropped += s.Dropped
	dst.Link.Downs += s.Link.Downs
	dst.Link.DownTime += s.Link.DownTime
}

// merged adds the closed engines' totals to s, one engine's snapshot.
func (r *engineRuns) merged(s engine.Snapshot) engine.Snapshot {
	s.Elapsed = time.Since(r.started).Seconds()
	addTotals(&s, r.base)
	return s
}

// waiting is the snapshot while no engine runs: the last one's, with the
// totals and the time the interface has been gone.
func (r *engineRuns) waiting() engine.Snapshot {
	s := r.last // its counters are in r.base already
	s.Elapsed = time.Since(r.started).Seconds()
	s.Frames, s.Bytes, s.Dropped, s.Link.Downs, s.Link.DownTime = 0, 0, 0, 0, 0
	addTotals(&s, r.base)
	s.Link.DownTime += time.Since(r.gone).Seconds()
	return s
}

func (r *engineRuns) snapshot() engine.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return r.waiting()
	}
	return r.merged(r.cur.Snapshot())
}

// close closes the current engine, if one runs.
func (r *engineRuns) close() error {
	r.mu.Lock()
	e := r.cur
	r.mu.Unlock()
	if e == nil {
		return nil
	}
	return e.Close()
}

// final is the run's final snapshot, after close.
func (r *engineRuns) final() engine.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return r.waiting()
	}
	return r.merged(r.cur.Final())
}

// reattach closes the engine of the deleted interface, waits for an
// interface of the same name and starts a new engine on it. It returns
// stopped when a signal or the end of --duration came first; SIGHUP is
// ignored while waiting.
func (r *engineRuns) reattach(sigs <-chan os.Signal, stop <-chan time.Time, log interface{ Warn(string, ...any) }) (stopped bool, err error) {
	r.mu.Lock()
	old := r.cur
	r.mu.Unlock()
	cerr := old.Close()
	fin := old.Final()
	r.mu.Lock()
	r.cur, r.last, r.gone = nil, fin, time.Now()
	addTotals(&r.base, fin)
	r.mu.Unlock()
	if fin.LedgerErr != "" {
		return false, fmt.Errorf("closing the deleted interface's engine: %w", cerr)
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				continue
			}
			return true, nil
		case <-stop:
			return true, nil
		case <-t.C:
		}
		if _, err := netdev.Lookup(r.o.Iface); err != nil {
			continue
		}
		e, err := engine.Start(r.o)
		if err != nil {
			// Back, but not ready yet (down, or its old sockets not
			// yet released): retry, and say why once per reason.
			if err.Error() != lastErr {
				lastErr = err.Error()
				log.Warn("the interface is back but cannot be bound yet; retrying", "err", err)
			}
			continue
		}
		r.mu.Lock()
		r.base.Link.DownTime += time.Since(r.gone).Seconds()
		r.cur = e
		r.count++
		r.mu.Unlock()
		return false, nil
	}
}
