package tap

import (
	"bytes"
	cmp2 "cmp"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// seqFrame is a frame of size bytes (at least 26) that carries its queue
// and sequence number after an Ethernet header with a local EtherType.
func seqFrame(size, queue int, seq uint64) []byte {
	f := make([]byte, size)
	copy(f, []byte{0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x88, 0xb5})
	binary.BigEndian.PutUint32(f[14:], uint32(queue))
	binary.BigEndian.PutUint64(f[18:], seq)
	for i := 26; i < size; i++ {
		f[i] = byte(seq) + byte(i)
	}
	return f
}

func frameSeq(f []byte) (queue int, seq uint64) {
	return int(binary.BigEndian.Uint32(f[14:])), binary.BigEndian.Uint64(f[18:])
}

// writeLog is an io.Writer that keeps every Write apart, and can block
// every Write until released.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
	gate   chan struct{} // if not nil, Write waits until it is closed
}

func (w *writeLog) Write(p []byte) (int, error) {
	if w.gate != nil {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *writeLog) sizes() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for _, p := range w.writes {
		out = append(out, len(p))
	}
	return out
}

func (w *writeLog) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Join(w.writes, nil)
}

// readStream reads a pcap or pcapng stream: its records, and for pcap its
// header's snap length.
func readStream(t *testing.T, format Format, b []byte) []record {
	t.Helper()
	var out []record
	switch format {
	case PCAP:
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("record %d: %v", len(out), err)
			}
			out = append(out, record{TS: ci.Timestamp.UnixNano(), Caplen: ci.CaptureLength, Len: ci.Length, Data: data})
		}
	default:
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("record %d: %v", len(out), err)
			}
			intf, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatal(err)
			}
			q, err := strconv.Atoi(strings.TrimPrefix(intf.Name, "queue"))
			if err != nil {
				t.Fatalf("interface %q: %v", intf.Name, err)
			}
			out = append(out, record{TS: ci.Timestamp.UnixNano(), Caplen: ci.CaptureLength, Len: ci.Length, Queue: q, Data: data})
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHandOffWhole: records stay in the queue's buffer until it is full
// (or aged, or flushed), and the writer writes each buffer whole, in one
// Write: no wake-up and no write per frame or per batch.
func TestHandOffWhole(t *testing.T) {
	const frameLen, bufSize = 200, 4096
	const perBuf = bufSize / (16 + frameLen) // 18 records of 216 bytes
	w := &writeLog{}
	tp, err := New(w, Options{MaxFrame: 1024, BufferSize: bufSize, Buffers: 4, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	var frames [][]byte
	capture := func(n int) {
		for range n {
			f := seqFrame(frameLen, 0, uint64(len(frames)))
			frames = append(frames, f)
			if !tp.Capture(f, 0) {
				t.Fatalf("frame %d dropped: %+v", len(frames)-1, tp.Stats())
			}
		}
		tp.EndBatch(0)
	}
	capture(10)
	time.Sleep(50 * time.Millisecond)
	if st := tp.Stats(); st.Queued != 10 || st.Written != 0 || len(w.sizes()) != 0 {
		t.Fatalf("after a 10-frame batch: stats %+v, writes %v; want 10 queued and nothing written yet", st, w.sizes())
	}
	// Three buffers fill; the 55th frame starts a fourth.
	capture(3*perBuf + 1 - 10)
	waitFor(t, "three buffers", func() bool { return tp.Stats().Written == 3*perBuf })
	want := []int{24, perBuf * (16 + frameLen), perBuf * (16 + frameLen), perBuf * (16 + frameLen)}
	if diff := cmp.Diff(want, w.sizes()); diff != "" {
		t.Fatalf("writes (-want +got):\n%s", diff)
	}
	if err := tp.Flush(); err != nil {
		t.Fatal(err)
	}
	want = append(want, 16+frameLen)
	if diff := cmp.Diff(want, w.sizes()); diff != "" {
		t.Fatalf("writes after Flush (-want +got):\n%s", diff)
	}
	got := readStream(t, PCAP, w.bytes())
	if len(got) != len(frames) {
		t.Fatalf("%d records, want %d", len(got), len(frames))
	}
	for i, r := range got {
		if !bytes.Equal(r.Data, frames[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// TestDropsWhenWriterStalls: with the writer stuck in Write, Capture
// fills the queue's remaining buffers and then drops and counts every
// frame, at once, never waiting; once the writer moves again the queue
// gets its buffers back, and the file holds exactly the accepted frames,
// in order.
func TestDropsWhenWriterStalls(t *testing.T) {
	const frameLen, bufSize, buffers = 200, 4096, 3
	const perBuf = bufSize / (16 + frameLen)
	w := &writeLog{gate: make(chan struct{})}
	tp, err := New(w, Options{MaxFrame: 1024, BufferSize: bufSize, Buffers: buffers})
	if err != nil {
		t.Fatal(err)
	}
	var accepted [][]byte
	seq := uint64(0)
	offer := func(batches, per int) (worst time.Duration) {
		for range batches {
			start := time.Now()
			for range per {
				f := seqFrame(frameLen, 0, seq)
				seq++
				if tp.Capture(f, 0) {
					accepted = append(accepted, f)
				}
			}
			tp.EndBatch(0)
			worst = max(worst, time.Since(start))
		}
		return worst
	}
	worst := offer(1000, 8)
	t.Logf("8000 frames against a stuck writer; the slowest batch took %v", worst)
	st := tp.Stats()
	// The writer holds one buffer; the other two filled while it waited.
	if len(accepted) != buffers*perBuf || st.Queued != buffers*perBuf || st.Dropped != 8000-buffers*perBuf || st.Seen != 8000 {
		t.Fatalf("accepted %d; stats %+v; want %d queued, the rest dropped", len(accepted), st, buffers*perBuf)
	}
	for i, f := range accepted {
		if _, s := frameSeq(f); s != uint64(i) {
			t.Fatalf("accepted frame %d has seq %d: the first frames fill the buffers", i, s)
		}
	}
	close(w.gate)
	waitFor(t, "the writer to catch up", func() bool { return tp.Stats().Written == buffers*perBuf })
	offer(1, 10)
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	st = tp.Stats()
	want := Stats{Seen: 8010, Queued: buffers*perBuf + 10, Written: buffers*perBuf + 10, Dropped: 8000 - buffers*perBuf, Bytes: st.Bytes}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	got := readStream(t, PCAP, w.bytes())
	if len(got) != len(accepted) {
		t.Fatalf("%d records, want the %d accepted", len(got), len(accepted))
	}
	for i, r := range got {
		if !bytes.Equal(r.Data, accepted[i]) {
			t.Fatalf("record %d is not the %dth accepted frame", i, i)
		}
	}
}

// TestQueueOrder: pollers on four queues capture concurrently, in
// batches of random sizes, while the writer takes buffers whole (full),
// aged (a short FlushInterval) and by force (Flush, from another
// goroutine). Each queue's frames reach the file in capture order, and
// the file holds exactly the frames Capture accepted.
func TestQueueOrder(t *testing.T) {
	for _, format := range []Format{PCAP, PCAPNG} {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			const queues, per = 4, 5000
			w := &writeLog{}
			tp, err := New(w, Options{Format: format, MaxFrame: 1024, BufferSize: 8 << 10, Buffers: 4, FlushInterval: 200 * time.Microsecond})
			if err != nil {
				t.Fatal(err)
			}
			var accepted [queues][]uint64
			var offered [queues]int
			var wg sync.WaitGroup
			var stop atomic.Bool
			flushes := 0
			var flusher sync.WaitGroup
			flusher.Go(func() {
				for !stop.Load() {
					if err := tp.Flush(); err != nil {
						t.Errorf("Flush: %v", err)
						return
					}
					flushes++
					time.Sleep(100 * time.Microsecond)
				}
			})
			for q := range queues {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(q), 1))
					for seq := uint64(0); seq < per; {
						n := 1 + rng.IntN(64)
						for range n {
							if tp.Capture(seqFrame(60+rng.IntN(200), q, seq), q) {
								accepted[q] = append(accepted[q], seq)
							}
							seq++
						}
						tp.EndBatch(q)
						offered[q] += n
						if rng.IntN(8) == 0 {
							time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
						}
					}
				})
			}
			wg.Wait()
			stop.Store(true)
			flusher.Wait()
			if err := tp.Close(); err != nil {
				t.Fatal(err)
			}
			got := readStream(t, format, w.bytes())
			var inFile [queues][]uint64
			for _, r := range got {
				q, seq := frameSeq(r.Data)
				if format == PCAPNG && r.Queue != q {
					t.Fatalf("frame of queue %d on interface queue%d", q, r.Queue)
				}
				inFile[q] = append(inFile[q], seq)
			}
			total, seen := 0, 0
			for q := range queues {
				total += len(accepted[q])
				seen += offered[q]
				if diff := cmp.Diff(accepted[q], inFile[q]); diff != "" {
					t.Errorf("queue %d: frames in the file (-accepted +file):\n%s", q, diff)
				}
			}
			st := tp.Stats()
			if st.Seen != uint64(seen) || st.Queued != uint64(total) || st.Written != st.Queued || st.Dropped != st.Seen-st.Queued {
				t.Errorf("stats %+v, %d accepted", st, total)
			}
			t.Logf("%d flushes, %d writes; stats %+v", flushes, len(w.sizes()), st)
		})
	}
}

