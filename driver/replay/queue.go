package replay

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/rxpath/rxpath/driver"
)

var _ driver.Queue = (*Queue)(nil)

// Options configures a Queue. The zero value plays the recording once, at
// full speed, unchanged.
type Options struct {
	// Repeat is how many times the recording is played: 0 means once, a
	// negative value forever.
	Repeat int
	// Timing makes frames available at their recorded times relative to
	// the first frame (divided by Speed), counted from the first Receive.
	// Without it the replay runs at full speed.
	Timing bool
	// Speed multiplies the pace of a timed replay: 2 plays twice as fast.
	// Zero means 1.
	Speed float64
	// Rewrite, if set, retargets the frames at the stack under test.
	Rewrite *Rewrite
	// Capture, if set, receives the transmitted frames as a pcap stream
	// (LINKTYPE_ETHERNET, nanosecond timestamps). Writes are serialized;
	// a failed write is counted in Counters.CaptureErrors.
	Capture io.Writer
	// Clock is the time source for timed replays and capture timestamps
	// (default time.Now). Tests pass a fake one.
	Clock func() time.Time
	// QueueID is what ID reports.
	QueueID int
}

func (o Options) validate() error {
	if o.Speed < 0 || math.IsNaN(o.Speed) || math.IsInf(o.Speed, 0) {
		return fmt.Errorf("replay: speed %v is not a positive finite number", o.Speed)
	}
	if o.Rewrite != nil {
		return o.Rewrite.validate()
	}
	return nil
}

// Counters are the replay's own counters, beyond the driver's QueueStats.
type Counters struct {
	Delivered     uint64 `json:"delivered"`      // frames handed out by Receive, over all passes
	Passes        uint64 `json:"passes"`         // passes over the recording handed out completely
	Stalls        uint64 `json:"stalls"`         // times the replay stopped at a slot still held from the previous pass (once per stall, however often polled)
	Rewritten     uint64 `json:"rewritten"`      // frames whose IPv4 destination Rewrite changed
	CaptureErrors uint64 `json:"capture_errors"` // failed writes to Options.Capture
}

type slotState uint8

const (
	slotFree slotState = iota // in the arena, not handed out
	slotHeld                  // handed out by Receive, not yet released
)

// Queue plays a recording as a receive queue. Receive, Refill and Wait
// belong to one goroutine (the poller's); Release may also come from other
// goroutines; everything else is safe for concurrent use. See the package
// documentation for the model.
type Queue struct {
	id     int
	timing bool
	repeat int // passes to play; negative: forever
	clock  func() time.Time

	arena []byte   // every frame, back to back
	views [][]byte // views[i] is slot i's frame in arena, capacity capped
	due   []int64  // when slot i is due, in ns after the start of its pass (non-decreasing)
	span  int64    // the length of one timed pass in ns: due of the last slot

	// mu guards the ledger and the replay cursor.
	mu        sync.Mutex
	state     []slotState
	next      int   // the slot Receive hands out next
	pass      int   // the pass that next belongs to
	passBase  int64 // ns from start to the beginning of pass
	started   bool  // timed: the first Receive happened
	start     time.Time
	exhausted bool // every pass has been handed out
	stalled   bool // Receive is waiting for slot next to be released
	// stallCounted: this stall is in Counters.Stalls
	stallCounted bool
	doneClosed   bool

	free, held atomic.Int64 // the ledger's counts, written under mu

	wake      chan struct{} // Wake's token, buffered 1
	closing   chan struct{} // closed by Close
	done      chan struct{} // see Done
	closed    atomic.Bool
	timer     *time.Timer // Wait's, stopped between calls
	errClosed error

	txMu sync.Mutex
	sent [][]byte
	capw *pcapgo.Writer

	st counters
}

type counters struct {
	rxFrames, rxBytes, txFrames, txBytes, waits, wakeups atomic.Uint64
	badRelease, foreign, passes, stalls, captureErrs     atomic.Uint64
	rewritten                                            uint64 // set once by New
}

