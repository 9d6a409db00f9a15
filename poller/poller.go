package poller

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/affinity"
)

// Options configures a Poller. The zero value means DefaultOptions.
type Options struct {
	// Pin pins the poller's thread to CPU.
	Pin bool
	CPU int
	// Weight is the most frames per batch (default 64, NAPI's weight).
	Weight int
	// Budget is the most frames per round (default 300, netdev_budget).
	Budget int
	// TimeLimit ends a round early (default 2ms, netdev_budget_usecs).
	TimeLimit time.Duration
	// IdleSpin is how long the loop spins without work before it
	// sleeps (default 50µs). A negative value never sleeps.
	IdleSpin time.Duration
	// PollTimeout bounds one sleep (default 100ms).
	PollTimeout time.Duration
	// Nice is the nice value of the loop's thread while it runs (0
	// leaves it alone); negative values need CAP_SYS_NICE.
	Nice int
}

// DefaultOptions returns the options the zero value stands for.
func DefaultOptions() Options {
	return Options{Weight: 64, Budget: 300, TimeLimit: 2 * time.Millisecond, IdleSpin: 50 * time.Microsecond, PollTimeout: 100 * time.Millisecond}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Weight <= 0 {
		o.Weight = d.Weight
	}
	if o.Budget <= 0 {
		o.Budget = d.Budget
	}
	if o.TimeLimit <= 0 {
		o.TimeLimit = d.TimeLimit
	}
	if o.IdleSpin == 0 {
		o.IdleSpin = d.IdleSpin
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = d.PollTimeout
	}
	return o
}

// Handler receives a batch of frames on the poller's goroutine. The views
// are valid until it returns, except for frames it keeps with Batch.Hold.
type Handler func(b *Batch)

// Batch is one batch of received frames.
type Batch struct {
	// Frames are the received frames. Their Data alias driver memory.
	Frames []driver.Frame
	// Queue is the index of the queue they came from.
	Queue int

	p    *Poller
	held []bool
}

// Hold keeps frame i past the handler's return. The frame's Data stays
// valid until the returned Held is released.
func (b *Batch) Hold(i int) Held {
	if !b.held[i] {
		b.held[i] = true
		b.p.st.held.Add(1)
	}
	return Held{p: b.p, f: b.Frames[i]}
}

// Held is a frame kept past its batch. Release it exactly once.
type Held struct {
	p *Poller
	f driver.Frame
}

// Data returns the frame's bytes.
func (h Held) Data() []byte { return h.f.Data }

// Release gives the frame back. Safe for concurrent use; the poller
// returns it to the driver on its next pass (or at once if it has
// stopped).
func (h Held) Release() {
	p := h.p
	p.retMu.Lock()
	defer p.retMu.Unlock()
	if p.draining {
		p.returns = append(p.returns, h.f)
		if len(p.returns) == 1 {
			// The loop may be asleep in Wait with an empty fill ring
			// (the application held every frame): wake it to post
			// this one, or the kernel drops until PollTimeout.
			p.q.Wake()
		}
		return
	}
	p.q.Release([]driver.Frame{h.f})
}

// Stats are a poller's counters, like a row of /proc/net/softnet_stat.
type Stats struct {
	Queue       int    `json:"queue"`
	Processed   uint64 `json:"processed"`    // frames handed to the handler
	Held        uint64 `json:"held"`         // frames the handler kept with Hold
	Rounds      uint64 `json:"rounds"`       // rounds that found work
	TimeSqueeze uint64 `json:"time_squeeze"` // rounds ended by budget or time limit with work left
	BusyPasses  uint64 `json:"busy_passes"`  // passes that found frames
	IdlePasses  uint64 `json:"idle_passes"`  // passes that found none
	Polls       uint64 `json:"polls"`        // sleeps in the driver's Wait
	Wakeups     uint64 `json:"wakeups"`      // sleeps that ended with frames to receive

	Driver driver.QueueStats `json:"driver"`
}

