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

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// flushAt is how many encoded bytes the writer gathers before writing
// them out while frames keep coming; it also writes whenever the queue
// goes idle, so a reader such as tcpdump -r - sees frames promptly.
const flushAt = 64 << 10

var _ io.Writer = (*outBuf)(nil)

// outBuf is the writer's output buffer. The encoders write into it and it
// never fails, so an encoder never sees (and never keeps) an I/O error, as
// a bufio.Writer would; the writer moves the bytes to the output itself
// and counts what a failed write loses.
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

	buf       outBuf
	pcap      *pcapgo.Writer
	ng        *pcapgo.NgWriter
	ngIfaces  map[int32]int // queue -> pcapng interface id
	pending   uint64        // records in buf
	fileStart int64         // buf.total when the current file began
	fileRecs  int
	rotateSeq int

	err      error // first error since the last Flush
	closeErr error // set before exited is closed

	written, writeErrors, bytes, rotations atomic.Uint64
}

func newWriter(t *Tap, dst io.Writer, f *os.File, path string) *writer {
	w := &writer{t: t, dst: dst, path: path}
	w.buf.b = make([]byte, 0, flushAt+t.slotSize+4096)
	w.file.Store(f)
	w.startFile()
	return w
}

func openCapture(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

// startFile encodes a file header into the buffer.
func (w *writer) startFile() {
	w.fileStart = w.buf.total
	w.fileRecs = 0
	snap := uint32(w.t.snaplen)
	switch w.t.opts.Format {
	case PCAP:
		w.pcap = pcapgo.NewWriterNanos(&w.buf)
		w.setErr(w.pcap.WriteFileHeader(snap, layers.LinkTypeEthernet))
	case PCAPNG:
		ng, err := pcapgo.NewNgWriterInterface(&w.buf, ngInterface(0, snap), pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Application: "rxpath", OS: runtime.GOOS, Hardware: runtime.GOARCH},
		})
		if err != nil {
			w.setErr(err)
			return
		}
		w.ng = ng
		w.ngIfaces = map[int32]int{0: 0}
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
		case i := <-t.full:
			w.write(i)
			continue
		case r := <-t.ctl:
			w.handle(r)
			continue
		case <-t.done:
			w.shutdown()
			return
		default:
		}
		// The queue is idle: push out what is buffered, then sleep.
		w.flushOut()
		select {
		case i := <-t.full:
			w.write(i)
		case r := <-t.ctl:
			w.handle(r)
		case <-t.done:
			w.shutdown()
			return
		}
	}
}

func (w *writer) handle(r request) {
	switch r.kind {
	case reqFlush:
		// Everything queued before Flush was called is already in full.
		for n := len(w.t.full); n > 0; n-- {
			w.write(<-w.t.full)
		}
		w.flushOut()
		r.reply <- w.takeErr()
	case reqReopen:
		r.reply <- w.reopen()
	}
}

func (w *writer) shutdown() {
	w.drain()
	w.flushOut()
	if f := w.file.Load(); f != nil {
		w.setErr(f.Close())
	}
	w.closeErr = w.takeErr()
}

// drain writes every frame waiting in the queue.
func (w *writer) drain() {
	for {
		select {
		case i := <-w.t.full:
			w.write(i)
		default:
			return
		}
	}
}

// abort closes the file under a writer stuck in Write, so the Write fails
// and the goroutine can finish. Called by Close after StallTimeout.
func (w *writer) abort() {
	if f := w.file.Load(); f != nil {
		_ = f.Close()
	}
}

// write encodes the frame in slot i and gives the slot back.
func (w *writer) write(i uint32) {
	t := w.t
	m := t.meta[i]
	off := int(i) * t.slotSize
	data := t.pool[off : off+int(m.caplen)]
	if t.opts.RotateBytes > 0 && w.path != "" && w.fileRecs > 0 &&
		w.buf.total-w.fileStart+w.recordSize(m) > t.opts.RotateBytes {
		w.rotate()
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(0, m.ts),
		CaptureLength: int(m.caplen),
		Length:        int(m.length),
	}
	var err error
	if w.ng != nil {
		ci.InterfaceIndex, err = w.ngInterface(m.queue)
		if err == nil {
			err = w.ng.WritePacket(ci, data)
		}
		if err == nil {
			err = w.ng.Flush()
		}
	} else if w.pcap != nil {
		err = w.pcap.WritePacket(ci, data)
	} else {
		err = errors.New("no encoder")
	}
	// The record is in buf now: the slot is free again. Never blocks:
	// free has room for every slot there is.
	t.free <- i
	if err != nil {
		w.writeErrors.Add(1)
		w.setErr(fmt.Errorf("encode record: %w", err))
		return
	}
	w.pending++
	w.fileRecs++
	if len(w.buf.b) >= flushAt {
		w.flushOut()
	}
}

func (w *writer) recordSize(m slotMeta) int64 {
	if w.t.opts.Format == PCAPNG {
		return 32 + int64(m.caplen+3)&^3
	}
	return 16 + int64(m.caplen)
}

func (w *writer) ngInterface(q int32) (int, error) {
	if id, ok := w.ngIfaces[q]; ok {
		return id, nil
	}
	id, err := w.ng.AddInterface(ngInterface(q, uint32(w.t.snaplen)))
	if err != nil {
		return 0, err
	}
	w.ngIfaces[q] = id
	return id, nil
}

// flushOut writes the buffer to the output. On failure the buffered
// records are lost and counted; the writer carries on with the next ones.
func (w *writer) flushOut() {
	if len(w.buf.b) == 0 {
		return
	}
	var err error
	if w.dst == nil {
		err = errors.New("no output file")
	} else {
		var n int
		n, err = safeWrite(w.dst, w.buf.b)
		if err == nil && n < len(w.buf.b) {
			err = io.ErrShortWrite
		}
	}
	if err != nil {
		w.writeErrors.Add(w.pending)
		w.setErr(fmt.Errorf("write: %w", err))
	} else {
		w.written.Add(w.pending)
		w.bytes.Add(uint64(len(w.buf.b)))
	}
	w.pending = 0
	w.buf.b = w.buf.b[:0]
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
	w.flushOut()
	old := w.file.Load()
	if old == nil {
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
		w.fileStart = w.buf.total
		return
	}
	f, err := openCapture(w.path)
	if err != nil {
		w.setErr(fmt.Errorf("rotate: %w", err))
		w.fileStart = w.buf.total
		return
	}
	w.setErr(old.Close())
	w.dst = f
	w.file.Store(f)
	w.rotations.Add(1)
	w.startFile()
}

func (w *writer) reopen() error {
	w.flushOut()
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
	w.startFile()
	return nil
}
