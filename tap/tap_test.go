package tap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/rxpath/rxpath/tap/internal/framecorpus"
	"github.com/rxpath/rxpath/tap/pcapexpr"
	"golang.org/x/net/bpf"
)

// record is one captured frame as read back from a file.
type record struct {
	TS     int64 // Unix nanoseconds
	Caplen int
	Len    int
	Queue  int // pcapng interface name's queue; 0 for pcap
	Data   []byte
}

// fakeClock returns a deterministic, strictly increasing clock with
// nanosecond digits, starting at base. It steps about a microsecond per
// call (per batch), as a busy poller's batches do: a buffer ages past the
// default FlushInterval only after thousands of batches, so the tests
// that use it do not depend on how fast the writer takes buffers.
func fakeClock(base time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)*1_003 + 7)) }
}

var clockBase = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func testFrames(t testing.TB, n int) [][]byte {
	t.Helper()
	all, whole := framecorpus.Frames(t)
	all = all[:whole]
	out := make([][]byte, n)
	for i := range out {
		out[i] = all[(i*7)%len(all)]
	}
	return out
}

// expected is what a capture of frames with the given clock, snap length
// and queues should read back as.
func expected(frames [][]byte, snap int, queue func(int) int) []record {
	clk := fakeClock(clockBase)
	var out []record
	for i, f := range frames {
		c := min(len(f), snap)
		q := 0
		if queue != nil {
			q = queue(i)
		}
		out = append(out, record{TS: clk().UnixNano(), Caplen: c, Len: len(f), Queue: q, Data: f[:c]})
	}
	return out
}

func readPcap(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("%s: link type %v, want Ethernet", path, r.LinkType())
	}
	if r.Resolution().ToDuration() != time.Nanosecond {
		t.Errorf("%s: resolution %v, want ns", path, r.Resolution())
	}
	var out []record
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: record %d: %v", path, len(out), err)
		}
		out = append(out, record{TS: ci.Timestamp.UnixNano(), Caplen: ci.CaptureLength, Len: ci.Length, Data: data})
	}
}

func readPcapng(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []record
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: record %d: %v", path, len(out), err)
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		q, err := strconv.Atoi(strings.TrimPrefix(intf.Name, "queue"))
		if err != nil {
			t.Fatalf("interface name %q", intf.Name)
		}
		if intf.LinkType != layers.LinkTypeEthernet {
			t.Errorf("interface %q link type %v", intf.Name, intf.LinkType)
		}
		out = append(out, record{TS: ci.Timestamp.UnixNano(), Caplen: ci.CaptureLength, Len: ci.Length, Queue: q, Data: data})
	}
}

func mustCreate(t *testing.T, path string, opts Options) *Tap {
	t.Helper()
	tp, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Close() })
	return tp
}

// captureAll offers each frame as a batch of its own, so that each reads
// the clock once, as expected assumes.
func captureAll(t testing.TB, tp *Tap, frames [][]byte, queue func(int) int) {
	t.Helper()
	for i, f := range frames {
		q := 0
		if queue != nil {
			q = queue(i)
		}
		if !tp.Capture(f, q) {
			t.Fatalf("Capture of frame %d returned false; stats %+v", i, tp.Stats())
		}
		tp.EndBatch(q)
	}
}

func TestRoundTrip(t *testing.T) {
	frames := testFrames(t, 200)
	queue := func(i int) int { return []int{0, 3, 1}[i%3] }
	tests := []struct {
		name   string
		format Format
		read   func(*testing.T, string) []record
		queue  func(int) int
	}{
		{"pcap", PCAP, readPcap, nil},
		{"pcapng", PCAPNG, readPcapng, queue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "capture."+tt.name)
			tp := mustCreate(t, path, Options{Format: tt.format, Clock: fakeClock(clockBase)})
			q := tt.queue
			if q == nil {
				q = func(int) int { return 0 }
			}
			captureAll(t, tp, frames, q)
			if err := tp.Close(); err != nil {
				t.Fatal(err)
			}
			got := tt.read(t, path)
			// Each queue's frames in capture order; the queues' buffers
			// interleave in the order they reached the writer.
			want := expected(frames, DefaultMaxFrame, tt.queue)
			if len(got) != len(want) {
				t.Errorf("read back %d records, want %d", len(got), len(want))
			}
			if diff := cmp.Diff(byQueue(want), byQueue(got)); diff != "" {
				t.Errorf("read back, by queue (-want +got):\n%s", diff)
			}
			st := tp.Stats()
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			wantStats := Stats{Seen: 200, Queued: 200, Written: 200, Bytes: uint64(fi.Size())}
			if diff := cmp.Diff(wantStats, st); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			// got is want in file order, as compared above.
			checkWithTcpdump(t, path, frames, got, true)
		})
	}
}

