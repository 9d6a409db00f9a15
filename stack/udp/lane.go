package udp

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// perDatagram is what a queued datagram costs beyond its payload, like
// skb truesize overhead.
const perDatagram = 64

// recordHeader is the size of a record's header in a lane: the payload
// length, the source port and the source IPv4 address in one
// little-endian word.
const recordHeader = 8

// recordSize is the bytes a datagram of n bytes takes in a lane: the
// header and the payload rounded up to 8, so headers stay aligned and
// never wrap. It is at most n+15, below its RcvBuf charge of n+64.
func recordSize(n int) int { return recordHeader + (n+7)&^7 }

// lane is one producer's part of a socket's receive queue: a byte ring of
// records (header, then payload) with one producer and one consumer.
//
// The producer is the receive loop of one queue (see UDP.endBatch). It
// writes records with plain stores and publishes them with one atomic
// store of tail at the end of its batch; when the queue has no batches it
// holds mu and publishes after each record. The consumer is whichever
// reader holds the socket's reader lock; it publishes head, freed and
// consumed once per drain. Nothing the producer needs is behind a lock the
// consumer holds.
//
// Positions (tail, head) are free-running byte counts; the offsets in buf
// are kept beside them so that no record needs a division.
type lane struct {
	c   *Conn
	buf []byte // len is RcvBuf rounded up to 8; immutable

	_ cpu.CacheLinePad

	// mu serialises producers while the lane's queue is unbatched.
	mu sync.Mutex

	// Producer state: written only by the producer.
	ptail     uint64 // bytes written
	poff      int    // ptail mod len(buf)
	pcharged  uint64 // RcvBuf charge written (len+perDatagram each)
	pcount    uint64 // records written
	pbytes    uint64 // payload bytes written
	freedSeen uint64 // the last freed loaded: refreshed only when the queue looks full
	dirty     bool   // in its loop's batch list, to be published at the batch end

	_ cpu.CacheLinePad

	// Published by the producer: tail last, so that a consumer that
	// sees a tail also sees the counters that go with it.
	tail    atomic.Uint64
	charged atomic.Uint64
	count   atomic.Uint64
	bytes   atomic.Uint64

	_ cpu.CacheLinePad

	// Consumer state, under the socket's reader lock, published through
	// the atomics below.
	coff      int // head mod len(buf)
	chead     uint64
	cfreed    uint64
	cconsumed uint64
	head      atomic.Uint64 // bytes read
	freed     atomic.Uint64 // RcvBuf charge released
	consumed  atomic.Uint64 // records read

	_ cpu.CacheLinePad
}

func newLane(c *Conn, limit int) *lane {
	return &lane{c: c, buf: make([]byte, max(recordHeader, (limit+7)&^7))}
}

// push writes one record unless the socket's RcvBuf would overflow: the
// lane's own queued charge plus others (the other lanes', as published)
// plus this datagram's must fit in limit. The caller is the producer.
//
// Why the ring never overwrites unread bytes: every record takes at most
// its charge, so the unread records take at most the unfreed charge, and
// a push that keeps the charge within limit (≤ len(buf)) keeps the bytes
// within len(buf). The bytes it overwrites belong to records whose charge
// the consumer freed after reading them.
func (l *lane) push(p []byte, src netip.AddrPort, others, limit uint64) bool {
	charge := uint64(len(p)) + perDatagram
	if l.pcharged-l.freedSeen+charge+others > limit {
		l.freedSeen = l.freed.Load()
		if l.pcharged-l.freedSeen+charge+others > limit {
			return false
		}
	}
	a := src.Addr().As4()
	binary.LittleEndian.PutUint64(l.buf[l.poff:], uint64(len(p))|uint64(src.Port())<<16|uint64(binary.LittleEndian.Uint32(a[:]))<<32)
	o := l.poff + recordHeader
	if o == len(l.buf) {
		o = 0
	}
	if k := copy(l.buf[o:], p); k < len(p) {
		copy(l.buf, p[k:]) // the payload wraps
	}
	size := recordSize(len(p))
	l.poff += size
	if l.poff >= len(l.buf) {
		l.poff -= len(l.buf)
	}
	l.ptail += uint64(size)
	l.pcharged += charge
	l.pcount++
	l.pbytes += uint64(len(p))
	return true
}

// publish makes everything pushed so far visible to the consumer and to
// Stats. The caller is the producer.
func (l *lane) publish() {
	l.count.Store(l.pcount)
	l.bytes.Store(l.pbytes)
	l.charged.Store(l.pcharged)
	l.tail.Store(l.ptail)
}

// readable reports whether published records are waiting. Safe from any
// goroutine.
func (l *lane) readable() bool { return l.tail.Load() != l.head.Load() }

// used is the lane's published RcvBuf charge still queued. Safe from any
// goroutine: freed is loaded first, so it never exceeds the charge.
func (l *lane) used() uint64 {
	f := l.freed.Load()
	return l.charged.Load() - f
}

// drain copies published records into msgs and returns how many it
// filled. The caller holds the socket's reader lock.
func (l *lane) drain(msgs []Message) int {
	buf := l.buf
	t := l.tail.Load()
	h, off := l.chead, l.coff
	var freed uint64
	n := 0
	for ; h != t && n < len(msgs); n++ {
		w := binary.LittleEndian.Uint64(buf[off:])
		length := int(w & 0xffff)
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], uint32(w>>32))
		m := &msgs[n]
		m.Addr = netip.AddrPortFrom(netip.AddrFrom4(a), uint16(w>>16))
		o := off + recordHeader
		if o == len(buf) {
			o = 0
		}
		end := o + length
		if end <= len(buf) {
			m.N = copy(m.Buf, buf[o:end])
		} else {
			m.N = copy(m.Buf, buf[o:])
			if m.N < len(m.Buf) {
				m.N += copy(m.Buf[m.N:], buf[:end-len(buf)])
			}
		}
		m.Truncated = length > m.N
		size := recordSize(length)
		off += size
		if off >= len(buf) {
			off -= len(buf)
		}
		h += uint64(size)
		freed += uint64(length) + perDatagram
	}
	if n > 0 {
		l.chead, l.coff = h, off
		l.cfreed += freed
		l.cconsumed += uint64(n)
		l.head.Store(h)
		l.consumed.Store(l.cconsumed)
		l.freed.Store(l.cfreed) // last: it lets the producer overwrite
	}
	return n
}