// TestBatchTimestamp: the clock is read once per batch, by its first
// captured frame, and every frame of the batch carries that timestamp
// (as with NIC batch timestamps). A batch the expression rejects whole
// reads no clock.
func TestBatchTimestamp(t *testing.T) {
	frames := testFrames(t, 40)
	const expr = "udp"
	var udp, other [][]byte
	for _, f := range frames {
		if len(f) > 23 && f[12] == 0x08 && f[13] == 0 && f[23] == 17 {
			udp = append(udp, f)
		} else {
			other = append(other, f)
		}
	}
	if len(udp) < 6 || len(other) < 2 {
		t.Fatalf("corpus has %d udp and %d other frames", len(udp), len(other))
	}
	// Batches: which frames, and whether the expression passes them.
	batches := [][][]byte{
		{udp[0], udp[1], udp[2]},
		{other[0], other[1]}, // rejected whole: no timestamp
		{udp[3]},
		{other[0], udp[4], other[1], udp[5]},
	}
	for _, format := range []Format{PCAP, PCAPNG} {
		t.Run(format.String(), func(t *testing.T) {
			var calls atomic.Int64
			clk := fakeClock(clockBase)
			w := &writeLog{}
			tp, err := New(w, Options{Format: format, Expr: expr, Clock: func() time.Time { calls.Add(1); return clk() }})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range batches {
				for _, f := range b {
					tp.Capture(f, 2)
				}
				tp.EndBatch(2)
			}
			if err := tp.Close(); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != 3 {
				t.Errorf("the clock was read %d times for 3 batches with captured frames", n)
			}
			ref := fakeClock(clockBase)
			ts1, ts2, ts3 := ref().UnixNano(), ref().UnixNano(), ref().UnixNano()
			q := 0
			if format == PCAPNG {
				q = 2
			}
			rec := func(f []byte, ts int64) record {
				return record{TS: ts, Caplen: len(f), Len: len(f), Queue: q, Data: f}
			}
			want := []record{
				rec(udp[0], ts1), rec(udp[1], ts1), rec(udp[2], ts1),
				rec(udp[3], ts2),
				rec(udp[4], ts3), rec(udp[5], ts3),
			}
			if diff := cmp.Diff(want, readStream(t, format, w.bytes())); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPcapgoRoundTrip writes batches from several queues, with frames cut
// by the snap length, in both formats, and reads them back with gopacket's
// pcapgo readers: headers, timestamps, lengths, bytes and (pcapng) each
// record's interface.
func TestPcapgoRoundTrip(t *testing.T) {
	frames := testFrames(t, 300)
	const snap = 100
	for _, format := range []Format{PCAP, PCAPNG} {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "rt."+format.String())
			tp := mustCreate(t, path, Options{Format: format, Snaplen: snap, BufferSize: 2048, Clock: fakeClock(clockBase)})
			ref := fakeClock(clockBase)
			var want []record
			truncated := 0
			for i := 0; i < len(frames); {
				q := []int{0, 5, 2}[i%3]
				ts := ref().UnixNano()
				for j := 0; j < 1+i%7 && i < len(frames); j++ {
					f := frames[i]
					i++
					if !tp.Capture(f, q) {
						t.Fatalf("frame %d dropped", i-1)
					}
					c := min(len(f), snap)
					if c < len(f) {
						truncated++
					}
					rq := q
					if format == PCAP {
						rq = 0
					}
					want = append(want, record{TS: ts, Caplen: c, Len: len(f), Queue: rq, Data: f[:c]})
				}
				tp.EndBatch(q)
			}
			if err := tp.Close(); err != nil {
				t.Fatal(err)
			}
			var got []record
			if format == PCAP {
				got = readPcap(t, path)
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				r, err := pcapgo.NewReader(f)
				if err != nil {
					t.Fatal(err)
				}
				if r.Snaplen() != snap || r.LinkType() != layers.LinkTypeEthernet {
					t.Errorf("header: snaplen %d, link type %v", r.Snaplen(), r.LinkType())
				}
			} else {
				got = readPcapng(t, path)
			}
			if len(got) != len(want) {
				t.Errorf("%d records, want %d", len(got), len(want))
			}
			// Each batch has its own timestamp, increasing in capture
			// order, and a queue's batches keep their order in the file:
			// sorted by timestamp, the file is in capture order.
			sorted := slices.Clone(got)
			slices.SortStableFunc(sorted, func(a, b record) int { return cmp2.Compare(a.TS, b.TS) })
			if diff := cmp.Diff(want, sorted); diff != "" {
				t.Errorf("records by timestamp (-want +got):\n%s", diff)
			}
			if st := tp.Stats(); st.Truncated != uint64(truncated) || st.Written != uint64(len(frames)) {
				t.Errorf("stats %+v, want %d truncated, %d written", st, truncated, len(frames))
			}
			checkWithTcpdump(t, path, frames, got, false)
		})
	}
}

// TestIdleQueueFlushed: a queue whose poller goes quiet after a batch
// still gets its frames to the file, within about FlushInterval, with no
// Flush: the writer takes the buffer of an idle queue.
func TestIdleQueueFlushed(t *testing.T) {
	w := &writeLog{}
	tp, err := New(w, Options{FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	frames := testFrames(t, 3)
	start := time.Now()
	for _, f := range frames {
		tp.Capture(f, 7)
	}
	tp.EndBatch(7)
	waitFor(t, "the idle queue's frames", func() bool { return tp.Stats().Written == 3 })
	t.Logf("written %v after the batch", time.Since(start))
	if got := readStream(t, PCAP, w.bytes()); len(got) != 3 {
		t.Errorf("%d records", len(got))
	}
	// Later batches, after the writer took the buffer, go on as usual.
	for _, f := range frames {
		tp.Capture(f, 7)
	}
	tp.EndBatch(7)
	waitFor(t, "the second batch", func() bool { return tp.Stats().Written == 6 })
}

// TestEndBatchAges: EndBatch hands a buffer off once its first record is
// FlushInterval old by Options.Clock, without waiting for the writer's
// timer.
func TestEndBatchAges(t *testing.T) {
	var now atomic.Int64
	now.Store(clockBase.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	tp, err := New(io.Discard, Options{FlushInterval: time.Hour, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	f := testFrames(t, 1)[0]
	tp.Capture(f, 0)
	tp.EndBatch(0)
	now.Add(int64(59 * time.Minute))
	tp.Capture(f, 0)
	tp.EndBatch(0)
	time.Sleep(20 * time.Millisecond)
	if st := tp.Stats(); st.Written != 0 {
		t.Fatalf("written %d before the buffer was an hour old", st.Written)
	}
	now.Add(int64(time.Minute))
	tp.Capture(f, 0)
	tp.EndBatch(0)
	waitFor(t, "the aged buffer", func() bool { return tp.Stats().Written == 3 })
}

// TestUnendedBatch: a poller that never calls EndBatch keeps its buffer:
// Flush and Close wait for it up to StallTimeout and say so; EndBatch
// lets Flush finish.
func TestUnendedBatch(t *testing.T) {
	w := &writeLog{}
	tp, err := New(w, Options{StallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := testFrames(t, 1)[0]
	tp.Capture(f, 0)
	if err := tp.Flush(); !errors.Is(err, ErrStalled) {
		t.Errorf("Flush with a batch open: %v, want ErrStalled", err)
	}
	tp.EndBatch(0)
	if err := tp.Flush(); err != nil {
		t.Errorf("Flush after EndBatch: %v", err)
	}
	if st := tp.Stats(); st.Written != 1 {
		t.Errorf("stats %+v, want 1 written", st)
	}
	tp.Capture(f, 1)
	if err := tp.Close(); !errors.Is(err, ErrStalled) {
		t.Errorf("Close with a batch open: %v, want ErrStalled", err)
	}
	waitExited(t, tp)
}

// TestQueueRange: queue numbers outside [0, MaxQueues), and queues first
// seen after Close, are dropped and counted.
func TestQueueRange(t *testing.T) {
	tp, err := New(io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	f := testFrames(t, 1)[0]
	for _, q := range []int{-1, MaxQueues, 1 << 40} {
		if tp.Capture(f, q) {
			t.Errorf("Capture on queue %d returned true", q)
		}
		tp.EndBatch(q)
	}
	if !tp.Capture(f, MaxQueues-1) {
		t.Error("Capture on the last queue returned false")
	}
	tp.EndBatch(MaxQueues - 1)
	if st := tp.Stats(); st.Seen != 4 || st.Dropped != 3 || st.Queued != 1 {
		t.Errorf("stats %+v", st)
	}
	// After Close, a queue never seen before is turned away too.
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	if tp.Capture(f, 9) {
		t.Error("Capture on a new queue after Close returned true")
	}
	if st := tp.Stats(); st.Seen != 5 || st.Dropped != 4 || st.Written != 1 {
		t.Errorf("stats after Close %+v", st)
	}
}
