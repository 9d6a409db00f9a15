package memnic

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
)

// ErrRunning is returned by Start while a run is in progress.
var ErrRunning = errors.New("memnic: already running")

// Mode is what a memnic Device reports as its Mode.
const Mode = "memnic"

// NIC is a network card in memory: queues whose rings and UMEM are the
// AF_XDP driver's, fed by one producer thread per queue that plays the
// hardware. Safe for concurrent use; its queues follow driver.Queue's
// contract.
type NIC struct {
	opts   Options
	queues []*Queue
	closed atomic.Bool
	procs  int // added to GOMAXPROCS by New, taken back by Close

	mu  sync.Mutex // serializes Start and Stop
	run *run       // the current run, or the one the next Start begins
}

// New builds a NIC with o.Queues queues and starts their producer
// threads, idle until Start or the first Refill. A failed New releases
// what it built.
func New(o Options) (_ *NIC, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	n := &NIC{opts: o, run: newRun(o.Queues)}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if !o.KeepProcs {
		n.procs = o.Queues
		addProcs(n.procs)
	}
	for i := range o.Queues {
		q, err := newQueue(n, i)
		if err != nil {
			return nil, fmt.Errorf("memnic %s: %w", o.Name, err)
		}
		n.queues = append(n.queues, q)
	}
	return n, nil
}

// Open builds a NIC and returns its Device.
func Open(o Options) (*driver.Device, error) {
	n, err := New(o)
	if err != nil {
		return nil, err
	}
	return n.Device(), nil
}

// Opener returns a function for rxpath.Config.OpenDevice that builds a new
// NIC from o on every call, named after the interface unless o.Name is
// set. FromDevice returns the NIC behind the device it opened.
func Opener(o Options) func(iface string, _ auto.Options) (*driver.Device, error) {
	return func(iface string, _ auto.Options) (*driver.Device, error) {
		o := o
		if o.Name == "" {
			o.Name = iface
		}
		return Open(o)
	}
}

// OpenDevice returns n's Device, for rxpath.Config.OpenDevice when the
// caller built the NIC itself (to Start it, or read Sent). It fails with
// net.ErrClosed once n is closed, so a re-attach does not reuse it.
func (n *NIC) OpenDevice(string, auto.Options) (*driver.Device, error) {
	if n.closed.Load() {
		return nil, fmt.Errorf("memnic %s: %w", n.opts.Name, net.ErrClosed)
	}
	return n.Device(), nil
}

// FromDevice returns the NIC behind d, or nil if d is not a memnic device.
func FromDevice(d *driver.Device) *NIC {
	n, _ := d.Backend.(*NIC)
	return n
}

// Device returns a new driver.Device over n's queues: Kind XDP (the
// rings and the UMEM are AF_XDP's), Mode "memnic", n as its Backend.
func (n *NIC) Device() *driver.Device {
	qs := make([]driver.Queue, len(n.queues))
	for i, q := range n.queues {
		qs[i] = q
	}
	return &driver.Device{Kind: driver.XDP, Mode: Mode, Name: n.opts.Name,
		MAC: append(net.HardwareAddr(nil), n.opts.MAC...), Queues: qs, Backend: n}
}

// Options returns the options in force, defaults filled in.
func (n *NIC) Options() Options { return n.opts }

// Queues returns the NIC's queues.
func (n *NIC) Queues() []*Queue { return append([]*Queue(nil), n.queues...) }

// Start begins a run: every queue's producer generates frames until
// Count or Duration, Stop, or Close. Sequence numbers continue from the
// previous run. It returns ErrRunning while a run is in progress and an
// error wrapping net.ErrClosed after Close.
func (n *NIC) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.startLocked()
}

func (n *NIC) startLocked() error {
	if n.closed.Load() {
		return fmt.Errorf("memnic %s: %w", n.opts.Name, net.ErrClosed)
	}
	if n.run.started {
		if !n.run.ended() {
			return ErrRunning
		}
		n.run = newRun(len(n.queues))
	}
	r := n.run
	r.started = true
	for _, q := range n.queues {
		if !q.p.send(ctlMsg{op: opStart, r: r}) {
			r.leave() // the queue is closed
		}
	}
	return nil
}

// autoStart begins the first run unless one was started already.
func (n *NIC) autoStart() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.run.started {
		n.startLocked()
	}
}

// Stop ends the run in progress, if any, and returns once every producer
// has stopped generating: Sent and the drop counters are then final for
// the run (frames already posted may still be on the rx ring).
func (n *NIC) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.run.started || n.run.ended() {
		return nil
	}
	for _, q := range n.queues {
		q.p.send(ctlMsg{op: opStop})
	}
	<-n.run.done // each thread leaves the run right after taking the stop
	return nil
}

// Done returns a channel that is closed when the current run ends (every
// producer reached Count or Duration, or Stop or Close), or, before the
// first Start, when the run the next Start begins ends.
func (n *NIC) Done() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.run.done
}

// Sent returns the frames the NIC offered over all runs and queues:
// posted, or dropped at Rate.
func (n *NIC) Sent() uint64 {
	var s uint64
	for _, q := range n.queues {
		s += q.p.st.sent.Load()
	}
	return s
}

// Stats returns each queue's NIC-side counters.
func (n *NIC) Stats() []ProducerStats {
	s := make([]ProducerStats, len(n.queues))
	for i, q := range n.queues {
		s[i] = q.p.stats()
	}
	return s
}

// Threads returns the producer threads' ids (0 off Linux), to tell their
// CPU time apart from the poller's.
func (n *NIC) Threads() []int {
	t := make([]int, len(n.queues))
	for i, q := range n.queues {
		t[i] = int(q.p.tid.Load())
	}
	return t
}

// Link reports the link as up: a NIC in memory has no cable.
func (n *NIC) Link() driver.LinkStats { return driver.LinkStats{Up: true} }

// Close closes every queue, which ends its producer thread. It is
// idempotent.
func (n *NIC) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	for _, q := range n.queues {
		errs = append(errs, q.Close())
	}
	addProcs(-n.procs)
	return errors.Join(errs...)
}

// procsMu serializes the NICs' changes of GOMAXPROCS, each a read and a
// write.
var procsMu sync.Mutex

// addProcs changes GOMAXPROCS by k.
func addProcs(k int) {
	if k == 0 {
		return
	}
	procsMu.Lock()
	defer procsMu.Unlock()
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0)+k, 1))
}
