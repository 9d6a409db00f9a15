package timer

import (
	"sync"
	"time"
)

// Clock is a source of time: time.Now for a live stack, a *FakeClock in
// tests. New takes its Now method.
type Clock interface {
	Now() time.Time
}

// Entry is one schedulable deadline. It is embedded in the connection that
// owns it; its zero value is ready for Wheel.Init. An Entry is guarded by
// the lock of its Wheel: use it only through the Wheel's methods.
type Entry struct {
	w        *Wheel
	fn       func(arg any, now time.Time) // Init's callback is arg, called by callFunc
	arg      any
	deadline time.Time
	seq      uint64 // Schedule order: FIFO among equal deadlines
	index    int    // position in the heap plus one; zero when not armed
}

// Wheel holds the armed Entries of a TCP layer in a min-heap ordered by
// deadline (ties fire in the order they were scheduled). Use New; the zero
// value is not ready. A Wheel is safe for concurrent use.
type Wheel struct {
	clock func() time.Time
	wake  chan struct{} // Run: a new earliest deadline

	mu   sync.Mutex
	heap []*Entry
	seq  uint64
}

// runBatch bounds the callbacks Run fires per pass, so it checks stop
// between passes even under a storm of expirations.
const runBatch = 1024

// maxRefires bounds the callbacks one Advance runs beyond the entries armed
// when it started: an entry that keeps re-arming itself at or before now
// cannot make Advance loop forever.
const maxRefires = 1 << 16

// New returns an empty Wheel that reads the time from clock (time.Now if
// nil). Run sleeps in real time whatever the clock; Advance never reads it.
func New(clock func() time.Time) *Wheel {
	if clock == nil {
		clock = time.Now
	}
	return &Wheel{clock: clock, wake: make(chan struct{}, 1)}
}

// Now returns the time of the Wheel's clock, the base for deadlines.
func (w *Wheel) Now() time.Time { return w.clock() }

// Init binds e to w with the callback fn, which is called with the time of
// the expiry each time e fires. Init is called once per Entry, before its
// first Schedule; calling it again replaces fn. It panics if fn is nil or if
// e belongs to another Wheel.
func (w *Wheel) Init(e *Entry, fn func(now time.Time)) {
	if fn == nil {
		panic("timer: Init with a nil callback")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.w != nil && e.w != w {
		panic("timer: Init of an Entry that belongs to another Wheel")
	}
	e.w = w
	e.fn, e.arg = callFunc, fn
}

// InitArg is Init with a callback that takes an argument: fn(arg, now).
// With a package-level fn and a pointer arg it allocates nothing, where
// a method value passed to Init allocates a closure per Entry.
func (w *Wheel) InitArg(e *Entry, fn func(arg any, now time.Time), arg any) {
	if fn == nil {
		panic("timer: InitArg with a nil callback")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.w != nil && e.w != w {
		panic("timer: Init of an Entry that belongs to another Wheel")
	}
	e.w = w
	e.fn, e.arg = fn, arg
}

// callFunc is the callback of an Entry set up by Init: arg is its
// func(time.Time) (a func value is pointer-shaped: boxing it allocates
// nothing).
func callFunc(arg any, now time.Time) { arg.(func(time.Time))(now) }

// Schedule arms e to fire at deadline, moving it if it is already armed. It
// does not allocate, except to grow the heap past its largest size so far.
// If e becomes the earliest deadline, Run is woken to sleep less. It panics
// if e was not initialized by w.Init.
func (w *Wheel) Schedule(e *Entry, deadline time.Time) {
	w.mu.Lock()
	if e.w != w {
		w.mu.Unlock()
		panic("timer: Schedule of an Entry not initialized by this Wheel")
	}
	w.seq++
	e.deadline = deadline
	e.seq = w.seq
	if e.index == 0 {
		e.index = len(w.heap) + 1
		w.heap = append(w.heap, e)
		w.up(e.index - 1)
	} else {
		w.fix(e.index - 1)
	}
	earliest := w.heap[0] == e
	w.mu.Unlock()
	if earliest {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Stop disarms e. It reports whether e was armed; false means it had fired
// (its callback may still be running or about to run), had been stopped, or
// was never scheduled.
func (w *Wheel) Stop(e *Entry) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.w != w || e.index == 0 {
		return false
	}
	w.remove(e.index - 1)
	return true
}

// Armed reports whether e is scheduled and has not fired.
func (w *Wheel) Armed(e *Entry) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return e.w == w && e.index != 0
}

// Deadline returns the deadline of e and whether e is armed.
func (w *Wheel) Deadline(e *Entry) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.w != w || e.index == 0 {
		return time.Time{}, false
	}
	return e.deadline, true
}

// Len returns the number of armed entries.
func (w *Wheel) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.heap)
}

// Advance fires, in deadline order, every entry due at or before now and
// returns how many callbacks it ran. Entries that callbacks arm for now or
// earlier fire in the same call, up to a bound of maxRefires callbacks
// beyond the entries armed when Advance started; whatever is left stays
// armed for the next call. Advance is the manual mode for tests with a
// FakeClock; it may also run alongside Run.
func (w *Wheel) Advance(now time.Time) int {
	return w.fire(now, w.Len()+maxRefires)
}

// Run fires entries as their deadlines pass, with real sleeps, until stop
// is closed. It keeps one time.Timer set to the earliest deadline, reset
// when Schedule arms an earlier one. Start it on one goroutine per Wheel.
func (w *Wheel) Run(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		default:
		}
		w.fire(w.clock(), runBatch)
		w.mu.Lock()
		armed := len(w.heap) > 0
		var d time.Duration
		if armed {
			d = max(w.heap[0].deadline.Sub(w.clock()), 0)
		}
		w.mu.Unlock()
		if armed {
			t.Reset(d)
		} else {
			t.Stop()
		}
		select {
		case <-stop:
			return
		case <-w.wake:
		case <-t.C:
		}
	}
}

// fire runs the callbacks of at most limit entries due at now, taking each
// off the heap under the lock and calling it without.
func (w *Wheel) fire(now time.Time, limit int) int {
	n := 0
	for n < limit {
		w.mu.Lock()
		if len(w.heap) == 0 || w.heap[0].deadline.After(now) {
			w.mu.Unlock()
			break
		}
		e := w.heap[0]
		w.remove(0)
		fn, arg := e.fn, e.arg
		w.mu.Unlock()
		fn(arg, now)
		n++
	}
	return n
}
