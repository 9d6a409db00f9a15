package tap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// retryEvery is how often Flush and Close try again to take the buffer of
// a queue whose batch is open.
const retryEvery = 100 * time.Microsecond

var _ io.Writer = (*outBuf)(nil)

// outBuf holds the file and interface headers the writer has encoded and
// not written yet. The encoders write into it and it never fails, so an
// encoder never sees (and never keeps) an I/O error, as a bufio.Writer
// would; the writer moves the bytes to the output itself.
type outBuf struct {
	b     []byte
	total int64 // bytes ever appended
}

func (o *outBuf) Write(p []byte) (int, error) {
	o.b = append(o.b, p...)
	o.total += int64(len(p))
	return len(p), nil
}

// writer is the state of the writer goroutine; only that goroutine touches
// it, except the atomics (Stats) and file (Close's abort).
type writer struct {
	t    *Tap
	dst  io.Writer // nil while a reopened file could not be opened
	path string    // set for Create
	file atomic.Pointer[os.File]

	hdr       outBuf           // headers for the current file, not written yet
	ng        *pcapgo.NgWriter // encodes pcapng's section and interface blocks
	ngIfaces  map[int32]uint32 // queue -> interface id in the current section
	fileBytes int64            // bytes of the current file, headers included
	fileRecs  int              // records in the current file
	rotateSeq int

	tick  *time.Timer // the flush timer: takes buffers of idle queues
	armed bool

	err      error // first error since the last Flush
	closeErr error // set before exited is closed

	written, writeErrors, bytes, rotations atomic.Uint64
}

func newWriter(t *Tap, dst io.Writer, f *os.File, path string) *writer {
	w := &writer{t: t, dst: dst, path: path}
	w.file.Store(f)
	w.tick = time.NewTimer(time.Hour)
	w.tick.Stop()
	w.startFile()
	return w
}

func openCapture(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

// startFile encodes a file header into hdr for a new file.
func (w *writer) startFile() {
	w.fileBytes, w.fileRecs = 0, 0
	start := w.hdr.total
	defer func() { w.fileBytes += w.hdr.total - start }()
	snap := uint32(w.t.snaplen)
	switch w.t.opts.Format {
	case PCAP:
		w.setErr(pcapgo.NewWriterNanos(&w.hdr).WriteFileHeader(snap, layers.LinkTypeEthernet))
	case PCAPNG:
		ng, err := pcapgo.NewNgWriterInterface(&w.hdr, ngInterface(0, snap), pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Application: "rxpath", OS: runtime.GOOS, Hardware: runtime.GOARCH},
		})
		if err != nil {
			w.setErr(err)
			return
		}
		w.ng = ng
		w.ngIfaces = map[int32]uint32{0: 0}
		w.setErr(ng.Flush())
	}
}

func ngInterface(queue int32, snap uint32) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                "queue" + strconv.Itoa(int(queue)),
		Description:         "rxpath receive queue " + strconv.Itoa(int(queue)),
		OS:                  runtime.GOOS,
		LinkType:            layers.LinkTypeEthernet,
		SnapLength:          snap,
		TimestampResolution: 9,
	}
}

// ngInterface returns queue's interface id in the current section, adding
// its description block to hdr the first time.
func (w *writer) ngInterface(queue int32) uint32 {
	if id, ok := w.ngIfaces[queue]; ok {
		return id
	}
	start := w.hdr.total
	id, err := w.ng.AddInterface(ngInterface(queue, uint32(w.t.snaplen)))
	if err == nil {
		err = w.ng.Flush()
	}
	w.setErr(err)
	w.fileBytes += w.hdr.total - start
	w.ngIfaces[queue] = uint32(id)
	return uint32(id)
}

func (w *writer) setErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
}

func (w *writer) takeErr() error {
	err := w.err
	w.err = nil
	return err
}

func (w *writer) run() {
	t := w.t
	defer close(t.exited)
	for {
		select {
		case b := <-t.full:
			w.write(b)
		case <-t.kick:
			w.arm()
		case <-w.tick.C:
			w.onTick()
		case r := <-t.ctl:
			w.handle(r)
		case <-t.done:
			w.shutdown()
			return
		}
	}
}

// arm starts the flush timer, unless it runs.
func (w *writer) arm() {
	if w.armed {
		return
	}
	w.armed = true
	w.t.ticking.Store(true)
	w.tick.Reset(w.t.opts.FlushInterval)
}

