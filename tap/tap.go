package tap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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
	DefaultSnaplen       = 262144
	DefaultMaxFrame      = 9216
	DefaultBufferSize    = 256 << 10
	DefaultBuffers       = 16
	DefaultFlushInterval = 10 * time.Millisecond
	DefaultStallTimeout  = 2 * time.Second

	// MaxSnaplen is libpcap's MAXIMUM_SNAPLEN; readers reject more.
	MaxSnaplen = 262144
	// MaxBufferSize bounds Options.BufferSize.
	MaxBufferSize = 64 << 20
	// MaxBuffers bounds Options.Buffers.
	MaxBuffers = 64
	// MaxQueues bounds the receive queue numbers a Tap takes: Capture
	// drops (and counts in Stats.Dropped) frames of queues outside
	// [0, MaxQueues).
	MaxQueues = 1024
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
	// MaxFrame also bounds the bytes kept of a frame (default 9216): a
	// record keeps at most min(Snaplen, MaxFrame) bytes, the snap length
	// written in the file's header. It keeps the smallest buffer small
	// while Snaplen keeps libpcap's default.
	MaxFrame int
	// BufferSize is the size in bytes of one capture buffer (default
	// 256 KiB, and never less than one record of the snap length). Capture
	// encodes records into the current buffer of their receive queue; a
	// buffer goes to the writer whole.
	BufferSize int
	// Buffers is how many buffers each receive queue has (default 16),
	// allocated when the queue's first frame arrives: one being filled,
	// the others waiting for or in the writer. When all are with the
	// writer, Capture drops frames (Stats.Dropped) until one comes back.
	// Buffers × BufferSize is how far the writer may fall behind: the
	// default 4 MiB is 50ms of 64-byte frames at 1 Mpps, enough for a
	// writer thread that waits for a CPU behind busy pollers.
	Buffers int
	// FlushInterval bounds how long a captured frame can wait in a
	// partly filled buffer (default 10ms): EndBatch hands a buffer to the
	// writer once its first record is that old by Clock, and the writer
	// takes the buffer of a queue that stayed idle that long. Smaller
	// keeps a pipe to tcpdump fresher at the cost of more, smaller
	// writes.
	FlushInterval time.Duration
	// RotateBytes, for a Tap made by Create, starts a new file when the
	// next record would take the current one past this many bytes (0:
	// never). The full file is renamed to path.N with N = 1, 2, 3, ...
	// (the lowest unused number above the last one; higher is newer) and
	// a new file, with its own header, is started at path. A file only
	// exceeds RotateBytes if a single record does.
	RotateBytes int64
	// Clock gives the batch timestamp (default time.Now), read once per
	// batch, by the first frame the batch captures; every frame the batch
	// captures carries it. Timestamps are written with nanosecond
	// resolution.
	Clock func() time.Time
	// StallTimeout bounds how long Flush, Reopen and Close wait for a
	// writer that is stuck in Write (default 2s); past it they return an
	// error wrapping ErrStalled. Capture never waits at all.
	StallTimeout time.Duration
}

var (
	// ErrStalled is wrapped by Flush, Reopen and Close when the writer
	// goroutine did not answer within Options.StallTimeout, because the
	// output is blocked (a pipe nobody reads, a hung NFS server...) or a
	// batch was never ended.
	ErrStalled = errors.New("tap writer stalled")
	// ErrNotFile is returned by Reopen on a Tap made by New: there is no
	// path to reopen.
	ErrNotFile = errors.New("tap does not own a file")
)

// Stats are a Tap's counters. Every frame passed to Capture is counted in
// Seen and then in exactly one of Filtered, Dropped or Queued; a queued
// frame ends in Written or WriteErrors.
//
// A queue's capture counters are published when its batch ends
// (EndBatch) and when one of its buffers goes to the writer, so they lag
// a batch in progress; Written never runs ahead of Queued.
type Stats struct {
	Seen     uint64 // frames passed to Capture
	Filtered uint64 // rejected by Options.Expr
	Queued   uint64 // encoded into a buffer for the writer
	Written  uint64 // records that reached the output (writer accepted the bytes)
	// Dropped counts frames that found no room: every buffer of their
	// queue was with the writer, which is behind or blocked. Frames
	// passed to Capture after Close, or on a queue number outside
	// [0, MaxQueues), count here too.
	Dropped uint64
	// Truncated counts queued frames cut by Snaplen or MaxFrame.
	Truncated uint64
	// WriteErrors counts queued frames lost because writing them to the
	// output failed (the write error and every record written with it).
	WriteErrors uint64
	// Bytes is what reached the output: file headers and records.
	Bytes uint64
	// Rotations counts files started because of RotateBytes.
	Rotations uint64
}

