package tap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/tap/pcapexpr"
	"golang.org/x/net/bpf"
)

// Format is the capture file format.
type Format int

const (
	// PCAP is the classic libpcap format with nanosecond timestamps
	// (magic 0xa1b23c4d) and LINKTYPE_ETHERNET.
	PCAP Format = iota
	// PCAPNG is pcapng with one interface description block per receive
	// queue, named "queueN", with nanosecond timestamps.
	PCAPNG
)

// String returns "pcap" or "pcapng".
func (f Format) String() string {
	switch f {
	case PCAP:
		return "pcap"
	case PCAPNG:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Defaults and limits for Options.
const (
	DefaultSnaplen      = 262144
	DefaultQueueSize    = 4096
	DefaultMaxFrame     = 9216
	DefaultStallTimeout = 2 * time.Second

	// MaxSnaplen is libpcap's MAXIMUM_SNAPLEN; readers reject more.
	MaxSnaplen = 262144
	// MaxQueueSize bounds the preallocated pool (QueueSize × MaxFrame bytes).
	MaxQueueSize = 1 << 20
)

// Options configure a Tap. The zero value is a pcap capture of every frame
// with the defaults below.
type Options struct {
	// Format of the output; PCAP by default.
	Format Format
	// Snaplen is the most bytes of a frame kept in the capture (default
	// 262144); longer frames are truncated, so their record's caplen is
	// less than their len.
	Snaplen int
	// Expr is an optional capture expression in tcpdump's syntax,
	// pcap-filter(7): "udp port 53 or arp". New and Create compile it to classic
	// BPF with package pcapexpr (which lists the supported subset), and
	// Capture runs the program on every frame; the frames it rejects
	// count in Stats.Filtered. Empty: every frame is captured.
	Expr string
	// QueueSize is how many frames can wait for the writer (default 4096).
	QueueSize int
	// MaxFrame is the size of a queue slot (default 9216); longer frames
	// are truncated to it. The pool is QueueSize × min(MaxFrame, Snaplen)
	// bytes, allocated once in New.
	MaxFrame int
	// RotateBytes, for a Tap made by Create, starts a new file when the
	// next record would take the current one past this many bytes (0:
	// never). The full file is renamed to path.N with N = 1, 2, 3, ...
	// (the lowest unused number above the last one; higher is newer) and
	// a new file, with its own header, is started at path. A file only
	// exceeds RotateBytes if a single record does.
	RotateBytes int64
	// Clock gives the arrival timestamp, taken in Capture (default
	// time.Now). Timestamps are written with nanosecond resolution.
	Clock func() time.Time
	// StallTimeout bounds how long Flush, Reopen and Close wait for a
	// writer that is stuck in Write (default 2s); past it they return an
	// error wrapping ErrStalled. Capture never waits at all.
	StallTimeout time.Duration
}

var (
	// ErrStalled is wrapped by Flush, Reopen and Close when the writer
	// goroutine did not answer within Options.StallTimeout, because the
	// output is blocked (a pipe nobody reads, a hung NFS server...).
	ErrStalled = errors.New("tap writer stalled")
	// ErrNotFile is returned by Reopen on a Tap made by New: there is no
	// path to reopen.
	ErrNotFile = errors.New("tap does not own a file")
)

// Stats are a Tap's counters. Every frame passed to Capture is counted in
// Seen and then in exactly one of Filtered, Dropped or Queued; a queued
// frame ends in Written or WriteErrors.
type Stats struct {
	Seen     uint64 // frames passed to Capture
	Filtered uint64 // rejected by Options.Expr
	Queued   uint64 // copied into a slot for the writer
	Written  uint64 // records that reached the output (writer accepted the bytes)
	// Dropped counts frames that found no free slot: the writer is behind
	// or blocked. Frames passed to Capture after Close count here too.
	Dropped uint64
	// Truncated counts queued frames cut by Snaplen or MaxFrame.
	Truncated uint64
	// WriteErrors counts queued frames lost because writing them to the
	// output failed (the write error and every frame buffered with it).
	WriteErrors uint64
	// Bytes is what reached the output: file headers and records.
	Bytes uint64
	// Rotations counts files started because of RotateBytes.
	Rotations uint64
}

// shard holds the counters Capture updates, one per group of queues, so
// pollers on different CPUs do not share a cache line.
type shard struct {
	seen, filtered, queued, dropped, truncated atomic.Uint64
	_                                          [128 - 5*8]byte
}

const shardCount = 16

// slotMeta describes the frame in a slot; written by Capture before the
// slot index is sent on full, read by the writer after receiving it.
type slotMeta struct {
	ts     int64 // arrival, Unix nanoseconds
	length uint32
	caplen uint32
	queue  int32
}

// A Tap captures frames from the receive path into a pcap or pcapng stream.
//
// Capture is safe for concurrent use by any number of pollers and never
// blocks or allocates. Stats, Flush, Reopen and Close are safe for
// concurrent use too.
type Tap struct {
	opts     Options
	snaplen  int // effective: min(Snaplen, MaxFrame)
	clock    func() time.Time
	vm       *bpf.VM
	slotSize int
	pool     []byte
	meta     []slotMeta
	free     chan uint32 // slots Capture may fill
	full     chan uint32 // slots waiting for the writer, in capture order

	shards [shardCount]shard
	closed atomic.Bool

	ctl    chan request
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the writer goroutine returns

	w *writer // owned by the writer goroutine once started
}

// New starts a Tap that writes to w, which it never closes. The file
// header is buffered, not written, so New does not block on w; the
// writer goroutine started here does all the writing. A bad expression
// (wrapping pcapexpr.ErrExpr) or option is an error and nothing is
// started.
func New(w io.Writer, opts Options) (*Tap, error) {
	if w == nil {
		return nil, errors.New("tap: nil writer")
	}
	t, err := newTap(opts)
	if err != nil {
		return nil, err
	}
	t.w = newWriter(t, w, nil, "")
	t.start()
	return t, nil
}

// Create starts a Tap writing a new file at path (truncating any file
// there, mode 0600: captures hold traffic). Only a Tap made by Create
// rotates (Options.RotateBytes) and can Reopen.
func Create(path string, opts Options) (*Tap, error) {
	t, err := newTap(opts)
	if err != nil {
		return nil, err
	}
	f, err := openCapture(path)
	if err != nil {
		return nil, fmt.Errorf("tap: create %s: %w", path, err)
	}
	t.w = newWriter(t, f, f, path)
	t.start()
	return t, nil
}

func newTap(opts Options) (*Tap, error) {
	if opts.Format != PCAP && opts.Format != PCAPNG {
		return nil, fmt.Errorf("tap: unknown format %v", opts.Format)
	}
	if opts.Snaplen == 0 {
		opts.Snaplen = DefaultSnaplen
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxFrame == 0 {
		opts.MaxFrame = DefaultMaxFrame
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	switch {
	case opts.Snaplen < 0 || opts.Snaplen > MaxSnaplen:
		return nil, fmt.Errorf("tap: snaplen %d out of range [1, %d]", opts.Snaplen, MaxSnaplen)
	case opts.QueueSize < 0 || opts.QueueSize > MaxQueueSize:
		return nil, fmt.Errorf("tap: queue size %d out of range [1, %d]", opts.QueueSize, MaxQueueSize)
	case opts.MaxFrame < 0:
		return nil, fmt.Errorf("tap: negative max frame %d", opts.MaxFrame)
	case opts.RotateBytes < 0:
		return nil, fmt.Errorf("tap: negative rotate bytes %d", opts.RotateBytes)
	case opts.StallTimeout < 0:
		return nil, fmt.Errorf("tap: negative stall timeout %v", opts.StallTimeout)
	}
	t := &Tap{
		opts:    opts,
		snaplen: min(opts.Snaplen, opts.MaxFrame),
		clock:   opts.Clock,
		ctl:     make(chan request),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if opts.Expr != "" {
		prog, err := pcapexpr.Compile(opts.Expr)
		if err != nil {
			return nil, fmt.Errorf("tap: %w", err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			return nil, fmt.Errorf("tap: %w %q: %w", pcapexpr.ErrExpr, opts.Expr, err)
		}
		t.vm = vm
	}
	t.slotSize = t.snaplen
	t.pool = make([]byte, opts.QueueSize*t.slotSize)
	t.meta = make([]slotMeta, opts.QueueSize)
	t.free = make(chan uint32, opts.QueueSize)
	t.full = make(chan uint32, opts.QueueSize)
	for i := range opts.QueueSize {
		t.free <- uint32(i)
	}
	return t, nil
}

func (t *Tap) start() { go t.w.run() }

// Capture offers one received frame, from receive queue queue, to the tap.
// It runs Options.Expr's program, then copies the frame (up to the snap
// length) into a free slot for the writer goroutine and returns true. It
// returns false, counting why, when the program rejects the frame or no
// slot is free: it never waits for the writer, never allocates, and does
// not retain frame.
//
// Capture is safe for concurrent use; pollers call it for every frame,
// before any parsing.
func (t *Tap) Capture(frame []byte, queue int) bool {
	s := &t.shards[uint(queue)%shardCount]
	s.seen.Add(1)
	if t.closed.Load() {
		s.dropped.Add(1)
		return false
	}
	if t.vm != nil {
		if n, err := t.vm.Run(frame); err != nil || n == 0 {
			s.filtered.Add(1)
			return false
		}
	}
	var i uint32
	select {
	case i = <-t.free:
	default:
		s.dropped.Add(1)
		return false
	}
	n := copy(t.pool[int(i)*t.slotSize:int(i+1)*t.slotSize], frame)
	if n < len(frame) {
		s.truncated.Add(1)
	}
	t.meta[i] = slotMeta{ts: t.clock().UnixNano(), length: uint32(len(frame)), caplen: uint32(n), queue: int32(queue)}
	// Never blocks: full has room for every slot there is.
	t.full <- i
	s.queued.Add(1)
	return true
}

// Stats returns the counters. It is safe for concurrent use.
func (t *Tap) Stats() Stats {
	var st Stats
	for i := range t.shards {
		s := &t.shards[i]
		st.Seen += s.seen.Load()
		st.Filtered += s.filtered.Load()
		st.Queued += s.queued.Load()
		st.Dropped += s.dropped.Load()
		st.Truncated += s.truncated.Load()
	}
	w := t.w
	st.Written = w.written.Load()
	st.WriteErrors = w.writeErrors.Load()
	st.Bytes = w.bytes.Load()
	st.Rotations = w.rotations.Load()
	return st
}

type reqKind int

const (
	reqFlush reqKind = iota
	reqReopen
)

type request struct {
	kind  reqKind
	reply chan error // buffered, so the writer never waits for the caller
}

// Flush waits until every frame queued before the call has been written
// and the output buffer pushed to the writer. It returns the first write
// error since the previous Flush, if any; os.ErrClosed after Close; and an
// error wrapping ErrStalled if the writer does not finish within
// Options.StallTimeout.
func (t *Tap) Flush() error {
	if err := t.call(reqFlush); err != nil {
		return fmt.Errorf("tap: flush: %w", err)
	}
	return nil
}

// Reopen makes the writer finish the record in hand, close its file and
// start a new file, with a new header, at the path given to Create; use it
// on SIGHUP after moving the file away (whatever is at path is
// truncated). Frames keep being queued meanwhile. It fails with ErrNotFile
// for a Tap made by New; if the new file cannot be opened the error is
// returned, frames are lost (WriteErrors) and a later Reopen may retry.
func (t *Tap) Reopen() error {
	if t.w.path == "" {
		return fmt.Errorf("tap: reopen: %w", ErrNotFile)
	}
	if err := t.call(reqReopen); err != nil {
		return fmt.Errorf("tap: reopen %s: %w", t.w.path, err)
	}
	return nil
}

func (t *Tap) call(kind reqKind) error {
	if t.closed.Load() {
		return os.ErrClosed
	}
	req := request{kind: kind, reply: make(chan error, 1)}
	timer := time.NewTimer(t.opts.StallTimeout)
	defer timer.Stop()
	select {
	case t.ctl <- req:
	case <-t.exited:
		return os.ErrClosed
	case <-timer.C:
		return fmt.Errorf("%w: no answer in %v", ErrStalled, t.opts.StallTimeout)
	}
	select {
	case err := <-req.reply:
		return err
	case <-timer.C:
		return fmt.Errorf("%w: no answer in %v", ErrStalled, t.opts.StallTimeout)
	}
}

// Close stops the tap: later Captures return false, the writer writes what
// is queued, flushes, closes the file it opened (never a writer passed to
// New) and exits. Close returns the first write error since the last
// Flush. If the writer is stuck in Write for longer than
// Options.StallTimeout, Close gives up and returns an error wrapping
// ErrStalled; it closes a file it opened to unblock the writer, but a
// writer passed to New stays with its goroutine until its Write returns.
// Frames captured concurrently with Close may be lost. Close is
// idempotent: later calls return nil.
func (t *Tap) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(t.done)
	timer := time.NewTimer(t.opts.StallTimeout)
	defer timer.Stop()
	select {
	case <-t.exited:
		if err := t.w.closeErr; err != nil {
			return fmt.Errorf("tap: close: %w", err)
		}
		return nil
	case <-timer.C:
	}
	t.w.abort()
	return fmt.Errorf("tap: close: %w: writer still blocked after %v", ErrStalled, t.opts.StallTimeout)
}