// byQueue splits records by receive queue, keeping their order.
func byQueue(recs []record) map[int][]record {
	m := map[int][]record{}
	for _, r := range recs {
		m[r.Queue] = append(m[r.Queue], r)
	}
	return m
}

// checkWithTcpdump has tcpdump and tshark, the real consumers, read the
// file: both must see every frame, and tshark the nanosecond timestamps.
// tshark takes most of a second to start, so callers ask for it sparingly.
func checkWithTcpdump(t *testing.T, path string, frames [][]byte, want []record, withTshark bool) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Log("tcpdump not installed; skipping the tcpdump check")
	} else {
		out, err := exec.Command("tcpdump", "-r", path, "-nn", "--time-stamp-precision=nano").Output()
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v", path, err)
		}
		// One line per frame; payload dumps of unknown protocols are indented.
		var lines []string
		for _, l := range nonEmptyLines(out) {
			if l[0] != ' ' && l[0] != '\t' {
				lines = append(lines, l)
			}
		}
		if len(lines) != len(frames) {
			t.Errorf("tcpdump printed %d lines for %d frames", len(lines), len(frames))
		}
	}
	if !withTshark {
		return
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark not installed; skipping the tshark check")
		return
	}
	out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	lines := nonEmptyLines(out)
	if len(lines) != len(want) {
		t.Fatalf("tshark printed %d lines for %d frames", len(lines), len(want))
	}
	for i, l := range lines {
		w := want[i]
		exp := fmt.Sprintf("%d.%09d\t%d\t%d", w.TS/1e9, w.TS%1e9, w.Len, w.Caplen)
		if l != exp {
			t.Errorf("tshark frame %d: %q, want %q", i+1, l, exp)
			break
		}
	}
}

func nonEmptyLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestTruncation(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 1500)
	small := big[:60]
	tests := []struct {
		name    string
		opts    Options
		wantCap int
	}{
		{"snaplen", Options{Snaplen: 128}, 128},
		{"maxframe", Options{MaxFrame: 1000}, 1000},
		{"both", Options{Snaplen: 200, MaxFrame: 100}, 100},
	}
	for _, tt := range tests {
		for _, format := range []Format{PCAP, PCAPNG} {
			t.Run(tt.name+"/"+format.String(), func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "trunc")
				opts := tt.opts
				opts.Format = format
				opts.Clock = fakeClock(clockBase)
				tp := mustCreate(t, path, opts)
				captureAll(t, tp, [][]byte{big, small, big}, nil)
				if err := tp.Close(); err != nil {
					t.Fatal(err)
				}
				read := readPcap
				if format == PCAPNG {
					read = readPcapng
				}
				got := read(t, path)
				want := expected([][]byte{big, small, big}, tt.wantCap, nil)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				if st := tp.Stats(); st.Truncated != 2 || st.Written != 3 {
					t.Errorf("stats %+v, want Truncated 2, Written 3", st)
				}
				checkWithTcpdump(t, path, [][]byte{big, small, big}, want, tt.name == "snaplen")
			})
		}
	}
}

