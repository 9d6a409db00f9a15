package poller

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/procs"
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
	// IdleSpin is how long the loop keeps polling without work before
	// it sleeps. Zero (the default) adapts it to the traffic: at least
	// MinIdleSpin, at most MaxIdleSpin, as long as the current stretch of
	// traffic has lasted (see the package documentation). A positive
	// value is a fixed spin, the cheaper trade for a mostly idle queue: a
	// sleep then costs the sender a wakeup, and a slow wakeup costs
	// frames. A negative value never sleeps.
	IdleSpin time.Duration
	// PollTimeout bounds one sleep (default 100ms).
	PollTimeout time.Duration
	// Nice is the nice value of the loop's thread while it runs (0
	// leaves it alone); negative values need CAP_SYS_NICE.
	Nice int
}

// The bounds of the adaptive idle spin (Options.IdleSpin zero).
const (
	// MinIdleSpin is how long the loop polls an idle queue after sparse
	// traffic (a frame now and then) before it sleeps.
	MinIdleSpin = 50 * time.Microsecond
	// MaxIdleSpin is the longest the loop polls without work once
	// traffic has flowed for that long: longer than the gaps of a
	// sender running flat out, so that the loop does not sleep (and
	// the sender pay a wakeup) between its bursts.
	MaxIdleSpin = 2 * time.Millisecond
)

