package fragment

import (
	"sync"
	"time"

	"github.com/google/btree"
)

const (
	// MaxPayload is the largest reassembled payload accepted: the largest
	// IPv4 total length (65535) less a minimal 20-byte header. A fragment
	// whose offset plus length exceeds it is dropped (ping of death).
	MaxPayload = 65535 - 20

	// maxDatagram is the largest IPv4 total length, header included.
	maxDatagram = 65535

	// FragmentOverhead is what each held fragment is charged in
	// Stats.Bytes on top of its payload: its tree entry and slice header.
	FragmentOverhead = 64

	// DatagramOverhead is what each datagram in progress is charged in
	// Stats.Bytes on top of its fragments and first header: its state,
	// map entry and tree root.
	DatagramOverhead = 256
)

// Defaults used for zero fields of Options.
const (
	DefaultHighBytes    = 4 << 20
	DefaultLowBytes     = 3 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxFragments = 64
)

const (
	// btreeDegree suits datagrams of a few to a few hundred fragments.
	btreeDegree = 8
	// freeNodes bounds the B-tree nodes kept for reuse across datagrams.
	freeNodes = 256
	// spareDatagrams bounds the datagram states kept for reuse.
	spareDatagrams = 128
)

// Key identifies a datagram in reassembly (RFC 791 section 3.2): fragments
// belong together when source, destination, identification and protocol
// are equal.
type Key struct {
	Src, Dst [4]byte
	ID       uint16
	Proto    uint8
}

// Options configures a Reassembler. The zero value means the defaults.
type Options struct {
	// HighBytes is the memory bound: when the bytes held (Stats.Bytes)
	// exceed it after a fragment is added, the oldest datagrams are evicted
	// until at most LowBytes remain. Zero or negative means
	// DefaultHighBytes (4 MiB).
	HighBytes int64
	// LowBytes is where eviction stops. Zero or negative means
	// DefaultLowBytes (3 MiB); a value above HighBytes is lowered to
	// HighBytes.
	LowBytes int64
	// Timeout is how long a datagram may wait for its fragments, counted
	// from its first fragment. Zero or negative means DefaultTimeout (30 s).
	Timeout time.Duration
	// Clock returns the current time. Nil means time.Now; tests use a
	// fake clock.
	Clock func() time.Time
	// MaxFragments is the most fragments one datagram may hold; the
	// fragment that would exceed it drops the datagram. Zero or negative
	// means DefaultMaxFragments (64).
	MaxFragments int
}

// DefaultOptions returns the options that the zero Options stands for.
func DefaultOptions() Options {
	return Options{
		HighBytes:    DefaultHighBytes,
		LowBytes:     DefaultLowBytes,
		Timeout:      DefaultTimeout,
		Clock:        time.Now,
		MaxFragments: DefaultMaxFragments,
	}
}

