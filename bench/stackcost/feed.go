package stackcost

import (
	"fmt"
	"sync"
	"time"

	"github.com/rxpath/rxpath/driver"
)

var _ driver.Queue = (*Feed)(nil)

// Feed is the receive queue of the TCP stack-cost rows: a driver.Queue
// that hands out, zero-copy, the frames MeasureTCP loads into it, and
// takes what the stack transmits. While it captures (the handshake) it
// keeps copies of the transmitted frames for Sent; afterwards it only
// counts them, so that the ACKs of a long stream neither allocate nor pile
// up.
//
// Receive, Release and Load belong to the poller's goroutine; Transmit,
// Sent and Dropped are safe for concurrent use (a stack's timer goroutine
// transmits too).
type Feed struct {
	frames [][]byte
	next   int
	held   int
	rx     uint64

	mu      sync.Mutex
	capture bool
	sent    [][]byte
	tx      uint64
	counted uint64 // tx already returned by Dropped
}

func newFeed() *Feed { return &Feed{capture: true} }

// load makes frames the next ones Receive hands out. The previous ones
// must all have been received and released.
func (f *Feed) load(frames [][]byte) {
	f.frames, f.next = frames, 0
}

// pending is how many loaded frames Receive has not handed out yet.
func (f *Feed) pending() int { return len(f.frames) - f.next }

// setCapture turns the copying of transmitted frames on or off.
func (f *Feed) setCapture(on bool) {
	f.mu.Lock()
	f.capture = on
	f.mu.Unlock()
}

// ID implements driver.Queue.
func (f *Feed) ID() int { return 0 }

// Refill implements driver.Queue: the frames need no posting.
func (f *Feed) Refill() int { return 0 }

// Receive implements driver.Queue.
func (f *Feed) Receive(frames []driver.Frame) int {
	n := min(len(frames), len(f.frames)-f.next)
	for i := range n {
		frames[i] = driver.Frame{Data: f.frames[f.next+i], Handle: uint64(f.next + i)}
	}
	f.next += n
	f.held += n
	f.rx += uint64(n)
	return n
}

// Release implements driver.Queue.
func (f *Feed) Release(frames []driver.Frame) { f.held -= len(frames) }

// Wait implements driver.Queue. It returns at once: MeasureTCP calls Poll
// itself and never runs the poller's loop.
func (f *Feed) Wait(time.Duration) error { return nil }

// Wake implements driver.Queue.
func (f *Feed) Wake() {}

// Transmit implements driver.Queue: it takes every frame, copying it for
// Sent while capturing.
func (f *Feed) Transmit(frames [][]byte) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.capture {
		for _, fr := range frames {
			f.sent = append(f.sent, append([]byte(nil), fr...))
		}
	}
	f.tx += uint64(len(frames))
	return len(frames)
}

// Sent returns the next captured frame, or nil.
func (f *Feed) Sent() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		return nil
	}
	fr := f.sent[0]
	f.sent[0] = nil
	f.sent = f.sent[1:]
	return fr
}

// Dropped forgets the captured frames and returns how many frames were
// transmitted since its last call.
func (f *Feed) Dropped() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.sent)
	f.sent = f.sent[:0]
	n := f.tx - f.counted
	f.counted = f.tx
	return int(n)
}

// Stats implements driver.Queue.
func (f *Feed) Stats() driver.QueueStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return driver.QueueStats{RxFrames: f.rx, TxFrames: f.tx}
}

// Check implements driver.Queue: every frame handed out came back.
func (f *Feed) Check() error {
	if f.held != 0 {
		return fmt.Errorf("feed: %d frames not released", f.held)
	}
	return nil
}

// Close implements driver.Queue.
func (f *Feed) Close() error { return nil }