func TestCaptureExpr(t *testing.T) {
	frames := testFrames(t, 500)
	const expr = "udp port 53 or (tcp and not port 80) or arp"
	prog, err := pcapexpr.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	var match [][]byte
	for _, f := range frames {
		if n, _ := vm.Run(f); n != 0 {
			match = append(match, f)
		}
	}
	if len(match) == 0 || len(match) == len(frames) {
		t.Fatalf("expression matches %d of %d frames: not a useful test", len(match), len(frames))
	}
	path := filepath.Join(t.TempDir(), "filtered.pcap")
	tp := mustCreate(t, path, Options{Expr: expr})
	accepted := 0
	for i, f := range frames {
		if tp.Capture(f, 0) {
			accepted++
		}
		if i%64 == 63 {
			tp.EndBatch(0)
		}
	}
	tp.EndBatch(0)
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, path)
	if len(got) != len(match) || accepted != len(match) {
		t.Fatalf("captured %d frames (Capture accepted %d), expression matches %d", len(got), accepted, len(match))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, match[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	st := tp.Stats()
	if st.Seen != uint64(len(frames)) || st.Filtered != uint64(len(frames)-len(match)) || st.Written != uint64(len(match)) {
		t.Errorf("stats %+v: want Seen %d, Filtered %d, Written %d", st, len(frames), len(frames)-len(match), len(match))
	}
}

func TestBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"expr", Options{Expr: "tcp and vlan"}, `unsupported keyword "vlan"`},
		{"expr syntax", Options{Expr: "port"}, "expected an address"},
		{"format", Options{Format: 7}, "unknown format"},
		{"snaplen", Options{Snaplen: MaxSnaplen + 1}, "snaplen"},
		{"buffers", Options{Buffers: -1}, "buffers"},
		{"too many buffers", Options{Buffers: MaxBuffers + 1}, "buffers"},
		{"buffer size", Options{BufferSize: 1000}, "buffer size"},
		{"pcapng buffer size", Options{Format: PCAPNG, MaxFrame: 1000, BufferSize: 1030}, "buffer size"},
		{"flush interval", Options{FlushInterval: -time.Second}, "flush interval"},
		{"maxframe", Options{MaxFrame: -1}, "max frame"},
		{"rotate", Options{RotateBytes: -1}, "rotate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(io.Discard, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
			if _, err := Create(filepath.Join(t.TempDir(), "x"), tt.opts); err == nil {
				t.Fatal("Create accepted bad options")
			}
		})
	}
	if _, err := New(io.Discard, Options{Expr: "vlan"}); !errors.Is(err, pcapexpr.ErrExpr) {
		t.Errorf("bad expression error %v does not wrap pcapexpr.ErrExpr", err)
	}
	if _, err := Create(filepath.Join(t.TempDir(), "no", "such", "dir"), Options{}); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

// waitExited fails the test if the writer goroutine does not finish.
func waitExited(t *testing.T, tp *Tap) {
	t.Helper()
	select {
	case <-tp.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("writer goroutine still running")
	}
}

// TestBlockedWriter: a pipe nobody reads blocks the writer's first Write
// forever. Capture must keep returning at once, dropping and counting, and
// Flush and Close must give up after the stall timeout.
func TestBlockedWriter(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	const buffers, bufSize = 4, 16 << 10
	tp, err := New(pw, Options{Buffers: buffers, BufferSize: bufSize, MaxFrame: 2048})
	if err != nil {
		t.Fatal(err)
	}
	frame := testFrames(t, 1)[0]
	const n = 100_000
	done := make(chan time.Duration)
	go func() {
		var worst time.Duration
		for i := range n {
			t0 := time.Now()
			tp.Capture(frame, 0)
			if i%64 == 63 {
				tp.EndBatch(0)
			}
			worst = max(worst, time.Since(t0))
		}
		tp.EndBatch(0)
		done <- worst
	}()
	select {
	case worst := <-done:
		t.Logf("%d Captures against a blocked writer; slowest took %v", n, worst)
	case <-time.After(30 * time.Second):
		t.Fatal("Capture blocked behind a stuck writer")
	}
	st := tp.Stats()
	// Queued is at most what the queue's buffers hold: the one the writer
	// is stuck writing and those waiting for it.
	taken := buffers * (bufSize / (16 + len(frame)))
	if st.Seen != n || st.Queued+st.Dropped != n || st.Queued > uint64(taken) {
		t.Errorf("stats %+v: want Seen %d = Queued + Dropped, nearly all Dropped", st, n)
	}
	if st.Written != 0 {
		t.Errorf("Written %d through a pipe nobody reads", st.Written)
	}

	if err := tp.Flush(); !errors.Is(err, ErrStalled) {
		t.Errorf("Flush on a stuck writer: %v, want ErrStalled", err)
	}
	start := time.Now()
	err = tp.Close()
	took := time.Since(start)
	if !errors.Is(err, ErrStalled) {
		t.Errorf("Close on a stuck writer: %v, want ErrStalled", err)
	}
	if took < DefaultStallTimeout || took > DefaultStallTimeout+2*time.Second {
		t.Errorf("Close took %v, want about the %v stall timeout", took, DefaultStallTimeout)
	}
	t.Logf("Close gave up after %v: %v", took, err)
	if tp.Capture(frame, 0) {
		t.Error("Capture after Close returned true")
	}
	// Unblock the pipe: the goroutine must then finish on its own.
	pr.Close()
	waitExited(t, tp)
	if st := tp.Stats(); st.WriteErrors == 0 {
		t.Errorf("stats %+v: the failed pipe write should count WriteErrors", st)
	}
}