// DefaultOptions returns the options the zero value stands for.
func DefaultOptions() Options {
	return Options{Weight: 64, Budget: 300, TimeLimit: 2 * time.Millisecond, PollTimeout: 100 * time.Millisecond}
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
// valid until the returned Held is released. Call it from the handler,
// on the poller's goroutine (it counts in the loop's plain counters).
func (b *Batch) Hold(i int) Held {
	if !b.held[i] {
		b.held[i] = true
		b.p.lc[cHeld]++
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
		p.nret.Store(int32(len(p.returns)))
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
	Yields      uint64 `json:"yields"`       // idle passes that offered the CPU to other threads (sched_yield)
	BusyNS      uint64 `json:"busy_ns"`      // time in rounds that found work, from their first frames to their refill's end

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
	cl   Claimer   // q's, or nil
	tx   TxFlusher // q's, or nil
	h    Handler
	opts Options

	batch   []driver.Frame
	release []driver.Frame
	b       Batch

	retMu    sync.Mutex
	returns  []driver.Frame
	spare    []driver.Frame
	draining bool         // returns go through the loop (the loop is running)
	nret     atomic.Int32 // len(returns), for a look without the lock

	// The loop's state, owned by its goroutine. Times are on a monotonic
	// clock, as durations since epoch (mono).
	epoch    time.Time
	now      time.Duration // the last clock reading
	lastWork time.Duration // when the last batch was handled
	lastPub  time.Duration // when lc was last published to st
	closing  bool          // cl refused a claim: the queue is closing
	lc, pub  counters      // counted here; what publish last stored in st

	stop    atomic.Bool
	running atomic.Bool
	done    chan struct{}
	err     error
	// started is closed once the loop's thread is locked, pinned and
	// niced (or the loop failed to get there); tid is that thread.
	started chan struct{}
	tid     atomic.Int64

	// st is what Stats reads, on a cache line of its own, away from the
	// loop's state that every pass writes.
	_  cpu.CacheLinePad
	st [numCounters]atomic.Uint64
	_  cpu.CacheLinePad
}

// counters are the poller's counts, kept in plain fields by the loop's
// goroutine and published to the atomics that Stats reads (publish).
type counters [numCounters]uint64

// The counters, by index. A round that found work is a busy pass, so
// Stats reports cRounds as both.
const (
	cProcessed = iota
	cHeld
	cRounds
	cSqueeze
	cIdle
	cPolls
	cWakeups
	cYields
	cBusyNS
	numCounters
)

// Claimer is an optional interface of a driver.Queue whose receive-side
// calls (Refill, Receive, Release) each guard themselves against a
// concurrent Close (afxdp's life lock). Claim lets the poller's goroutine
// skip that guard on every call until Unclaim: the queue's Close waits for
// the claim to end, and a claimed call that finds the queue closing drops
// the claim itself (publishing first) and does nothing. Claim returns
// false once Close has begun.
//
// While claimed, a queue may keep its counts (its ledger's, its
// counters) in plain fields: Publish, called while claimed, makes them
// visible to Stats and exact for Check. The poller publishes with its own
// counters: about once a millisecond, before it sleeps, when it leaves the
// loop and at the end of Poll.
//
// The poller claims the queue for its busy and idle passes and drops the
// claim before anything that may block or take the queue's lock: before
// it calls the handler (which may call Close or Stats), before it sleeps
// in Wait, and when it leaves the loop or Poll.
type Claimer interface {
	Claim() bool
	Unclaim()
	Publish()
}

// TxFlusher is an optional interface of a driver.Queue whose transmit
// kick (a syscall per Transmit in AF_XDP copy mode) the running loop can
// make for the application's goroutines, as NAPI's poll sends what the
// stack queued: while the loop polls (SetTxPolling(true)), Transmit from
// any goroutine queues its frames and leaves the kick owed, and FlushTx,
// which the loop calls after every batch and on every idle pass, makes
// one kick for all the frames queued since. Before it sleeps or leaves,
// the loop calls SetTxPolling(false), which makes the kick owed by then;
// from then on Transmit kicks for itself. The loop calls both from its
// own goroutine, and while it holds its claim if the queue is a Claimer.
type TxFlusher interface {
	SetTxPolling(on bool)
	FlushTx()
}

// txPolling tells the queue whether the loop polls (TxFlusher).
func (p *Poller) txPolling(on bool) {
	if p.tx != nil {
		p.tx.SetTxPolling(on)
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
		epoch:   time.Now(),
	}
	p.cl, _ = q.(Claimer)
	p.tx, _ = q.(TxFlusher)
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
	// The loop spins in Go code and so holds a P while it does: give the
	// program that P back (package procs).
	defer procs.Reserve()()
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
	defer p.leave()

	if err := p.run(); err != errStop {
		return err
	}
	return nil
}

// run is the loop's body. It returns errStop when the queue closes.
func (p *Poller) run() error {
	p.now = p.mono()
	p.lastWork, p.lastPub = p.now, p.now
	p.closing = false
	w := waiter{p: p, session: p.now}
	idle := 0 // idle passes since the last clock reading
	p.txPolling(true)
	for !p.stop.Load() {
		last := p.lastWork
		if p.round() > 0 {
			idle = 0
			w.worked(last)
			if p.now-p.lastPub >= publishEvery {
				p.publish()
			}
			continue
		}
		if p.closing {
			// The queue refused a claim: Wait says how it ended.
			if err := p.wait(0); err != nil {
				return err
			}
			continue
		}
		// An idle pass reads the rx ring's producer index and nothing
		// else; the clock is read every idleClock of them.
		if idle++; idle < idleClock {
			continue
		}
		idle = 0
		p.now = p.mono()
		if p.now-p.lastPub >= publishEvery {
			p.publish()
		}
		if err := w.idle(); err != nil {
			return err
		}
	}
	return nil
}

// idleClock is how many idle passes the loop makes between readings of
// the clock (an idle pass is a few ns, a clock reading tens).
const idleClock = 16

// yieldAfter is how long the loop polls without work before its idle
// passes start offering the CPU to other threads: one sched_yield per
// idleClock passes.
const yieldAfter = 2 * time.Microsecond

// publishEvery is how often the running loop publishes its counters.
const publishEvery = time.Millisecond

// waiter decides when the loop sleeps: the wait policy of the package
// documentation.
type waiter struct {
	p *Poller
	// session is when the current stretch of traffic began: lastWork -
	// session is how long it has lasted.
	session time.Duration
	// sleeps counts the sleeps since a round last found work; the last
	// one followed a spin of spun and ended at wokeAt after slept.
	sleeps              int
	spun, wokeAt, slept time.Duration
	// lastCheck is the idle time at which a never-sleeping loop last
	// looked at Wait.
	lastCheck time.Duration
}

// worked is called after a round that found work; last was lastWork
// before it.
func (w *waiter) worked(last time.Duration) {
	w.lastCheck = 0
	if w.sleeps == 0 {
		return
	}
	w.p.lc[cWakeups]++
	// One sleep shorter than twice the spin before it was a gap in the
	// traffic: the spin was too short for it. The stretch of traffic
	// goes on, so the spin, as long as the stretch, now covers such a
	// gap. After a longer sleep, or more than one, traffic starts anew.
	if w.sleeps > 1 || w.slept >= 2*w.spun {
		w.session = w.wokeAt
	}
	w.sleeps = 0
}

// spin is how long the loop polls without work before it sleeps; negative
// for never.
func (w *waiter) spin() time.Duration {
	if s := w.p.opts.IdleSpin; s != 0 {
		return s
	}
	return min(max(w.p.lastWork-w.session, MinIdleSpin), MaxIdleSpin)
}

// idle is called on an idle pass with a fresh clock reading. It sleeps
// once the spin is over, and returns the error that ends the loop.
func (w *waiter) idle() error {
	p := w.p
	quiet := p.now - p.lastWork
	spin := w.spin()
	if quiet >= yieldAfter {
		// The polite spin (package documentation): the application's
		// threads on this CPU run now, not at the next tick.
		p.lc[cYields]++
		schedYield()
	}
	if spin < 0 {
		// A spinning loop never sleeps in Wait, which is where a
		// queue notices its device going away: look once per
		// PollTimeout of idleness, without sleeping.
		if quiet-w.lastCheck >= p.opts.PollTimeout {
			w.lastCheck = quiet
			return p.wait(0)
		}
		return nil
	}
	if quiet < spin {
		return nil
	}
	p.lc[cPolls]++
	before := p.now
	if err := p.wait(p.opts.PollTimeout); err != nil {
		return err
	}
	p.now = p.mono()
	w.woke(before, spin)
	return nil
}

// woke records a sleep that followed a spin of spun, began at from and
// ended at p.now.
func (w *waiter) woke(from, spun time.Duration) {
	w.sleeps++
	w.spun, w.wokeAt, w.slept = spun, w.p.now, w.p.now-from
}

// wait refills the queue (what the last passes released, and transmit
// completions), publishes and drops the claim, then calls the queue's
// Wait. It returns the error that ends the loop: errStop for a closed
// queue.
func (p *Poller) wait(timeout time.Duration) error {
	if !p.closing {
		p.q.Refill()
		p.txPolling(false)
	}
	p.publish()
	p.unclaim()
	if err := p.q.Wait(timeout); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return errStop
		}
		return fmt.Errorf("poller queue %d: %w", p.q.ID(), err)
	}
	p.txPolling(true)
	return nil
}

