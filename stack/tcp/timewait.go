package tcp

import (
	"container/list"
	"sync"
	"time"

	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
	"github.com/rxpath/rxpath/stack/tcp/internal/timer"
)

// twEntry is a connection in TIME_WAIT, reduced to what it needs to answer
// (like Linux's inet_timewait_sock): about 100 bytes instead of a Conn.
type twEntry struct {
	k        key
	queue    int
	rcvNxt   seqnum.Value
	sndNxt   seqnum.Value
	tsOK     bool
	tsRecent uint32
	tsOffset uint32
	expire   time.Time
	elem     *list.Element
}

// timeWaitTable holds TIME_WAIT entries in expiry order, bounded by
// MaxTimeWait, with one timer for the earliest expiry.
type timeWaitTable struct {
	t     *TCP
	mu    sync.Mutex
	m     map[key]*twEntry
	order list.List // oldest first
	tm    timer.Entry
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

// add records c (c.mu held) in TIME_WAIT.
func (tw *timeWaitTable) add(c *Conn) {
	t := tw.t
	e := &twEntry{k: c.k, queue: c.queue, rcvNxt: c.rcvNxt, sndNxt: c.sndMax(), tsOK: c.tsOK, tsRecent: c.tsRecent,
		tsOffset: c.tsOffset, expire: t.clock().Add(t.opts.TimeWait)}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if old := tw.m[e.k]; old != nil {
		tw.order.Remove(old.elem)
	}
	for len(tw.m) >= t.opts.MaxTimeWait {
		oldest := tw.order.Front().Value.(*twEntry)
		tw.order.Remove(oldest.elem)
		delete(tw.m, oldest.k)
		t.st.twOverflow.Add(1)
	}
	e.elem = tw.order.PushBack(e)
	tw.m[e.k] = e
	if !t.timers.Armed(&tw.tm) {
		t.timers.Schedule(&tw.tm, e.expire)
	}
}

// expire drops the entries whose time is up and re-arms for the next.
func (tw *timeWaitTable) expire(now time.Time) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	for f := tw.order.Front(); f != nil; f = tw.order.Front() {
		e := f.Value.(*twEntry)
		if e.expire.After(now) {
			tw.t.timers.Schedule(&tw.tm, e.expire)
			return
		}
		tw.order.Remove(f)
		delete(tw.m, e.k)
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
			tw.order.Remove(e.elem)
			delete(tw.m, e.k)
			t.st.twReused.Add(1)
			tw.mu.Unlock()
			return false
		}
	case seg.has(header.TCPFlagFIN):
		// Our last ACK was lost: ACK again and restart the 2MSL wait.
		e.expire = t.clock().Add(t.opts.TimeWait)
		tw.order.MoveToBack(e.elem)
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
	t.sendRaw(ack.queue, ack.k, header.TCPFields{SrcPort: ack.k.lport, DstPort: ack.k.rport, Seq: uint32(ack.sndNxt),
		Ack: uint32(ack.rcvNxt), Flags: header.TCPFlagACK, Options: ob[:n]}, nil)
	return true
}
