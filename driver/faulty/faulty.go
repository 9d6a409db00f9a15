package faulty

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/driver"
)

var _ driver.Queue = (*Queue)(nil)

// Options sets the fault probabilities, each in [0, 1].
type Options struct {
	// Loss drops a received frame (released to the driver at once).
	Loss float64
	// Reorder holds a frame back and delivers it after the next one.
	Reorder float64
	// Seed makes the faults repeatable (0: a fixed default).
	Seed uint64
}

// Queue is a queue with faults. It follows the driver.Queue contract of
// the queue it wraps.
type Queue struct {
	driver.Queue
	o    Options
	rng  *rand.Rand
	held driver.Frame
	has  bool
	tmp  []driver.Frame
	drop []driver.Frame

	// Lost and Reordered count the frames dropped and delayed by the
	// faults. Safe to read from any goroutine.
	Lost, Reordered atomic.Uint64
}

// Wrap returns q with faults injected on receive.
func Wrap(q driver.Queue, o Options) *Queue {
	seed := o.Seed
	if seed == 0 {
		seed = 0x5eed
	}
	return &Queue{Queue: q, o: o, rng: rand.New(rand.NewPCG(seed, uint64(q.ID())))}
}

// Receive takes frames from the wrapped queue, drops some, and swaps some
// with the frame that follows.
func (q *Queue) Receive(frames []driver.Frame) int {
	if cap(q.tmp) < len(frames) {
		q.tmp = make([]driver.Frame, len(frames))
		q.drop = make([]driver.Frame, 0, len(frames))
	}
	in := q.tmp[:len(frames)]
	n := q.Queue.Receive(in[:len(frames)-1]) // room for a held frame
	k := 0
	drops := q.drop[:0]
	for _, f := range in[:n] {
		if q.o.Loss > 0 && q.rng.Float64() < q.o.Loss {
			drops = append(drops, f)
			q.Lost.Add(1)
			continue
		}
		if !q.has && q.o.Reorder > 0 && q.rng.Float64() < q.o.Reorder {
			q.held, q.has = f, true
			q.Reordered.Add(1)
			continue
		}
		frames[k] = f
		k++
		if q.has {
			frames[k] = q.held
			k++
			q.has = false
		}
	}
	if len(drops) > 0 {
		q.Queue.Release(drops)
	}
	if k == 0 && q.has && n == 0 {
		// Nothing followed: deliver the held frame rather than stall it.
		frames[0] = q.held
		q.has = false
		k = 1
	}
	clear(in[:n])
	return k
}

// Wait returns at once while a frame is held back.
func (q *Queue) Wait(timeout time.Duration) error {
	if q.has {
		return nil
	}
	return q.Queue.Wait(timeout)
}

// Flush releases a frame held back for reordering. Call it once the
// poller has stopped, before closing the device.
func (q *Queue) Flush() {
	if q.has {
		q.Queue.Release([]driver.Frame{q.held})
		q.has = false
	}
}

// Close releases a held frame, then closes the wrapped queue.
func (q *Queue) Close() error {
	q.Flush()
	return q.Queue.Close()
}