// Open reads a recording with ReadFile and returns a Queue that plays it.
func Open(path string, opts Options) (*Queue, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	pkts, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return build(pkts, opts), nil
}

// New returns a Queue that plays pkts. The frames are copied once into one
// arena and rewritten there; pkts is not modified or retained. New panics
// if opts is invalid (a malformed Rewrite address or a negative Speed);
// Open returns that as an error instead.
func New(pkts []Packet, opts Options) *Queue {
	if err := opts.validate(); err != nil {
		panic(err)
	}
	return build(pkts, opts)
}

func build(pkts []Packet, opts Options) *Queue {
	q := &Queue{
		id:      opts.QueueID,
		timing:  opts.Timing,
		repeat:  opts.Repeat,
		clock:   opts.Clock,
		views:   make([][]byte, len(pkts)),
		due:     make([]int64, len(pkts)),
		state:   make([]slotState, len(pkts)),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		timer:   time.NewTimer(time.Hour),
	}
	q.timer.Stop()
	q.errClosed = fmt.Errorf("replay queue %d: %w", q.id, net.ErrClosed)
	if q.repeat == 0 {
		q.repeat = 1
	}
	if q.clock == nil {
		q.clock = time.Now
	}
	total := 0
	for _, p := range pkts {
		total += len(p.Data)
	}
	q.arena = make([]byte, total)
	off := 0
	for i, p := range pkts {
		end := off + len(p.Data)
		v := q.arena[off:end:end]
		copy(v, p.Data)
		if opts.Rewrite != nil && opts.Rewrite.apply(v) {
			q.st.rewritten++
		}
		q.views[i] = v
		off = end
	}
	speed := opts.Speed
	if speed == 0 {
		speed = 1
	}
	var prev int64
	for i, p := range pkts {
		d := max(int64(p.Time.Sub(pkts[0].Time)), prev) // keep the order
		prev = d
		if speed != 1 {
			d = int64(float64(d) / speed)
		}
		q.due[i] = d
	}
	if n := len(pkts); n > 0 {
		q.span = q.due[n-1]
	}
	q.free.Store(int64(len(pkts)))
	if len(pkts) == 0 {
		q.exhausted = true
		q.finishLocked()
	}
	if opts.Capture != nil {
		w := pcapgo.NewWriterNanos(opts.Capture)
		if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
			q.st.captureErrs.Add(1)
		} else {
			q.capw = w
		}
	}
	return q
}

// ID returns Options.QueueID.
func (q *Queue) ID() int { return q.id }

// Refill does nothing: the arena needs no posting. It returns 0.
func (q *Queue) Refill() int { return 0 }

// Receive hands out up to len(frames) frames as views into the arena, in
// recorded order. It stops early at the end of the replay, at a frame not
// yet due (Timing), or at a slot whose frame from the previous pass is
// still held. Poller goroutine only.
func (q *Queue) Receive(frames []driver.Frame) int {
	if len(frames) == 0 || q.closed.Load() {
		return 0
	}
	q.mu.Lock()
	if q.exhausted {
		q.mu.Unlock()
		return 0
	}
	var now int64
	if q.timing {
		t := q.clock()
		if !q.started {
			q.started, q.start = true, t
		}
		now = int64(t.Sub(q.start))
	}
	// Locals, so the loop does not reload q's fields after every store
	// into frames.
	state, views, due, timing, base := q.state, q.views, q.due, q.timing, q.passBase
	i, k, nbytes, stall := q.next, 0, 0, false
	for k < len(frames) {
		if timing && base+due[i] > now {
			break
		}
		if state[i] != slotFree {
			stall = true // held since the previous pass
			break
		}
		state[i] = slotHeld
		v := views[i]
		frames[k] = driver.Frame{Data: v, Handle: uint64(i)}
		k++
		nbytes += len(v)
		if i++; i < len(views) {
			continue
		}
		i = 0
		q.pass++
		base += q.span
		q.st.passes.Add(1)
		if q.repeat > 0 && q.pass >= q.repeat {
			q.exhausted = true
			break
		}
	}
	q.next, q.passBase = i, base
	if k > 0 {
		q.stalled, q.stallCounted = false, false
	}
	if stall {
		q.stalled = true
		// A batch that wrapped over the whole recording holds the slot
		// itself: that is no stall.
		if k < len(views) && !q.stallCounted {
			q.stallCounted = true
			q.st.stalls.Add(1)
		}
	}
	q.free.Add(-int64(k))
	q.held.Add(int64(k))
	q.mu.Unlock()
	q.st.rxFrames.Add(uint64(k))
	q.st.rxBytes.Add(uint64(nbytes))
	return k
}