// Dropped sums the drops the driver and kernel counted for this queue.
// rx_fill_ring_empty_descs is not added: in copy mode the kernel counts
// every frame it drops for want of a fill entry in rx_dropped as well
// (engine drill TestDrillFillRingStarved), and in zero-copy mode it counts
// the driver's failed refills, not frames.
func (s Stats) Dropped() uint64 {
	k := s.Driver.Kernel
	return s.Driver.RxInvalid + k.RxDropped + k.RxInvalidDescs + k.RxRingFull
}

// Poller is one queue's poll loop.
type Poller struct {
	q    driver.Queue
	h    Handler
	opts Options

	batch   []driver.Frame
	release []driver.Frame
	b       Batch

	retMu    sync.Mutex
	returns  []driver.Frame
	spare    []driver.Frame
	draining bool // returns go through the loop (the loop is running)

	stop    atomic.Bool
	running atomic.Bool
	done    chan struct{}
	err     error
	// started is closed once the loop's thread is locked, pinned and
	// niced (or the loop failed to get there); tid is that thread.
	started chan struct{}
	tid     atomic.Int64

	st struct {
		processed, held, rounds, squeeze, busy, idle, polls, wakeups atomic.Uint64
	}
}

// ErrRunning is returned by Start or Run on a poller that is running.
var ErrRunning = errors.New("poller already running")

// New returns a poller for q that hands batches to h.
func New(q driver.Queue, h Handler, opts Options) *Poller {
	opts = opts.withDefaults()
	p := &Poller{
		q:       q,
		h:       h,
		opts:    opts,
		batch:   make([]driver.Frame, opts.Weight),
		release: make([]driver.Frame, 0, opts.Weight),
	}
	p.b = Batch{Queue: q.ID(), p: p, held: make([]bool, opts.Weight)}
	p.started = make(chan struct{})
	return p
}

// ThreadID waits until the loop runs on its thread and returns that
// thread's id (to read its CPU time), or 0 if the loop could not start
// or the poller was never started. Safe for concurrent use.
func (p *Poller) ThreadID() int {
	select {
	case <-p.started:
		return int(p.tid.Load())
	default:
	}
	if !p.running.Load() {
		return 0
	}
	<-p.started
	return int(p.tid.Load())
}

// Start runs the loop on a new goroutine.
func (p *Poller) Start() error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	p.done = make(chan struct{})
	p.stop.Store(false)
	go func() {
		defer close(p.done)
		p.err = p.loop()
	}()
	return nil
}

// Run runs the loop on the calling goroutine until Stop is called or the
// queue fails or closes.
func (p *Poller) Run() error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	p.done = make(chan struct{})
	defer close(p.done)
	return p.loop()
}

// Stop ends the loop, waits for it to exit and returns its error (nil for
// a clean stop or a closed queue). Stopping a poller that is not running
// returns nil.
func (p *Poller) Stop() error {
	if !p.running.Load() {
		return nil
	}
	p.stop.Store(true)
	p.q.Wake()
	<-p.done
	return p.err
}

// Done is closed when the loop has exited; Err then returns its error.
func (p *Poller) Done() <-chan struct{} { return p.done }

// Err returns the loop's error once Done is closed.
func (p *Poller) Err() error { return p.err }