func (o Options) withDefaults() Options {
	if o.HighBytes <= 0 {
		o.HighBytes = DefaultHighBytes
	}
	if o.LowBytes <= 0 {
		o.LowBytes = DefaultLowBytes
	}
	if o.LowBytes > o.HighBytes {
		o.LowBytes = o.HighBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxFragments <= 0 {
		o.MaxFragments = DefaultMaxFragments
	}
	return o
}

// Stats counts what a Reassembler did. Counters of datagrams count each
// datagram once, under the reason it was dropped for.
type Stats struct {
	// Fragments counts calls to Process.
	Fragments uint64
	// Reassembled counts datagrams completed and returned.
	Reassembled uint64
	// Timeouts counts datagrams dropped because Timeout passed.
	Timeouts uint64
	// Evicted counts datagrams dropped to bring memory below LowBytes.
	Evicted uint64
	// BadOffset counts fragments with an offset not a multiple of 8, a
	// non-final fragment that is empty or whose length is not a multiple of
	// 8, or data past MaxPayload; and completed datagrams whose first
	// header plus payload would exceed 65535 bytes.
	BadOffset uint64
	// Overlap counts fragments that overlap data held, other than exact
	// duplicates.
	Overlap uint64
	// Duplicate counts exact duplicates (same offset, length and bytes),
	// which are ignored.
	Duplicate uint64
	// ConflictingEnd counts final fragments that disagree with the known
	// end or with data received, and fragments extending past the known
	// end.
	ConflictingEnd uint64
	// TooManyFragments counts datagrams dropped for exceeding MaxFragments.
	TooManyFragments uint64
	// DroppedDatagrams counts datagrams in progress discarded for any
	// reason above: Timeouts + Evicted + those dropped for a BadOffset,
	// Overlap, ConflictingEnd or TooManyFragments fragment. A bad fragment
	// for a key with no datagram in progress drops no datagram.
	DroppedDatagrams uint64
	// Bytes is the memory held: each fragment's payload plus
	// FragmentOverhead, and each datagram's first header plus
	// DatagramOverhead. It is 0 when no datagram is in progress.
	Bytes int64
	// Datagrams is the number of datagrams in progress.
	Datagrams int
}

// A Reassembler reassembles IPv4 datagrams from their fragments. It is
// safe for concurrent use.
type Reassembler struct {
	opts Options

	mu        sync.Mutex
	datagrams map[Key]*datagram
	// head is the oldest datagram, tail the newest; datagrams are linked
	// in order of creation, and creation times never decrease along it.
	head, tail *datagram
	bytes      int64
	stats      Stats
	freelist   *btree.FreeListG[frag]
	spare      []*datagram
}

// New returns a Reassembler configured by opts; zero fields take their
// defaults (see Options).
func New(opts Options) *Reassembler {
	return &Reassembler{
		opts:      opts.withDefaults(),
		datagrams: make(map[Key]*datagram),
		freelist:  btree.NewFreeListG[frag](freeNodes),
	}
}

// Process adds one fragment of the datagram k.
//
// offset is the fragment's offset in bytes (the header's fragment offset
// times 8), more its MF flag, payload its IP payload and hdr its IP header.
// Process copies what it keeps, so the caller may reuse hdr and payload
// when it returns. The header of the first fragment (offset 0) to arrive is
// kept.
//
// When the fragment completes the datagram, Process returns the reassembled
// payload, the first fragment's header and done=true; both buffers belong
// to the caller from then on. Otherwise it returns done=false: the datagram
// is incomplete, or the fragment was dropped (see the package
// documentation for the policy; every drop is counted in Stats).
//
// Process also drops datagrams whose Timeout has passed. It never panics.
func (r *Reassembler) Process(k Key, hdr []byte, offset uint16, more bool, payload []byte) (payloadOut []byte, firstHdr []byte, done bool) {
	r.mu.Lock()
	defer r.mu.Unlock()

	now := r.opts.Clock()
	r.stats.Fragments++
	r.expire(now)

	off := int(offset)
	n := len(payload)
	end := off + n
	d := r.datagrams[k]

	if off%8 != 0 || end > MaxPayload || (more && (n == 0 || n%8 != 0)) {
		r.stats.BadOffset++
		if d != nil {
			r.drop(d)
		}
		return nil, nil, false
	}
	if d == nil {
		d = r.create(k, now)
	}

	// The end: a final fragment sets it, and nothing may pass it.
	if more {
		if d.hasEnd && end > d.end {
			r.stats.ConflictingEnd++
			r.drop(d)
			return nil, nil, false
		}
	} else if (d.hasEnd && end != d.end) || (!d.hasEnd && end < d.maxEnd) {
		r.stats.ConflictingEnd++
		r.drop(d)
		return nil, nil, false
	}

	if n == 0 {
		// An empty final fragment only marks the end.
		if d.hasEnd {
			r.stats.Duplicate++
			return nil, nil, false
		}
		d.hasEnd, d.end = true, end
		if off == 0 {
			r.setHeader(d, hdr)
		}
	} else {
		switch d.check(off, end, payload) {
		case duplicate:
			r.stats.Duplicate++
			return nil, nil, false
		case overlap:
			r.stats.Overlap++
			r.drop(d)
			return nil, nil, false
		}
		if d.frags.Len() >= r.opts.MaxFragments {
			r.stats.TooManyFragments++
			r.drop(d)
			return nil, nil, false
		}
		r.insert(d, off, payload)
		if off == 0 {
			r.setHeader(d, hdr)
		}
		if !more {
			d.hasEnd, d.end = true, end
		}
	}

	if d.hasEnd && d.received == d.end {
		return r.complete(d)
	}
	if r.bytes > r.opts.HighBytes {
		r.evict()
	}
	return nil, nil, false
}

// Expire drops the datagrams whose Timeout has passed. The IPv4 layer
// calls it periodically; Process also does it lazily.
func (r *Reassembler) Expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(r.opts.Clock())
}