// errStop ends the loop without an error (the queue closed).
var errStop = errors.New("poller: queue closed")

// leave is the loop's exit: it publishes the counters, drops the claim and
// hands the frames released while it ran back to the queue.
func (p *Poller) leave() {
	if !p.closing {
		p.txPolling(false)
	}
	p.publish()
	p.unclaim()
	p.retMu.Lock()
	p.draining = false
	if len(p.returns) > 0 {
		// Under retMu: Held.Release now releases directly, under it too.
		p.q.Release(p.returns)
		clear(p.returns)
		p.returns = p.returns[:0]
		p.nret.Store(0)
	}
	p.retMu.Unlock()
}

// Poll runs one NAPI round: batches of at most Weight frames until the rx
// ring is empty, Budget frames were processed, or TimeLimit passed, then
// one refill. It returns the number of frames processed. The loop runs
// the same round (without Poll's clock reading and publication at every
// call); tests and callers with a loop of their own may call Poll
// directly, on one goroutine, while the poller is not running.
func (p *Poller) Poll() int {
	p.now = p.mono()
	p.closing = false
	n := p.round()
	p.publish()
	p.unclaim()
	return n
}

// round is Poll without its clock reading and publication: the loop keeps
// p.now fresh and publishes on its own schedule. The clock is read once
// after each batch, for the time limit and lastWork.
func (p *Poller) round() int {
	released := p.drainReturns()
	if !p.claim() {
		return 0
	}
	work := 0
	start := p.now
	var busyFrom time.Duration
	for work < p.opts.Budget {
		n := p.q.Receive(p.batch[:min(p.opts.Weight, p.opts.Budget-work)])
		if n == 0 {
			break
		}
		if work == 0 {
			// The round's busy time starts with its first frames (a
			// fresh reading: p.now may be idle passes or a yield old).
			busyFrom = p.mono()
		}
		work += n
		p.deliver(n)
		p.flushTx()
		p.now = p.mono()
		if p.now-start > p.opts.TimeLimit {
			p.lc[cSqueeze]++
			goto out
		}
	}
	if work >= p.opts.Budget {
		p.lc[cSqueeze]++
	}
out:
	if work > 0 || released {
		p.q.Refill()
	}
	if work > 0 {
		p.now = p.mono() // the refill is the round's work too
		p.lastWork = p.now
		p.lc[cRounds]++
		p.lc[cProcessed] += uint64(work)
		p.lc[cBusyNS] += uint64(max(p.now-busyFrom, 0))
	} else {
		p.lc[cIdle]++
		p.flushTx()
	}
	return work
}

