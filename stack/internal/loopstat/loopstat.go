// Package loopstat counts on the receive path without a locked
// instruction per frame.
//
// The stack's receive loop contract (stack.Stack.EndBatch) says that the
// loop that ends queue q's batches is the only goroutine that delivers
// q's frames. So each layer keeps, per queue, counters that only that
// loop writes, with plain adds, and publishes them with one atomic store
// per counter per batch; readers sum the published values. Frames of a
// queue whose loop does not end batches (yet) are counted in shared
// atomic counters, as before.
package loopstat

import "sync/atomic"

// MaxLoops is how many queues, 0 to MaxLoops-1, get per-loop counters;
// the frames of higher queues are counted in the shared counters.
const MaxLoops = 63

// Counter is one loop's count: the loop adds with plain arithmetic and
// publishes at the end of its batch; any goroutine loads the published
// value.
type Counter struct {
	n   uint64 // the loop's own
	pub atomic.Uint64
}

// Add adds d. Only the counter's loop calls it.
func (c *Counter) Add(d uint64) { c.n += d }

// Publish makes the count visible to Load. Only the counter's loop calls
// it, at the end of a batch. A count that did not change costs a load.
func (c *Counter) Publish() {
	if c.pub.Load() != c.n {
		c.pub.Store(c.n)
	}
}

// Load returns the count as last published. Safe from any goroutine.
func (c *Counter) Load() uint64 { return c.pub.Load() }
