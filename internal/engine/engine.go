package engine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/poller"
)

// Options configures an Engine.
type Options struct {
	// Iface is the interface to bind.
	Iface string
	// Driver selects and configures the driver.
	Driver auto.Options
	// CPUs pins the poller of the i-th bound queue to CPUs[i%len(CPUs)];
	// empty leaves pollers unpinned.
	CPUs []int
	// Poller configures every poller; its Pin and CPU are set from CPUs.
	Poller poller.Options
	// Handler receives every batch; nil only counts frames.
	Handler poller.Handler
	// HandlerFor, if set, makes each queue's handler instead (handlers
	// with per-poller state, like the stack's).
	HandlerFor func(queue int) poller.Handler
	// OnOpen, if set, runs after the device is open and before the
	// pollers start (the stack attaches to the queues here).
	OnOpen func(*driver.Device) error
	// WrapQueue, if set, wraps each queue before its poller starts (fault
	// injection). A wrapper with a Flush method has it called after the
	// pollers stop, to give back frames it holds.
	WrapQueue func(driver.Queue) driver.Queue
}

// Engine is a running device with its pollers. Safe for concurrent use.
type Engine struct {
	dev     *driver.Device
	pollers []*poller.Poller
	started time.Time

	errOnce sync.Once
	errc    chan error

	closeOnce sync.Once
	closeErr  error
	final     Snapshot
}

// Start opens the device and starts one poller per queue. It must run on a
// thread in the interface's network namespace.
func Start(o Options) (*Engine, error) {
	dev, err := auto.Open(o.Iface, o.Driver)
	if err != nil {
		return nil, err
	}
	if o.WrapQueue != nil {
		for i, q := range dev.Queues {
			dev.Queues[i] = o.WrapQueue(q)
		}
	}
	if o.OnOpen != nil {
		if err := o.OnOpen(dev); err != nil {
			dev.Close()
			return nil, err
		}
	}
	e := &Engine{dev: dev, errc: make(chan error, 1), started: time.Now()}
	h := o.Handler
	if h == nil {
		h = func(*poller.Batch) {}
	}
	for i, q := range dev.Queues {
		po := o.Poller
		if len(o.CPUs) > 0 {
			po.Pin, po.CPU = true, o.CPUs[i%len(o.CPUs)]
		}
		qh := h
		if o.HandlerFor != nil {
			qh = o.HandlerFor(q.ID())
		}
		p := poller.New(q, qh, po)
		if err := p.Start(); err != nil {
			e.Close()
			return nil, fmt.Errorf("start poller for queue %d: %w", q.ID(), err)
		}
		e.pollers = append(e.pollers, p)
		go func() {
			<-p.Done()
			if err := p.Err(); err != nil {
				e.errOnce.Do(func() { e.errc <- err })
			}
		}()
	}
	return e, nil
}

// Device returns the opened device.
func (e *Engine) Device() *driver.Device { return e.dev }

// Pollers returns the pollers, one per bound queue.
func (e *Engine) Pollers() []*poller.Poller { return e.pollers }

// Err delivers the first poller failure.
func (e *Engine) Err() <-chan error { return e.errc }

// Snapshot is the engine's counters at one moment.
type Snapshot struct {
	Iface   string  `json:"iface"`
	Driver  string  `json:"driver"`
	Mode    string  `json:"mode"`
	Reason  string  `json:"fallback_reason,omitempty"`
	Elapsed float64 `json:"elapsed_s"`
	Frames  uint64  `json:"rx_frames"`
	Bytes   uint64  `json:"rx_bytes"`
	Dropped uint64  `json:"dropped"`
	// Link is the link's state and its down time: a gap in receive
	// that no queue counter sees.
	Link   driver.LinkStats `json:"link"`
	Queues []poller.Stats   `json:"queues"`
	// LedgerErr is set after Close when a ledger did not balance.
	LedgerErr string `json:"ledger_error,omitempty"`
}

// Snapshot returns the current counters.
func (e *Engine) Snapshot() Snapshot {
	s := Snapshot{
		Iface:   e.dev.Name,
		Driver:  e.dev.Kind.String(),
		Mode:    e.dev.Mode,
		Reason:  e.dev.Reason,
		Elapsed: time.Since(e.started).Seconds(),
		Link:    e.dev.Link(),
	}
	for _, p := range e.pollers {
		qs := p.Stats()
		s.Frames += qs.Processed
		s.Bytes += qs.Driver.RxBytes
		s.Dropped += qs.Dropped()
		s.Queues = append(s.Queues, qs)
	}
	return s
}

// Close stops the pollers, closes the device (detaching the XDP program
// first), checks every ledger and returns the final snapshot's error, if
// any. It is idempotent.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		var errs []error
		for _, p := range e.pollers {
			errs = append(errs, p.Stop())
		}
		for _, q := range e.dev.Queues {
			if f, ok := q.(interface{ Flush() }); ok {
				f.Flush()
			}
		}
		e.final = e.Snapshot()
		errs = append(errs, e.dev.Close())
		var lerrs []error
		for i, q := range e.dev.Queues {
			if err := q.Check(); err != nil {
				lerrs = append(lerrs, fmt.Errorf("queue %d: %w", q.ID(), err))
			}
			if i < len(e.final.Queues) {
				e.final.Queues[i].Driver = q.Stats()
			}
		}
		if err := errors.Join(lerrs...); err != nil {
			e.final.LedgerErr = err.Error()
			errs = append(errs, err)
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Final returns the snapshot taken by Close.
func (e *Engine) Final() Snapshot { return e.final }
