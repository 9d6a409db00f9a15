// Package engine ties an AF_XDP device to one poller per queue. It is what
// `rxpath run`, the tests and the benchmark start; the stack plugs in as
// the handler.
package engine

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/umem"
)

// Options configures an Engine.
type Options struct {
	// Iface is the interface to bind.
	Iface string
	// Driver configures the AF_XDP device.
	Driver afxdp.Options
	// CPUs pins the poller of the i-th bound queue to CPUs[i%len(CPUs)];
	// empty leaves pollers unpinned.
	CPUs []int
	// Poller configures every poller; its Pin and CPU are set from CPUs.
	Poller poller.Options
	// Handler receives every batch; nil only counts frames.
	Handler poller.Handler
}

// Engine is a running device with its pollers. Safe for concurrent use.
type Engine struct {
	dev     *afxdp.Device
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
	dev, err := afxdp.Open(o.Iface, o.Driver)
	if err != nil {
		return nil, err
	}
	e := &Engine{dev: dev, errc: make(chan error, 1), started: time.Now()}
	h := o.Handler
	if h == nil {
		h = func(*poller.Batch) {}
	}
	for i, q := range dev.Queues() {
		po := o.Poller
		if len(o.CPUs) > 0 {
			po.Pin, po.CPU = true, o.CPUs[i%len(o.CPUs)]
		}
		p := poller.New(q, h, po)
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

// Device returns the AF_XDP device.
func (e *Engine) Device() *afxdp.Device { return e.dev }

// Pollers returns the pollers, one per bound queue.
func (e *Engine) Pollers() []*poller.Poller { return e.pollers }

// Err delivers the first poller failure.
func (e *Engine) Err() <-chan error { return e.errc }

// QueueSnapshot is one queue's counters and ledger.
type QueueSnapshot struct {
	poller.Stats
	Ledger umem.Stats `json:"ledger"`
}

// Snapshot is the engine's counters at one moment.
type Snapshot struct {
	Iface    string          `json:"iface"`
	Attach   string          `json:"attach"`
	ZeroCopy bool            `json:"zero_copy"`
	Fallback string          `json:"fallback,omitempty"`
	Elapsed  float64         `json:"elapsed_s"`
	Frames   uint64          `json:"rx_frames"`
	Bytes    uint64          `json:"rx_bytes"`
	Dropped  uint64          `json:"dropped"`
	Queues   []QueueSnapshot `json:"queues"`
	// LedgerErr is set after Close when a ledger did not balance.
	LedgerErr string `json:"ledger_error,omitempty"`
}

// Snapshot returns the current counters.
func (e *Engine) Snapshot() Snapshot {
	s := Snapshot{
		Iface:    e.dev.Info().Name,
		Attach:   e.dev.Attach().String(),
		ZeroCopy: e.dev.ZeroCopy(),
		Fallback: e.dev.Fallback(),
		Elapsed:  time.Since(e.started).Seconds(),
	}
	for i, p := range e.pollers {
		qs := QueueSnapshot{Stats: p.Stats(), Ledger: e.dev.Queues()[i].UMEM().Stats()}
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
		e.final = e.Snapshot()
		errs = append(errs, e.dev.Close())
		var lerrs []error
		for i, q := range e.dev.Queues() {
			if err := q.UMEM().Check(); err != nil {
				lerrs = append(lerrs, fmt.Errorf("queue %d: %w", q.ID(), err))
			}
			if i < len(e.final.Queues) {
				e.final.Queues[i].Ledger = q.UMEM().Stats()
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