// Stats returns a snapshot of the counters.
func (r *Reassembler) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Bytes = r.bytes
	s.Datagrams = len(r.datagrams)
	return s
}

// expire drops timed-out datagrams from the head of the list. Creation
// times never decrease along the list, so it stops at the first datagram
// still in time.
func (r *Reassembler) expire(now time.Time) {
	for d := r.head; d != nil; d = r.head {
		if now.Sub(d.created) < r.opts.Timeout {
			return
		}
		r.stats.Timeouts++
		r.stats.DroppedDatagrams++
		r.free(d)
	}
}

// evict drops the oldest datagrams until at most LowBytes are held.
func (r *Reassembler) evict() {
	for r.bytes > r.opts.LowBytes && r.head != nil {
		r.stats.Evicted++
		r.stats.DroppedDatagrams++
		r.free(r.head)
	}
}

// drop discards a datagram for breaking the policy.
func (r *Reassembler) drop(d *datagram) {
	r.stats.DroppedDatagrams++
	r.free(d)
}

// complete assembles d into a new buffer and frees it.
func (r *Reassembler) complete(d *datagram) ([]byte, []byte, bool) {
	hdr := d.hdr
	if len(hdr)+d.end > maxDatagram {
		// The first header carries options, so the datagram would be
		// longer than IPv4 allows.
		r.stats.BadOffset++
		r.drop(d)
		return nil, nil, false
	}
	buf := make([]byte, d.end)
	d.frags.Ascend(func(f frag) bool {
		copy(buf[f.off:], f.data)
		return true
	})
	d.hdr = nil // handed to the caller
	r.stats.Reassembled++
	r.free(d)
	return buf, hdr, true
}

// create starts a datagram for k and links it at the tail of the list.
func (r *Reassembler) create(k Key, now time.Time) *datagram {
	var d *datagram
	if n := len(r.spare); n > 0 {
		d = r.spare[n-1]
		r.spare[n-1] = nil
		r.spare = r.spare[:n-1]
	} else {
		d = &datagram{frags: btree.NewWithFreeListG(btreeDegree, fragLess, r.freelist)}
	}
	d.key = k
	// Keep creation times monotonic along the list even if the clock
	// steps back, so that expire can stop at the first live datagram.
	d.created = now
	if r.tail != nil && now.Before(r.tail.created) {
		d.created = r.tail.created
	}
	d.prev = r.tail
	if r.tail != nil {
		r.tail.next = d
	} else {
		r.head = d
	}
	r.tail = d
	d.bytes = DatagramOverhead
	r.bytes += DatagramOverhead
	r.datagrams[k] = d
	return d
}

// insert stores a copy of payload at off in d.
func (r *Reassembler) insert(d *datagram, off int, payload []byte) {
	data := make([]byte, len(payload))
	copy(data, payload)
	d.frags.ReplaceOrInsert(frag{off: off, data: data})
	cost := int64(len(data)) + FragmentOverhead
	d.bytes += cost
	r.bytes += cost
	d.received += len(data)
	if e := off + len(data); e > d.maxEnd {
		d.maxEnd = e
	}
}

// setHeader keeps a copy of the first header seen at offset 0.
func (r *Reassembler) setHeader(d *datagram, hdr []byte) {
	if d.haveHdr {
		return
	}
	d.haveHdr = true
	d.hdr = make([]byte, len(hdr))
	copy(d.hdr, hdr)
	d.bytes += int64(len(hdr))
	r.bytes += int64(len(hdr))
}

// free unlinks d, releases its memory and keeps its state for reuse.
func (r *Reassembler) free(d *datagram) {
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		r.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		r.tail = d.prev
	}
	delete(r.datagrams, d.key)
	r.bytes -= d.bytes
	frags := d.frags
	frags.Clear(true)
	*d = datagram{frags: frags}
	if len(r.spare) < spareDatagrams {
		r.spare = append(r.spare, d)
	}
}
