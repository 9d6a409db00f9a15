package tcp

import (
	"sync"
	"time"

	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
	"github.com/rxpath/rxpath/stack/tcp/internal/timer"
)

// twEntry is a connection in TIME_WAIT, reduced to what it needs to answer
// (like Linux's inet_timewait_sock): the 4-tuple, the sequence numbers,
// the timestamp state and the deadline, linked into the expiry order
// without a separate list element: 64 bytes instead of a Conn.
type twEntry struct {
	k          key
	queue      int32
	rcvNxt     seqnum.Value
	sndNxt     seqnum.Value
	tsRecent   uint32
	tsOffset   uint32
	tsOK       bool
	expire     int64 // Unix ns of the TCP clock
	prev, next *twEntry
}

// timeWaitTable holds TIME_WAIT entries in expiry order, bounded by
// MaxTimeWait, with one timer for the earliest expiry.
type timeWaitTable struct {
	t  *TCP
	mu sync.Mutex
	m  map[key]*twEntry
	// peak is the most entries since m was made.
	peak int
	// head and tail of the expiry order, oldest first.
	head, tail *twEntry
	tm         timer.Entry
}

func newTimeWaitTable(t *TCP) *timeWaitTable {
	tw := &timeWaitTable{t: t, m: make(map[key]*twEntry)}
	t.timers.Init(&tw.tm, tw.expire)
	return tw
}

func (tw *timeWaitTable) len() int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return len(tw.m)
}

func (tw *timeWaitTable) pushBack(e *twEntry) {
	e.prev, e.next = tw.tail, nil
	if tw.tail != nil {
		tw.tail.next = e
	} else {
		tw.head = e
	}
	tw.tail = e
}

func (tw *timeWaitTable) unlink(e *twEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		tw.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		tw.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// remove drops e from the table (tw.mu held).
func (tw *timeWaitTable) remove(e *twEntry) {
	tw.unlink(e)
	delete(tw.m, e.k)
	if len(tw.m) == 0 && tw.peak >= shrinkPeak {
		// Maps keep their peak size: start afresh once TIME_WAIT
		// empties, so a burst of closes leaves nothing behind.
		tw.m, tw.peak = make(map[key]*twEntry), 0
	}
}

// add records c (c.mu held) in TIME_WAIT.
func (tw *timeWaitTable) add(c *Conn) {
	t := tw.t
	exp := t.clock().Add(t.opts.TimeWait)
	e := &twEntry{k: c.k, queue: int32(c.queue), rcvNxt: c.rcvNxt, sndNxt: c.sndMax(), tsOK: c.tsOK, tsRecent: c.tsRecent,
		tsOffset: c.tsOffset, expire: exp.UnixNano()}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if old := tw.m[e.k]; old != nil {
		tw.remove(old)
	}
	for len(tw.m) >= t.opts.MaxTimeWait {
		tw.remove(tw.head)
		t.st.twOverflow.Add(1)
	}
	tw.pushBack(e)
	tw.m[e.k] = e
	tw.peak = max(tw.peak, len(tw.m))
	if !t.timers.Armed(&tw.tm) {
		t.timers.Schedule(&tw.tm, exp)
	}
}

// expire drops the entries whose time is up and re-arms for the next.
func (tw *timeWaitTable) expire(now time.Time) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	ns := now.UnixNano()
	for e := tw.head; e != nil; e = tw.head {
		if e.expire > ns {
			tw.t.timers.Schedule(&tw.tm, time.Unix(0, e.expire))
			return
		}
		tw.remove(e)
	}
}

// handle processes a segment for a TIME_WAIT connection (RFC 9293
// §3.10.7.4 in TIME-WAIT, Linux's tcp_timewait_state_process). It reports
// false when there is no such entry, or when a new SYN may reuse the
// 4-tuple: then the caller hands the segment to the listener.
func (tw *timeWaitTable) handle(seg *segment) bool {
	t := tw.t
	tw.mu.Lock()
	e := tw.m[seg.k]
	if e == nil {
		tw.mu.Unlock()
		return false
	}
	switch {
	case seg.has(header.TCPFlagRST):
		// RFC 1337: ignore, so an old duplicate RST cannot cut
		// TIME_WAIT short and let a stale segment into a new
		// incarnation of the connection.
		t.st.twRSTIgnore.Add(1)
		tw.mu.Unlock()
		return true
	case seg.has(header.TCPFlagSYN) && !seg.has(header.TCPFlagACK):
		newer := seg.seq.GreaterThan(e.rcvNxt)
		if e.tsOK && seg.opts.HasTS {
			newer = newer || tsBefore(e.tsRecent, seg.opts.TSVal)
		}
		if newer { // RFC 6191: a new incarnation may start
			tw.remove(e)
			t.st.twReused.Add(1)
			tw.mu.Unlock()
			return false
		}
	case seg.has(header.TCPFlagFIN):
		// Our last ACK was lost: ACK again and restart the 2MSL wait.
		e.expire = t.clock().Add(t.opts.TimeWait).UnixNano()
		tw.unlink(e)
		tw.pushBack(e)
	}
	ack := *e
	tw.mu.Unlock()
	var o header.TCPOptions
	if ack.tsOK {
		o.HasTS, o.TSVal, o.TSEcr = true, t.cookies.TSNow()+ack.tsOffset, ack.tsRecent
	}
	var ob [40]byte
	n := 0
	if o.HasTS {
		n = header.EncodeTCPOptions(ob[:], o)
	}
	t.sendRaw(int(ack.queue), ack.k, header.TCPFields{SrcPort: ack.k.lport, DstPort: ack.k.rport, Seq: uint32(ack.sndNxt),
		Ack: uint32(ack.rcvNxt), Flags: header.TCPFlagACK, Options: ob[:n]}, nil)
	return true
}