// errWriter fails every write while failing is set, or panics instead.
type errWriter struct {
	mu      sync.Mutex
	failing bool
	panic   bool
	buf     bytes.Buffer
}

func (w *errWriter) setFailing(v bool) {
	w.mu.Lock()
	w.failing = v
	w.mu.Unlock()
}

func (w *errWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing {
		if w.panic {
			panic("disk on fire")
		}
		return 0, errors.New("injected write error")
	}
	return w.buf.Write(p)
}

func TestWriteErrors(t *testing.T) {
	frames := testFrames(t, 10)
	t.Run("always", func(t *testing.T) {
		tp, err := New(&errWriter{failing: true}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		captureAll(t, tp, frames, nil)
		if err := tp.Flush(); err == nil || !strings.Contains(err.Error(), "injected write error") {
			t.Errorf("Flush: %v, want the write error", err)
		}
		captureAll(t, tp, frames, nil)
		if err := tp.Close(); err == nil {
			t.Error("Close: nil error after failed writes")
		}
		st := tp.Stats()
		if st.WriteErrors != 20 || st.Written != 0 || st.Queued != 20 || st.Bytes != 0 {
			t.Errorf("stats %+v, want 20 WriteErrors and nothing written", st)
		}
	})
	t.Run("recovers", func(t *testing.T) {
		w := &errWriter{}
		tp, err := New(w, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tp.Flush(); err != nil {
			t.Fatal(err)
		}
		w.setFailing(true)
		captureAll(t, tp, frames, nil)
		if err := tp.Flush(); err == nil {
			t.Error("Flush: nil error after a failed write")
		}
		w.setFailing(false)
		captureAll(t, tp, frames, nil)
		if err := tp.Flush(); err != nil {
			t.Errorf("Flush after the writer recovered: %v", err)
		}
		if err := tp.Close(); err != nil {
			t.Error(err)
		}
		st := tp.Stats()
		if st.WriteErrors != 10 || st.Written != 10 {
			t.Errorf("stats %+v, want 10 WriteErrors and 10 Written", st)
		}
		if r, err := pcapgo.NewReader(bytes.NewReader(w.buf.Bytes())); err != nil {
			t.Errorf("what reached the writer is not a pcap stream: %v", err)
		} else {
			n := 0
			for ; ; n++ {
				if _, _, err := r.ReadPacketData(); err != nil {
					break
				}
			}
			if n != 10 {
				t.Errorf("the writer got %d readable records, want 10", n)
			}
		}
		if st.Bytes != uint64(w.buf.Len()) {
			t.Errorf("Bytes %d, writer got %d", st.Bytes, w.buf.Len())
		}
	})
	t.Run("panics", func(t *testing.T) {
		tp, err := New(&errWriter{failing: true, panic: true}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		captureAll(t, tp, frames, nil)
		if err := tp.Flush(); err == nil || !strings.Contains(err.Error(), "panicked") {
			t.Errorf("Flush: %v, want the recovered panic", err)
		}
		_ = tp.Close()
		if st := tp.Stats(); st.WriteErrors != 10 {
			t.Errorf("stats %+v, want 10 WriteErrors", st)
		}
	})
}

func TestRotation(t *testing.T) {
	for _, format := range []Format{PCAP, PCAPNG} {
		t.Run(format.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "rot")
			// A stale path.1 from an earlier run must not be overwritten.
			if err := os.WriteFile(path+".1", []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			const limit = 4096
			frames := testFrames(t, 300)
			tp := mustCreate(t, path, Options{Format: format, RotateBytes: limit, Clock: fakeClock(clockBase)})
			captureAll(t, tp, frames, nil)
			if err := tp.Close(); err != nil {
				t.Fatal(err)
			}
			st := tp.Stats()
			if st.Rotations < 3 {
				t.Fatalf("only %d rotations", st.Rotations)
			}
			if b, _ := os.ReadFile(path + ".1"); string(b) != "old" {
				t.Error("rotation overwrote an existing path.1")
			}
			read := readPcap
			if format == PCAPNG {
				read = readPcapng
			}
			// Oldest first: path.2, path.3, ..., then path.
			var names []string
			for i := 2; i < 2+int(st.Rotations); i++ {
				names = append(names, fmt.Sprintf("%s.%d", path, i))
			}
			names = append(names, path)
			var got []record
			for _, name := range names {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() > limit {
					t.Errorf("%s: %d bytes, over the %d limit", name, fi.Size(), limit)
				}
				recs := read(t, name)
				if len(recs) == 0 {
					t.Errorf("%s: no records", name)
				}
				checkWithTcpdump(t, name, make([][]byte, len(recs)), recs, name == path)
				got = append(got, recs...)
			}
			if _, err := os.Stat(fmt.Sprintf("%s.%d", path, 2+st.Rotations)); err == nil {
				t.Errorf("more rotated files than Rotations = %d", st.Rotations)
			}
			want := expected(frames, DefaultMaxFrame, nil)
			if format == PCAP {
				for i := range want {
					want[i].Queue = 0
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("frames across rotated files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.pcap")
	frames := testFrames(t, 15)
	tp := mustCreate(t, path, Options{Clock: fakeClock(clockBase)})
	captureAll(t, tp, frames[:10], nil)
	if err := tp.Flush(); err != nil {
		t.Fatal(err)
	}
	// What logrotate does before sending SIGHUP.
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := tp.Reopen(); err != nil {
		t.Fatal(err)
	}
	captureAll(t, tp, frames[10:], nil)
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	want := expected(frames, DefaultMaxFrame, nil)
	if diff := cmp.Diff(want[:10], readPcap(t, path+".old")); diff != "" {
		t.Errorf("old file (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[10:], readPcap(t, path)); diff != "" {
		t.Errorf("new file (-want +got):\n%s", diff)
	}

	// A directory where the file should be: Reopen fails, frames are
	// counted as lost, and a later Reopen recovers.
	path2 := filepath.Join(dir, "second.pcap")
	tp2 := mustCreate(t, path2, Options{})
	if err := os.Rename(path2, path2+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path2, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := tp2.Reopen(); err == nil {
		t.Fatal("Reopen onto a directory succeeded")
	}
	captureAll(t, tp2, frames[:3], nil)
	if err := tp2.Flush(); err == nil {
		t.Error("Flush with no file: nil error")
	}
	if err := os.Remove(path2); err != nil {
		t.Fatal(err)
	}
	if err := tp2.Reopen(); err != nil {
		t.Fatal(err)
	}
	captureAll(t, tp2, frames[3:5], nil)
	if err := tp2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readPcap(t, path2); len(got) != 2 {
		t.Errorf("%d frames after recovering, want 2", len(got))
	}
	if st := tp2.Stats(); st.WriteErrors != 3 || st.Written != 2 {
		t.Errorf("stats %+v, want 3 WriteErrors, 2 Written", st)
	}

	tp3, err := New(io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tp3.Close()
	if err := tp3.Reopen(); !errors.Is(err, ErrNotFile) {
		t.Errorf("Reopen on New: %v, want ErrNotFile", err)
	}
}

type closeTracker struct {
	bytes.Buffer
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestClose(t *testing.T) {
	w := &closeTracker{}
	tp, err := New(w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	frames := testFrames(t, 5)
	captureAll(t, tp, frames, nil)
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tp.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	waitExited(t, tp)
	if w.closed {
		t.Error("Close closed the caller's writer")
	}
	r, err := pcapgo.NewReader(bytes.NewReader(w.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
		n++
	}
	if n != len(frames) {
		t.Errorf("Close wrote %d of %d queued frames", n, len(frames))
	}
	if tp.Capture(frames[0], 0) {
		t.Error("Capture after Close returned true")
	}
	if st := tp.Stats(); st.Dropped != 1 || st.Seen != 6 {
		t.Errorf("stats %+v: want the Capture after Close in Seen and Dropped", st)
	}
	if err := tp.Flush(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Flush after Close: %v, want os.ErrClosed", err)
	}

	// Create's file is closed by Close: its descriptor is gone.
	path := filepath.Join(t.TempDir(), "c.pcap")
	tp2 := mustCreate(t, path, Options{})
	f := tp2.w.file.Load()
	if err := tp2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write to the tap's file after Close: %v, want os.ErrClosed", err)
	}
}

// TestPromptFlush feeds a live tcpdump through a pipe, as
// "rxpath ... | tcpdump -r -" would: frames must show up while the tap is
// still open, because the writer takes the buffer of a queue that went
// idle within about FlushInterval.
func TestPromptFlush(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	cmd := exec.Command("tcpdump", "-nn", "-l", "-r", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	tp, err := New(stdin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	frames := testFrames(t, 3)
	captureAll(t, tp, frames, nil)
	for i := range frames {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tcpdump exited after %d lines", i)
			}
			t.Logf("tcpdump: %s", l)
		case <-time.After(5 * time.Second):
			t.Fatalf("tcpdump printed %d of %d frames while the tap was open", i, len(frames))
		}
	}
}

func TestConcurrentCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "concurrent.pcapng")
	tp := mustCreate(t, path, Options{Format: PCAPNG, Buffers: 2, BufferSize: 32 << 10})
	frames := testFrames(t, 64)
	const per = 20_000
	var wg sync.WaitGroup
	var accepted [2]int
	for g := range 2 {
		wg.Go(func() {
			for i := range per {
				if tp.Capture(frames[i%len(frames)], g) {
					accepted[g]++
				}
				if i%64 == 63 {
					tp.EndBatch(g)
				}
			}
			tp.EndBatch(g)
		})
	}
	wg.Wait()
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	st := tp.Stats()
	if st.Seen != 2*per || st.Queued+st.Dropped != 2*per || st.Written != st.Queued || st.Queued != uint64(accepted[0]+accepted[1]) {
		t.Errorf("stats %+v (accepted %v) do not add up", st, accepted)
	}
	recs := readPcapng(t, path)
	perQueue := map[int]int{}
	for _, r := range recs {
		perQueue[r.Queue]++
	}
	if uint64(len(recs)) != st.Written || perQueue[0] != accepted[0] || perQueue[1] != accepted[1] {
		t.Errorf("file holds %d records %v, Written %d, accepted %v", len(recs), perQueue, st.Written, accepted)
	}
	t.Logf("stats %+v", st)
}

func TestCaptureAllocs(t *testing.T) {
	frames := testFrames(t, 16)
	tests := []struct {
		name string
		opts Options
	}{
		{"no expr", Options{}},
		{"expr", Options{Expr: "tcp and (port 80 or port 443) or udp portrange 50-60 or arp"}},
		{"expr rejects all", Options{Expr: "icmp6 and host 2001:db8::99"}},
		{"one small buffer drops", Options{Buffers: 1, MaxFrame: 2048, BufferSize: 4096}},
		{"pcapng", Options{Format: PCAPNG}},
		{"pcapng short interval", Options{Format: PCAPNG, FlushInterval: time.Nanosecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := New(io.Discard, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer tp.Close()
			// The first frame of a queue makes its buffers.
			for q := range 4 {
				tp.Capture(frames[0], q)
				tp.EndBatch(q)
			}
			// Batches of 16 frames on 4 queues, as pollers offer them.
			i := 0
			allocs := testing.AllocsPerRun(2_000, func() {
				q := i % 4
				for _, f := range frames {
					tp.Capture(f, q)
				}
				tp.EndBatch(q)
				i++
			})
			if allocs != 0 {
				t.Errorf("a batch of %d frames allocates %v times", len(frames), allocs)
			}
			t.Logf("stats %+v", tp.Stats())
		})
	}
}

func BenchmarkCapture(b *testing.B) {
	frames := testFrames(b, 16)
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"noexpr", Options{}},
		{"expr", Options{Expr: "tcp and (port 80 or port 443) or udp portrange 50-60 or arp"}},
		{"filtered-out", Options{Expr: "icmp6 and host 2001:db8::99"}},
		{"full-queue", Options{Buffers: 1, MaxFrame: 2048, BufferSize: 4096}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp, err := New(io.Discard, bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer tp.Close()
			b.ReportAllocs()
			i := 0
			// A batch of one frame: Capture and EndBatch per frame, the
			// most a batch costs per frame.
			for b.Loop() {
				tp.Capture(frames[i%len(frames)], 0)
				tp.EndBatch(0)
				i++
			}
			b.StopTimer()
			st := tp.Stats()
			b.ReportMetric(float64(st.Dropped)/float64(max(st.Seen, 1)), "drop/op")
		})
	}
}

func BenchmarkCaptureParallel(b *testing.B) {
	frames := testFrames(b, 16)
	tp, err := New(io.Discard, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tp.Close()
	var q atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		queue := int(q.Add(1))
		i := 0
		for pb.Next() {
			tp.Capture(frames[i%len(frames)], queue)
			if i++; i%64 == 0 {
				tp.EndBatch(queue)
			}
		}
		tp.EndBatch(queue)
	})
}
