package tcp

import (
	"sync/atomic"

	"golang.org/x/sys/cpu"

	"github.com/rxpath/rxpath/stack"
)

// maxLoops is how many receive loops (queues 0 to maxLoops-1) TCP keeps
// batch state for; segments from other queues are handled one by one.
const maxLoops = 64

// rxLoop is what TCP keeps for the receive loop of one queue: its
// GRO-like batching, as Linux's GRO hands tcp_v4_rcv one aggregate per
// flow and poll. Until the loop first ends a batch (Stack.EndBatch) its
// queue is unbatched: every segment is looked up, locked, ACKed and wakes
// its reader on its own. From then on, within one poll batch:
//
//   - consecutive segments of one connection take one lookup and one
//     lock: the loop keeps the connection locked (held) until a segment
//     of another connection arrives or the batch ends, as the kernel
//     owns a socket in softirq while a user waits for it;
//   - in-order data earns no ACK on the spot: the connection is listed
//     (pending) and gets at most one ACK decision at the end of the batch,
//     covering all the batch's segments: an ACK if two full segments or
//     a gap fill or FIN wait for it, else the delayed-ACK deadline;
//   - readers are woken once, at the end of the batch;
//   - the pure ACKs and SYN-ACKs the batch earns are staged (tx) and
//     handed to the link in one call, one kick, at its end. Data and FINs
//     go out at once: the application transmits on the same queue
//     meanwhile, and their order on the wire matters.
//
// Out-of-order data, duplicates, window probes and the RFC 5961
// challenges are still answered at once: the peer's loss recovery counts
// those ACKs.
//
// This relies on the stack's receive loop contract: a loop that ends
// batches for queue q is the only goroutine that delivers q's frames, so
// every field but batched is the loop's own.
type rxLoop struct {
	batched atomic.Bool
	held    *Conn   // locked by this loop since its last segment
	pending []*Conn // connections with an ACK decision or a wake-up due
	tx      *stack.TxBatch
	_       cpu.CacheLinePad
}

// loop returns the batch state of the receive loop of queue q, or nil
// while q is unbatched.
func (t *TCP) loop(q int) *rxLoop {
	if uint(q) >= maxLoops {
		return nil
	}
	if lp := &t.loops[q]; lp.batched.Load() {
		return lp
	}
	return nil
}

// endBatch is the stack's batch-end hook for queue q: the ACK decisions
// and reader wake-ups of the batch, then the held connection's lock.
func (t *TCP) endBatch(q int) {
	if uint(q) >= maxLoops {
		return
	}
	lp := &t.loops[q]
	if !lp.batched.Load() {
		lp.tx = t.s.NewTxBatch(q)
		lp.batched.Store(true)
		return
	}
	if c := lp.held; c != nil {
		lp.held = nil
		c.flushBatch()
		c.lp = nil
		c.mu.Unlock()
	}
	for i, c := range lp.pending {
		lp.pending[i] = nil
		if !c.batchPending {
			continue // the held connection, flushed above
		}
		c.mu.Lock()
		c.lp = lp
		c.flushBatch()
		c.lp = nil
		c.mu.Unlock()
	}
	lp.pending = lp.pending[:0]
	lp.tx.Flush()
}

// release lets go of the connection the loop holds (before it locks
// another), leaving its batch-end work pending.
func (lp *rxLoop) release() {
	if c := lp.held; c != nil {
		lp.held = nil
		c.lp = nil
		c.mu.Unlock()
	}
}

// deferToBatchEnd lists c (c.mu held, c.lp set) for the end of the batch.
func (c *Conn) deferToBatchEnd() {
	if !c.batchPending {
		c.batchPending = true
		c.lp.pending = append(c.lp.pending, c)
	}
}

// flushBatch is the connection's batch end (c.mu held): its one ACK
// decision and its one reader wake-up.
func (c *Conn) flushBatch() {
	if !c.batchPending {
		return
	}
	c.batchPending = false
	if c.state != StateClosed && c.state != StateTimeWait {
		c.ackDecision()
	}
	if c.wakePending {
		c.wakePending = false
		c.wakeReaders()
	}
}