func (p *Poller) loop() (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer p.running.Store(false)
	startOnce := sync.OnceFunc(func() { close(p.started) })
	defer startOnce()
	if p.opts.Pin {
		undo, err := affinity.PinUndo(p.opts.CPU)
		if err != nil {
			return fmt.Errorf("poller queue %d: %w", p.q.ID(), err)
		}
		defer undo() // before the thread is unlocked
	}
	if p.opts.Nice != 0 {
		undo, err := setNice(p.opts.Nice)
		if err != nil {
			return fmt.Errorf("poller queue %d: %w", p.q.ID(), err)
		}
		defer undo()
	}
	p.tid.Store(int64(threadID()))
	startOnce()
	p.retMu.Lock()
	p.draining = true
	p.retMu.Unlock()
	defer func() {
		p.retMu.Lock()
		p.draining = false
		p.retMu.Unlock()
		p.drainReturns()
	}()

	lastWork := time.Now()
	var lastCheck time.Duration // idle time at the last check of a spinning loop
	woke := false
	for !p.stop.Load() {
		if p.Poll() > 0 {
			if woke {
				p.st.wakeups.Add(1)
			}
			woke = false
			lastWork, lastCheck = time.Now(), 0
			continue
		}
		woke = false
		idle := time.Since(lastWork)
		if p.opts.IdleSpin < 0 {
			// A spinning loop never sleeps in Wait, which is where a
			// queue notices its device going away: look once per
			// PollTimeout of idleness, without sleeping.
			if idle-lastCheck >= p.opts.PollTimeout {
				lastCheck = idle
				if err := p.q.Wait(0); err != nil {
					if errors.Is(err, net.ErrClosed) {
						return nil
					}
					return fmt.Errorf("poller queue %d: %w", p.q.ID(), err)
				}
			}
			continue
		}
		if idle < p.opts.IdleSpin {
			continue
		}
		p.st.polls.Add(1)
		if err := p.q.Wait(p.opts.PollTimeout); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("poller queue %d: %w", p.q.ID(), err)
		}
		woke = true
	}
	return nil
}

// Poll runs one NAPI round: refill, then batches of at most Weight frames
// until the rx ring is empty, Budget frames were processed, or TimeLimit
// passed. It returns the number of frames processed. The loop calls it;
// tests and callers with a loop of their own may call it directly, on one
// goroutine, while the poller is not running.
func (p *Poller) Poll() int {
	p.drainReturns()
	p.q.Refill()
	work := 0
	var start time.Time
	for work < p.opts.Budget {
		n := p.q.Receive(p.batch[:min(p.opts.Weight, p.opts.Budget-work)])
		if n == 0 {
			break
		}
		if work == 0 {
			start = time.Now()
		}
		work += n
		p.deliver(n)
		p.q.Refill()
		if time.Since(start) > p.opts.TimeLimit {
			p.st.squeeze.Add(1)
			goto out
		}
	}
	if work >= p.opts.Budget {
		p.st.squeeze.Add(1)
	}
out:
	if work > 0 {
		p.st.busy.Add(1)
		p.st.rounds.Add(1)
		p.st.processed.Add(uint64(work))
	} else {
		p.st.idle.Add(1)
	}
	return work
}

func (p *Poller) deliver(n int) {
	b := &p.b
	b.Frames = p.batch[:n]
	held := b.held[:n]
	clear(held)
	p.h(b)
	rel := p.release[:0]
	for i := range b.Frames {
		if !held[i] {
			rel = append(rel, b.Frames[i])
		}
	}
	p.q.Release(rel)
	clear(p.batch[:n]) // drop the views
	b.Frames = nil
}

func (p *Poller) drainReturns() {
	p.retMu.Lock()
	if len(p.returns) == 0 {
		p.retMu.Unlock()
		return
	}
	p.returns, p.spare = p.spare[:0], p.returns
	p.retMu.Unlock()
	p.q.Release(p.spare)
	clear(p.spare)
}

// Stats returns the poller's counters with the driver's. Safe for
// concurrent use.
func (p *Poller) Stats() Stats {
	return Stats{
		Queue:       p.q.ID(),
		Processed:   p.st.processed.Load(),
		Held:        p.st.held.Load(),
		Rounds:      p.st.rounds.Load(),
		TimeSqueeze: p.st.squeeze.Load(),
		BusyPasses:  p.st.busy.Load(),
		IdlePasses:  p.st.idle.Load(),
		Polls:       p.st.polls.Load(),
		Wakeups:     p.st.wakeups.Load(),
		Driver:      p.q.Stats(),
	}
}