// A Tap captures frames from the receive path into a pcap or pcapng stream.
//
// Capture and EndBatch are called by the poller of a receive queue: calls
// for one queue must not overlap, calls for different queues may run
// concurrently, and neither ever blocks or allocates once the queue's
// buffers exist. Stats, Flush, Reopen and Close are safe for concurrent use
// from any goroutine.
type Tap struct {
	opts     Options
	snaplen  int // effective: min(Snaplen, MaxFrame)
	ng       bool
	clock    func() time.Time
	interval int64 // FlushInterval in ns
	vm       *bpf.VM

	queues [MaxQueues]atomic.Pointer[queueState]
	mu     sync.Mutex    // serialises queue creation against Close
	list   []*queueState // every queue made so far, guarded by mu

	// off counts the frames Capture turned away before any queue's
	// batch opened: closed, writer-held or out-of-range queues.
	off struct{ seen, dropped atomic.Uint64 }

	full    chan *buffer  // buffers for the writer, in hand-off order
	kick    chan struct{} // a buffer got its first record; cap 1
	ticking atomic.Bool   // the writer's flush timer is armed

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
	if opts.MaxFrame == 0 {
		opts.MaxFrame = DefaultMaxFrame
	}
	if opts.Buffers == 0 {
		opts.Buffers = DefaultBuffers
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = DefaultFlushInterval
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
	case opts.MaxFrame < 0:
		return nil, fmt.Errorf("tap: negative max frame %d", opts.MaxFrame)
	case opts.Buffers < 0 || opts.Buffers > MaxBuffers:
		return nil, fmt.Errorf("tap: buffers %d out of range [1, %d]", opts.Buffers, MaxBuffers)
	case opts.RotateBytes < 0:
		return nil, fmt.Errorf("tap: negative rotate bytes %d", opts.RotateBytes)
	case opts.FlushInterval < 0:
		return nil, fmt.Errorf("tap: negative flush interval %v", opts.FlushInterval)
	case opts.StallTimeout < 0:
		return nil, fmt.Errorf("tap: negative stall timeout %v", opts.StallTimeout)
	}
	t := &Tap{
		opts:     opts,
		snaplen:  min(opts.Snaplen, opts.MaxFrame),
		ng:       opts.Format == PCAPNG,
		clock:    opts.Clock,
		interval: int64(opts.FlushInterval),
		full:     make(chan *buffer, MaxQueues*opts.Buffers),
		kick:     make(chan struct{}, 1),
		ctl:      make(chan request),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	// A buffer holds at least one record of the snap length.
	least := t.recordLen(t.snaplen)
	switch {
	case opts.BufferSize == 0:
		t.opts.BufferSize = max(DefaultBufferSize, least)
	case opts.BufferSize < least || opts.BufferSize > MaxBufferSize:
		return nil, fmt.Errorf("tap: buffer size %d out of range [%d (one %d-byte frame), %d]",
			opts.BufferSize, least, t.snaplen, MaxBufferSize)
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
	return t, nil
}

func (t *Tap) start() { go t.w.run() }

// queueList returns the queues made so far.
func (t *Tap) queueList() []*queueState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.list
}

// Stats returns the counters. It is safe for concurrent use.
func (t *Tap) Stats() Stats {
	var st Stats
	// The writer's counters first: every record it counts was published
	// as Queued before its buffer reached it, so Written + WriteErrors
	// read here never exceeds the Queued read below.
	w := t.w
	st.Written = w.written.Load()
	st.WriteErrors = w.writeErrors.Load()
	st.Bytes = w.bytes.Load()
	st.Rotations = w.rotations.Load()
	for _, q := range t.queueList() {
		p := &q.pub
		st.Seen += p.seen.Load()
		st.Filtered += p.filtered.Load()
		st.Queued += p.queued.Load()
		st.Dropped += p.dropped.Load()
		st.Truncated += p.truncated.Load()
	}
	st.Seen += t.off.seen.Load()
	st.Dropped += t.off.dropped.Load()
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

// Flush waits until every frame captured before the call has been
// written: the buffers already handed off, and the partly filled buffer
// of every queue, which the writer takes between two batches (a batch
// open at the call is taken when its EndBatch comes). It returns the
// first write error since the previous Flush, if any; os.ErrClosed after
// Close; and an error wrapping ErrStalled if the writer does not finish
// within Options.StallTimeout.
func (t *Tap) Flush() error {
	if err := t.call(reqFlush); err != nil {
		return fmt.Errorf("tap: flush: %w", err)
	}
	return nil
}

// Reopen makes the writer finish the buffer in hand, close its file and
// start a new file, with a new header, at the path given to Create; use it
// on SIGHUP after moving the file away (whatever is at path is
// truncated). Frames keep being captured meanwhile. It fails with
// ErrNotFile for a Tap made by New; if the new file cannot be opened the
// error is returned, frames are lost (WriteErrors) and a later Reopen may
// retry.
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

// Close stops the tap: later Captures return false, and the writer takes
// every queue's buffers (waiting up to Options.StallTimeout for a batch
// still open to end), writes them in order, writes the headers, closes
// the file it opened (never a writer passed to New) and exits. Close
// returns the first write error since the last Flush. If the writer is
// stuck in Write for longer than Options.StallTimeout, Close gives up and
// returns an error wrapping ErrStalled; it closes a file it opened to
// unblock the writer, but a writer passed to New stays with its goroutine
// until its Write returns. Frames captured concurrently with Close may be
// lost. Close is idempotent: later calls return nil.
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