// onTick takes the buffer of every queue that has held the same buffer
// in hand since the previous tick, a FlushInterval ago: its poller went
// quiet before the buffer filled or aged at an EndBatch. The timer runs
// again while some queue holds records, and sleeps (until a new buffer's
// first record kicks it) when none does.
func (w *writer) onTick() {
	t := w.t
	w.armed = false
	pending := false
	for _, q := range t.queueList() {
		s := q.inHand.Load()
		if s == 0 {
			continue
		}
		if s != q.tickSeq {
			q.tickSeq = s
			pending = true
			continue
		}
		if !w.take(q, stIdle) {
			pending = true // a batch is open; its EndBatch hands it off
		}
	}
	if !pending {
		t.ticking.Store(false)
		// A poller that saw ticking true before the store did not kick:
		// look again, now that it will.
		for _, q := range t.queueList() {
			if q.inHand.Load() != 0 {
				pending = true
				break
			}
		}
	}
	if pending {
		w.arm()
	}
}

// take takes q's buffer in hand, if q's poller is between batches, and
// writes it after every buffer that left the poller before it, leaving
// the state at to (stIdle, or stClosed for Close). If a batch is open it
// asks the poller to hand the buffer off at EndBatch and returns false.
func (w *writer) take(q *queueState, to uint32) bool {
	t := w.t
	if !q.state.CompareAndSwap(stIdle, stWriter) {
		if q.state.Load() == stBatch {
			q.want.Store(true)
		}
		return false
	}
	b := q.cur
	if b != nil {
		q.cur = nil
		q.handed.Store(b.seq)
		q.inHand.Store(0)
	}
	// Every buffer the poller handed off before is in full by now, and
	// none can join them while the writer holds the queue.
	ahead := len(t.full)
	q.state.Store(to)
	if b != nil {
		for range ahead {
			w.write(<-t.full)
		}
		w.write(b)
	}
	return true
}

func (w *writer) handle(r request) {
	switch r.kind {
	case reqFlush:
		r.reply <- w.flush()
	case reqReopen:
		r.reply <- w.reopen()
	}
}

// flush writes every buffer that holds records captured before the call
// and the pending headers.
func (w *writer) flush() error {
	t := w.t
	type target struct {
		q   *queueState
		seq uint64
	}
	var targets []target
	for _, q := range t.queueList() {
		if s := max(q.inHand.Load(), q.handed.Load()); s > q.written {
			targets = append(targets, target{q, s})
		}
	}
	deadline := time.Now().Add(t.opts.StallTimeout)
	for {
		for _, tg := range targets {
			if tg.q.written < tg.seq {
				w.take(tg.q, stIdle)
			}
		}
		waiting := 0
		for _, tg := range targets {
			if tg.q.written < tg.seq {
				waiting++
			}
		}
		if waiting == 0 {
			break
		}
		if !w.await(deadline) {
			w.setErr(fmt.Errorf("%w: a batch stayed open for %v", ErrStalled, t.opts.StallTimeout))
			break
		}
	}
	w.flushHdr()
	return w.takeErr()
}

// await writes the next buffer handed off, or waits retryEvery for one;
// it returns false past deadline.
func (w *writer) await(deadline time.Time) bool {
	if time.Now().After(deadline) {
		return false
	}
	select {
	case b := <-w.t.full:
		w.write(b)
	case <-time.After(retryEvery):
	}
	return true
}

func (w *writer) shutdown() {
	t := w.t
	// Close set t.closed first: no queue is made after this list.
	deadline := time.Now().Add(t.opts.StallTimeout)
	for _, q := range t.queueList() {
		for !w.take(q, stClosed) {
			if !w.await(deadline) {
				w.setErr(fmt.Errorf("%w: queue %d's batch stayed open for %v; its buffer is lost",
					ErrStalled, q.queue, t.opts.StallTimeout))
				break
			}
		}
	}
	for {
		select {
		case b := <-t.full:
			w.write(b)
			continue
		default:
		}
		break
	}
	w.flushHdr()
	if f := w.file.Load(); f != nil {
		w.setErr(f.Close())
	}
	w.closeErr = w.takeErr()
}

// abort closes the file under a writer stuck in Write, so the Write fails
// and the goroutine can finish. Called by Close after StallTimeout.
func (w *writer) abort() {
	if f := w.file.Load(); f != nil {
		_ = f.Close()
	}
}