// flushTx makes the transmit kick owed since the last pass (TxFlusher).
func (p *Poller) flushTx() {
	if p.tx != nil && !p.closing {
		p.tx.FlushTx()
	}
}

// claim claims the queue if it is a Claimer (a no-op while claimed). It
// returns false, and sets closing, if the queue refused: a claimed call
// that found the queue closing has dropped the claim.
func (p *Poller) claim() bool {
	if p.cl != nil && !p.cl.Claim() {
		p.closing = true
		return false
	}
	return true
}

func (p *Poller) unclaim() {
	if p.cl != nil {
		p.cl.Unclaim()
	}
}

// mono reads the monotonic clock: time.Since reads only that one, where
// time.Now reads the wall clock too.
func (p *Poller) mono() time.Duration { return time.Since(p.epoch) }

func (p *Poller) deliver(n int) {
	b := &p.b
	b.Frames = p.batch[:n]
	held := b.held[:n]
	clear(held)
	p.unclaim() // the handler may call Close, Stats or Transmit
	p.h(b)
	p.claim() // if the queue is closing, Release guards itself
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

// drainReturns releases the frames that Held.Release queued for the loop
// and reports whether there were any. Without any it costs one atomic
// load.
func (p *Poller) drainReturns() bool {
	if p.nret.Load() == 0 {
		return false
	}
	p.retMu.Lock()
	p.returns, p.spare = p.spare[:0], p.returns
	p.nret.Store(0)
	p.retMu.Unlock()
	if len(p.spare) == 0 {
		return false
	}
	p.claim()
	p.q.Release(p.spare)
	clear(p.spare)
	return true
}

// publish makes the loop's counters, and the queue's if it is claimed,
// visible to Stats. It stores only the counters that changed.
func (p *Poller) publish() {
	p.lastPub = p.now
	if p.cl != nil {
		p.cl.Publish()
	}
	for i, v := range p.lc {
		if v != p.pub[i] {
			p.st[i].Store(v)
			p.pub[i] = v
		}
	}
}

// Stats returns the poller's counters with the driver's. Safe for
// concurrent use.
func (p *Poller) Stats() Stats {
	return Stats{
		Queue:       p.q.ID(),
		Processed:   p.st[cProcessed].Load(),
		Held:        p.st[cHeld].Load(),
		Rounds:      p.st[cRounds].Load(),
		TimeSqueeze: p.st[cSqueeze].Load(),
		BusyPasses:  p.st[cRounds].Load(),
		IdlePasses:  p.st[cIdle].Load(),
		Polls:       p.st[cPolls].Load(),
		Wakeups:     p.st[cWakeups].Load(),
		Yields:      p.st[cYields].Load(),
		BusyNS:      p.st[cBusyNS].Load(),
		Driver:      p.q.Stats(),
	}
}