// Release returns frames from Receive to their slots. A handle that is not
// a slot is counted in Buffers.Foreign, one whose slot is not held in
// Buffers.BadRelease; both are otherwise ignored. Poller goroutine, or any
// goroutine while no poller runs the queue.
func (q *Queue) Release(frames []driver.Frame) {
	if len(frames) == 0 {
		return
	}
	var freed, bad, foreign int64
	q.mu.Lock()
	state := q.state
	for i := range frames {
		h := frames[i].Handle
		if h >= uint64(len(state)) {
			foreign++
			continue
		}
		if state[h] != slotHeld {
			bad++
			continue
		}
		state[h] = slotFree
		freed++
	}
	if freed > 0 {
		q.held.Add(-freed)
		q.free.Add(freed)
		if q.exhausted && q.held.Load() == 0 {
			q.finishLocked()
		}
		if q.stalled && q.state[q.next] == slotFree {
			q.signal() // a Wait may be sleeping on the stall
		}
	}
	q.mu.Unlock()
	if bad > 0 {
		q.st.badRelease.Add(uint64(bad))
	}
	if foreign > 0 {
		q.st.foreign.Add(uint64(foreign))
	}
}

// finishLocked closes done once. q.mu is held (or q is not yet shared).
func (q *Queue) finishLocked() {
	if !q.doneClosed {
		q.doneClosed = true
		close(q.done)
	}
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// untilNext reports whether Receive would hand out a frame now and, if
// not, how long until the next frame is due (negative: not a matter of
// time, the replay is exhausted or stalled on a held frame).
func (q *Queue) untilNext() (time.Duration, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.exhausted {
		return -1, false
	}
	if q.timing && q.started {
		if d := q.passBase + q.due[q.next] - int64(q.clock().Sub(q.start)); d > 0 {
			return time.Duration(d), false
		}
	}
	if q.state[q.next] != slotFree {
		return -1, false
	}
	return 0, true
}

// Wait returns at once if Receive has frames to hand out. Otherwise it
// sleeps until the next timed frame is due, Wake is called, a frame the
// replay is stalled on is released, or timeout passes; once the replay is
// exhausted only Wake, Close or the timeout end the sleep. After Close it
// returns an error wrapping net.ErrClosed. Poller goroutine only.
func (q *Queue) Wait(timeout time.Duration) error {
	if q.closed.Load() {
		return q.errClosed
	}
	d, ready := q.untilNext()
	if ready {
		return nil
	}
	if d < 0 || d > timeout {
		d = timeout
	}
	if d <= 0 {
		return nil
	}
	q.st.waits.Add(1)
	q.timer.Reset(d)
	select {
	case <-q.wake:
	case <-q.closing:
	case <-q.timer.C:
	}
	q.timer.Stop()
	if q.closed.Load() {
		return q.errClosed
	}
	if _, ready := q.untilNext(); ready {
		q.st.wakeups.Add(1)
	}
	return nil
}

// Wake makes a current or the next Wait return at once. Safe for
// concurrent use.
func (q *Queue) Wake() { q.signal() }

// Transmit copies each frame into the list that Sent returns and, if
// Options.Capture is set, writes it there. It takes every frame and
// returns len(frames), or 0 after Close. Safe for concurrent use.
func (q *Queue) Transmit(frames [][]byte) int {
	if q.closed.Load() || len(frames) == 0 {
		return 0
	}
	q.txMu.Lock()
	defer q.txMu.Unlock()
	var ts time.Time
	if q.capw != nil {
		ts = q.clock()
	}
	bytes := 0
	for _, f := range frames {
		c := make([]byte, len(f))
		copy(c, f)
		q.sent = append(q.sent, c)
		bytes += len(f)
		if q.capw != nil {
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(c), Length: len(c)}
			if err := q.capw.WritePacket(ci, c); err != nil {
				q.st.captureErrs.Add(1)
			}
		}
	}
	q.st.txFrames.Add(uint64(len(frames)))
	q.st.txBytes.Add(uint64(bytes))
	return len(frames)
}