// write writes buffer b's records to the output, across as many files
// as RotateBytes makes of them, and gives b back to its queue.
func (w *writer) write(b *buffer) {
	recs, n := b.b, b.recs
	for len(recs) > 0 {
		seg, segN, rotate := w.segment(recs, n, b.q.queue)
		w.out(seg, segN)
		recs, n = recs[len(seg):], n-segN
		if rotate {
			w.rotate()
		}
	}
	b.q.written = b.seq
	b.b, b.recs = b.b[:0], 0
	b.q.free.push(b)
}

// segment returns the leading records of recs (n records) that go to the
// current file, and whether the file must rotate after them. For pcapng
// it sets their interface id to queue's in the current section.
func (w *writer) segment(recs []byte, n int, queue int32) (seg []byte, segN int, rotate bool) {
	t := w.t
	var id uint32
	if w.ng != nil && w.dst != nil {
		id = w.ngInterface(queue)
	}
	limit := t.opts.RotateBytes
	if limit <= 0 || w.path == "" || w.dst == nil || w.fileBytes+int64(len(recs)) <= limit {
		seg, segN = recs, n
	} else {
		size, off := w.fileBytes, 0
		for off < len(recs) {
			l := t.recordAt(recs[off:])
			if (w.fileRecs > 0 || segN > 0) && size+int64(l) > limit {
				rotate = true
				break
			}
			size += int64(l)
			off += l
			segN++
		}
		seg = recs[:off]
	}
	if w.ng != nil && id != 0 {
		for off := 0; off < len(seg); off += t.recordAt(seg[off:]) {
			le.PutUint32(seg[off+8:], id)
		}
	}
	return seg, segN, rotate
}

// out writes the pending headers and then seg, n records. On failure the
// records are lost and counted; the writer carries on with the next ones.
func (w *writer) out(seg []byte, n int) {
	if n == 0 {
		return
	}
	err := w.flushHdr()
	if err == nil {
		err = w.put(seg)
	}
	w.fileBytes += int64(len(seg))
	w.fileRecs += n
	if err != nil {
		w.writeErrors.Add(uint64(n))
		return
	}
	w.written.Add(uint64(n))
}

// flushHdr writes the pending headers.
func (w *writer) flushHdr() error {
	if len(w.hdr.b) == 0 {
		return nil
	}
	err := w.put(w.hdr.b)
	w.hdr.b = w.hdr.b[:0]
	return err
}

// put writes p to the output, counting the bytes and keeping the error.
func (w *writer) put(p []byte) error {
	var err error
	if w.dst == nil {
		err = errors.New("no output file")
	} else {
		var n int
		n, err = safeWrite(w.dst, p)
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
	}
	if err != nil {
		err = fmt.Errorf("write: %w", err)
		w.setErr(err)
		return err
	}
	w.bytes.Add(uint64(len(p)))
	return nil
}

// safeWrite turns a panicking writer into a write error: a capture sink
// must not take the receive path down with it.
func safeWrite(dst io.Writer, p []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("writer panicked: %v", r)
		}
	}()
	return dst.Write(p)
}

// rotate renames the current file to the next path.N and starts a new one
// at path. If the rename or the open fails the error is kept for Flush or
// Close and the current file is kept, to be tried again at the next limit.
func (w *writer) rotate() {
	old := w.file.Load()
	if old == nil {
		w.fileBytes, w.fileRecs = 0, 0
		return
	}
	name := ""
	for {
		w.rotateSeq++
		name = w.path + "." + strconv.Itoa(w.rotateSeq)
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if err := os.Rename(w.path, name); err != nil {
		w.setErr(fmt.Errorf("rotate: %w", err))
		w.fileBytes, w.fileRecs = 0, 0
		return
	}
	f, err := openCapture(w.path)
	if err != nil {
		w.setErr(fmt.Errorf("rotate: %w", err))
		w.fileBytes, w.fileRecs = 0, 0
		return
	}
	w.setErr(old.Close())
	// Headers still pending belong to the old file (an interface block
	// for a record that did not fit): the new file gets its own.
	w.hdr.b = w.hdr.b[:0]
	w.dst = f
	w.file.Store(f)
	w.rotations.Add(1)
	w.startFile()
}

func (w *writer) reopen() error {
	w.flushHdr()
	if old := w.file.Load(); old != nil {
		w.setErr(old.Close())
	}
	f, err := openCapture(w.path)
	if err != nil {
		w.dst = nil
		w.file.Store(nil)
		return err
	}
	w.dst = f
	w.file.Store(f)
	w.hdr.b = w.hdr.b[:0]
	w.startFile()
	return nil
}
