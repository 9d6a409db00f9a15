package rxpath

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/filter"
)

// engine is one binding of the interface: the opened device with one
// poller per queue. A Node runs one engine at a time; re-attaching after
// the interface was deleted starts a new one. Safe for concurrent use.
type engine struct {
	dev      *driver.Device
	pollers  []*poller.Poller
	xdpRules []filter.RuleStats
	started  time.Time

	errOnce sync.Once
	errc    chan error

	closeOnce sync.Once
	closeErr  error
	final     Snapshot
}

// engineOptions is what startEngine needs from the Node.
type engineOptions struct {
	open      func() (*driver.Device, error)
	cpus      []int
	poller    poller.Options
	wrapQueue func(driver.Queue) driver.Queue
	// onOpen runs after the device is open and before the pollers start
	// (the stack attaches to the queues here).
	onOpen func(*driver.Device) error
	// xdpRules name the filter rules the XDP triage stage runs.
	xdpRules []filter.RuleStats
	// handler makes queue's handler (per-poller state, like the stack's
	// scratch packet).
	handler func(queue int) poller.Handler
}

// startEngine opens the device and starts one poller per queue. It must
// run on a thread in the interface's network namespace.
func startEngine(o engineOptions) (*engine, error) {
	dev, err := o.open()
	if err != nil {
		return nil, err
	}
	if o.wrapQueue != nil {
		for i, q := range dev.Queues {
			dev.Queues[i] = o.wrapQueue(q)
		}
	}
	if o.onOpen != nil {
		if err := o.onOpen(dev); err != nil {
			dev.Close()
			return nil, err
		}
	}
	e := &engine{dev: dev, errc: make(chan error, 1), started: time.Now(), xdpRules: o.xdpRules}
	for i, q := range dev.Queues {
		po := o.poller
		if len(o.cpus) > 0 {
			po.Pin, po.CPU = true, o.cpus[i%len(o.cpus)]
		}
		p := poller.New(q, o.handler(q.ID()), po)
		if err := p.Start(); err != nil {
			e.close()
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

// Snapshot is a node's receive counters at one moment: the device, the
// link and every queue's poller and driver counters. Totals carry over a
// re-attach.
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
	// XDP are the XDP triage stage's counters, when it runs: frames
	// dropped before the rx ring, by reason, which no queue counter,
	// tap or stack counter sees.
	XDP *XDPStats `json:"xdp,omitempty"`
	// LedgerErr is set after Close when a ledger did not balance.
	LedgerErr string `json:"ledger_error,omitempty"`
}

func (e *engine) snapshot() Snapshot {
	s := Snapshot{
		Iface:   e.dev.Name,
		Driver:  e.dev.Kind.String(),
		Mode:    e.dev.Mode,
		Reason:  e.dev.Reason,
		Elapsed: time.Since(e.started).Seconds(),
		Link:    e.dev.Link(),
		XDP:     xdpSnapshot(e.dev, e.xdpRules),
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

// close stops the pollers, gives back frames a queue wrapper holds,
// closes the device (detaching the XDP program first), checks every
// ledger and keeps the final snapshot. It is idempotent.
func (e *engine) close() error {
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
		e.final = e.snapshot()
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