// Sent returns the frames passed to Transmit so far, in order. The frames
// are the queue's copies: read them, do not modify them. Safe for
// concurrent use.
func (q *Queue) Sent() [][]byte {
	q.txMu.Lock()
	defer q.txMu.Unlock()
	return slices.Clone(q.sent)
}

// Delivered returns how many frames Receive has handed out, over all
// passes. Safe for concurrent use.
func (q *Queue) Delivered() uint64 { return q.st.rxFrames.Load() }

// Done is closed once every pass has been handed out and every frame
// released, or when the queue is closed (so that nothing waits forever on
// a closed queue; Delivered tells how far it got). A queue that repeats
// forever is done only when closed.
func (q *Queue) Done() <-chan struct{} { return q.done }

// Counters returns the replay's own counters. Safe for concurrent use.
func (q *Queue) Counters() Counters {
	return Counters{
		Delivered:     q.st.rxFrames.Load(),
		Passes:        q.st.passes.Load(),
		Stalls:        q.st.stalls.Load(),
		Rewritten:     q.st.rewritten,
		CaptureErrors: q.st.captureErrs.Load(),
	}
}

// Stats returns the queue's counters. Buffers counts recorded frames:
// Held are handed out and not yet released, Free the rest. Safe for
// concurrent use.
func (q *Queue) Stats() driver.QueueStats {
	return driver.QueueStats{
		Queue:    q.id,
		RxFrames: q.st.rxFrames.Load(),
		RxBytes:  q.st.rxBytes.Load(),
		TxFrames: q.st.txFrames.Load(),
		TxBytes:  q.st.txBytes.Load(),
		Waits:    q.st.waits.Load(),
		Wakeups:  q.st.wakeups.Load(),
		Buffers: driver.Buffers{
			Unit:       "recorded frame",
			Total:      uint64(len(q.state)),
			Free:       uint64(q.free.Load()),
			Held:       uint64(q.held.Load()),
			BadRelease: q.st.badRelease.Load(),
			Foreign:    q.st.foreign.Load(),
		},
	}
}

// Check verifies the ledger: the free and held counts match the slots'
// states and add up to the number of frames. Call it while the queue is
// quiescent.
func (q *Queue) Check() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var free, held int64
	for i, s := range q.state {
		switch s {
		case slotFree:
			free++
		case slotHeld:
			held++
		default:
			return fmt.Errorf("replay ledger: slot %d in unknown state %d", i, s)
		}
	}
	var errs []error
	if c := q.free.Load(); c != free {
		errs = append(errs, fmt.Errorf("replay ledger: free count %d, but %d slots are free", c, free))
	}
	if c := q.held.Load(); c != held {
		errs = append(errs, fmt.Errorf("replay ledger: held count %d, but %d slots are held", c, held))
	}
	if sum := q.free.Load() + q.held.Load(); sum != int64(len(q.state)) {
		errs = append(errs, fmt.Errorf("replay ledger: counts add up to %d, want %d frames", sum, len(q.state)))
	}
	if q.exhausted && held == 0 && !q.doneClosed {
		errs = append(errs, errors.New("replay ledger: replay finished and all frames released, but Done is open"))
	}
	return errors.Join(errs...)
}

// Close stops the replay: Wait returns net.ErrClosed from then on, Receive
// and Transmit return 0, and Done is closed. Frames still held may be
// released afterwards. It is idempotent and safe for concurrent use.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return nil
	}
	close(q.closing)
	q.mu.Lock()
	q.finishLocked()
	q.mu.Unlock()
	return nil
}
