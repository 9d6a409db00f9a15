package replay_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/replay"
)

func isDone(q *replay.Queue) bool {
	select {
	case <-q.Done():
		return true
	default:
		return false
	}
}

func checkLedger(t *testing.T, q *replay.Queue, held uint64) {
	t.Helper()
	if err := q.Check(); err != nil {
		t.Error(err)
	}
	b := q.Stats().Buffers
	if b.Unit != "recorded frame" || b.Held != held || b.Free+b.Held != b.Total {
		t.Errorf("Buffers = %+v, want %d held", b, held)
	}
}

func TestRepeatInOrder(t *testing.T) {
	const n = 7
	pkts := seqFrames(t, n)
	for _, tc := range []struct {
		name   string
		repeat int
		passes int
		batch  int
	}{
		{"once", 0, 1, 64},
		{"three", 3, 3, 64},
		{"three-small-batches", 3, 3, 3},
		{"three-batch-1", 3, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := replay.New(pkts, replay.Options{Repeat: tc.repeat, QueueID: 5})
			defer q.Close()
			if q.ID() != 5 || q.Refill() != 0 {
				t.Errorf("ID = %d, Refill = %d", q.ID(), q.Refill())
			}
			frames := make([]driver.Frame, tc.batch)
			var got []int
			var bytesGot uint64
			for {
				k := q.Receive(frames)
				if k == 0 {
					break
				}
				for _, f := range frames[:k] {
					got = append(got, seqOf(f.Data))
					bytesGot += uint64(len(f.Data))
					if !bytes.Equal(f.Data, pkts[f.Handle].Data) {
						t.Fatalf("handle %d: data is not recorded frame %d", f.Handle, f.Handle)
					}
				}
				if isDone(q) {
					t.Fatal("Done closed while frames are held")
				}
				q.Release(frames[:k])
			}
			if len(got) != tc.passes*n {
				t.Fatalf("delivered %d frames, want %d", len(got), tc.passes*n)
			}
			for i, s := range got {
				if s != i%n {
					t.Fatalf("frame %d has sequence %d, want %d (got %v)", i, s, i%n, got)
				}
			}
			if !isDone(q) {
				t.Error("Done is open after every pass was handed out and released")
			}
			st := q.Stats()
			if st.RxFrames != uint64(len(got)) || st.RxBytes != bytesGot || q.Delivered() != uint64(len(got)) {
				t.Errorf("RxFrames %d, RxBytes %d, Delivered %d; want %d, %d", st.RxFrames, st.RxBytes, q.Delivered(), len(got), bytesGot)
			}
			if c := q.Counters(); c.Passes != uint64(tc.passes) || c.Stalls != 0 {
				t.Errorf("Counters = %+v", c)
			}
			checkLedger(t, q, 0)
		})
	}
}

func TestForever(t *testing.T) {
	q := replay.New(seqFrames(t, 3), replay.Options{Repeat: -1})
	frames := make([]driver.Frame, 2)
	for i := 0; i < 100; i++ {
		k := q.Receive(frames)
		if k != 2 {
			t.Fatalf("round %d: Receive = %d", i, k)
		}
		q.Release(frames[:k])
	}
	if isDone(q) {
		t.Error("Done closed on an endless replay")
	}
	q.Close()
	if !isDone(q) {
		t.Error("Done open after Close")
	}
}

func TestHoldAcrossWrap(t *testing.T) {
	const n = 4
	q := replay.New(seqFrames(t, n), replay.Options{Repeat: 2})
	defer q.Close()
	fr := make([]driver.Frame, 8)

	// Pass 0: 0 and 1, released; then 2 and 3, of which 2 stays held.
	if k := q.Receive(fr[:2]); k != 2 {
		t.Fatalf("Receive = %d", k)
	}
	q.Release(fr[:2])
	if k := q.Receive(fr[:2]); k != 2 || fr[0].Handle != 2 || fr[1].Handle != 3 {
		t.Fatalf("Receive = %d %v", k, fr[:k])
	}
	held := fr[0]
	q.Release(fr[1:2])

	// Pass 1 hands out 0 and 1, then stops at 2, still held.
	k := q.Receive(fr)
	if k != 2 || seqOf(fr[0].Data) != 0 || seqOf(fr[1].Data) != 1 {
		t.Fatalf("Receive across the wrap = %d, want slots 0 and 1", k)
	}
	q.Release(fr[:k])
	for range 3 {
		if k := q.Receive(fr); k != 0 {
			t.Fatalf("Receive while slot 2 is held = %d, want 0", k)
		}
	}
	if c := q.Counters(); c.Stalls != 1 {
		t.Errorf("Stalls = %d, want 1 (one stall, however often polled)", c.Stalls)
	}
	checkLedger(t, q, 1)

	// Wait sleeps on the stall until the release.
	waited := make(chan error)
	go func() { waited <- q.Wait(10 * time.Second) }()
	time.Sleep(20 * time.Millisecond)
	q.Release([]driver.Frame{held})
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when the stalling frame was released")
	}

	k = q.Receive(fr)
	if k != 2 || fr[0].Handle != 2 || fr[1].Handle != 3 {
		t.Fatalf("Receive after release = %d %v, want slots 2 and 3", k, fr[:k])
	}
	if isDone(q) {
		t.Error("Done closed with frames held")
	}
	q.Release(fr[:k])
	if !isDone(q) {
		t.Error("Done open after the last release")
	}
	if q.Delivered() != 2*n {
		t.Errorf("Delivered = %d, want %d", q.Delivered(), 2*n)
	}
	checkLedger(t, q, 0)
}

// A single recorded frame held across the wrap: the queue must not hand
// the slot out again.
func TestHoldSingleFrame(t *testing.T) {
	q := replay.New(seqFrames(t, 1), replay.Options{Repeat: -1})
	defer q.Close()
	fr := make([]driver.Frame, 4)
	if k := q.Receive(fr); k != 1 {
		t.Fatalf("Receive = %d, want 1", k)
	}
	if k := q.Receive(fr[1:]); k != 0 {
		t.Fatalf("Receive handed out a held slot again (%d frames)", k)
	}
	if s := q.Stats().Buffers; s.Held != 1 || s.Total != 1 {
		t.Errorf("Buffers = %+v", s)
	}
	q.Release(fr[:1])
	if k := q.Receive(fr); k != 1 {
		t.Fatalf("Receive after release = %d, want 1", k)
	}
}

func TestBadRelease(t *testing.T) {
	q := replay.New(seqFrames(t, 3), replay.Options{})
	defer q.Close()
	fr := make([]driver.Frame, 3)
	k := q.Receive(fr)
	q.Release(fr[:k])
	q.Release(fr[:1])                                                // double release
	q.Release([]driver.Frame{{Handle: 3}, {Handle: 1 << 40}, fr[1]}) // two foreign, one double
	b := q.Stats().Buffers
	if b.BadRelease != 2 || b.Foreign != 2 {
		t.Errorf("BadRelease %d, Foreign %d; want 2, 2", b.BadRelease, b.Foreign)
	}
	checkLedger(t, q, 0)
	q.Release(nil)
}

func TestWait(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		q := replay.New(seqFrames(t, 2), replay.Options{})
		defer q.Close()
		start := time.Now()
		if err := q.Wait(time.Hour); err != nil || time.Since(start) > time.Second {
			t.Fatalf("Wait with frames ready = %v after %v", err, time.Since(start))
		}
		if s := q.Stats(); s.Waits != 0 {
			t.Errorf("Waits = %d, want 0", s.Waits)
		}
	})
	t.Run("exhausted-timeout", func(t *testing.T) {
		q := replay.New(seqFrames(t, 2), replay.Options{})
		defer q.Close()
		fr := make([]driver.Frame, 4)
		q.Release(fr[:q.Receive(fr)])
		start := time.Now()
		if err := q.Wait(30 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 25*time.Millisecond {
			t.Errorf("Wait on an exhausted replay returned after %v, want the timeout", d)
		}
		if s := q.Stats(); s.Waits != 1 || s.Wakeups != 0 {
			t.Errorf("Waits %d, Wakeups %d; want 1, 0", s.Waits, s.Wakeups)
		}
	})
	t.Run("wake", func(t *testing.T) {
		q := replay.New(nil, replay.Options{})
		defer q.Close()
		done := make(chan error)
		go func() { done <- q.Wait(time.Hour) }()
		time.Sleep(10 * time.Millisecond)
		q.Wake()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wake did not end Wait")
		}
		// A Wake before Wait makes the next Wait return at once.
		q.Wake()
		start := time.Now()
		if err := q.Wait(time.Hour); err != nil || time.Since(start) > time.Second {
			t.Fatalf("Wait after Wake = %v after %v", err, time.Since(start))
		}
	})
	t.Run("close", func(t *testing.T) {
		q := replay.New(seqFrames(t, 2), replay.Options{Repeat: -1})
		fr := make([]driver.Frame, 2)
		k := q.Receive(fr)
		if k != 2 || q.Receive(fr) != 0 {
			t.Fatal("want the replay stalled on held frames")
		}
		done := make(chan error)
		go func() { done <- q.Wait(time.Hour) }()
		time.Sleep(10 * time.Millisecond)
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Wait after Close = %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end Wait")
		}
		if err := q.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if err := q.Wait(0); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Wait after Close = %v, want net.ErrClosed", err)
		}
		if !isDone(q) {
			t.Error("Done open after Close")
		}
		q.Release(fr[:k]) // held frames may come back after Close
		if n := q.Receive(fr); n != 0 {
			t.Errorf("Receive after Close = %d", n)
		}
		if n := q.Transmit([][]byte{{1}}); n != 0 {
			t.Errorf("Transmit after Close = %d", n)
		}
		checkLedger(t, q, 0)
	})
}

func TestTiming(t *testing.T) {
	// Frames at 0, 10ms, 30ms and 30ms, played twice.
	pkts := seqFrames(t, 4)
	for i, off := range []time.Duration{0, 10 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond} {
		pkts[i].Time = t0.Add(off)
	}
	type step struct {
		at   time.Duration // fake time since the first Receive
		want []int         // sequences that Receive returns then
	}
	for _, tc := range []struct {
		name  string
		speed float64
		steps []step
	}{
		{"speed-1", 0, []step{
			{0, []int{0}}, {9 * time.Millisecond, nil}, {10 * time.Millisecond, []int{1}},
			{29 * time.Millisecond, nil}, {30 * time.Millisecond, []int{2, 3, 0}}, // pass 2 starts where pass 1 ends
			{39 * time.Millisecond, nil}, {45 * time.Millisecond, []int{1}},
			{59 * time.Millisecond, nil}, {60 * time.Millisecond, []int{2, 3}}, {time.Hour, nil},
		}},
		{"speed-2", 2, []step{
			{0, []int{0}}, {4 * time.Millisecond, nil}, {5 * time.Millisecond, []int{1}},
			{14 * time.Millisecond, nil}, {15 * time.Millisecond, []int{2, 3, 0}},
			{20 * time.Millisecond, []int{1}}, {30 * time.Millisecond, []int{2, 3}}, {time.Hour, nil},
		}},
		{"speed-half", 0.5, []step{
			{0, []int{0}}, {19 * time.Millisecond, nil}, {20 * time.Millisecond, []int{1}},
			// Pass 2's slots 2 and 3 are due, but this very batch holds
			// them; the next one gets them.
			{200 * time.Millisecond, []int{2, 3, 0, 1}}, {200 * time.Millisecond, []int{2, 3}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1000, 0)}
			start := clk.Now()
			q := replay.New(pkts, replay.Options{Repeat: 2, Timing: true, Speed: tc.speed, Clock: clk.Now})
			defer q.Close()
			fr := make([]driver.Frame, 16)
			for _, s := range tc.steps {
				clk.mu.Lock()
				clk.now = start.Add(s.at)
				clk.mu.Unlock()
				k := q.Receive(fr)
				var got []int
				for _, f := range fr[:k] {
					got = append(got, seqOf(f.Data))
				}
				q.Release(fr[:k])
				if !equalInts(got, s.want) {
					t.Fatalf("at %v: Receive gave %v, want %v", s.at, got, s.want)
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// With the real clock, Wait sleeps until the next frame is due.
func TestTimingWait(t *testing.T) {
	pkts := seqFrames(t, 2)
	pkts[1].Time = pkts[0].Time.Add(60 * time.Millisecond)
	q := replay.New(pkts, replay.Options{Timing: true})
	defer q.Close()
	fr := make([]driver.Frame, 4)
	if err := q.Wait(time.Hour); err != nil {
		t.Fatal(err) // before the first Receive the first frame is due
	}
	start := time.Now()
	if k := q.Receive(fr); k != 1 {
		t.Fatalf("first Receive = %d, want 1", k)
	}
	q.Release(fr[:1])
	if k := q.Receive(fr); k != 0 {
		if d := time.Since(start); d < 60*time.Millisecond {
			t.Fatalf("frame 1 came %v early", 60*time.Millisecond-d)
		}
		t.Skip("too slow to see frame 1 before it was due")
	}
	if err := q.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 55*time.Millisecond || d > 5*time.Second {
		t.Errorf("Wait returned %v after the first frame, want about 60ms", d)
	}
	if k := q.Receive(fr); k != 1 {
		t.Fatalf("Receive after Wait = %d, want 1", k)
	}
	q.Release(fr[:1])
	if s := q.Stats(); s.Wakeups == 0 {
		t.Errorf("Wakeups = 0 after a Wait that ended with a frame due")
	}
	if !isDone(q) {
		t.Error("Done open")
	}
}

func TestTransmitCapture(t *testing.T) {
	var capBuf bytes.Buffer
	clk := &fakeClock{now: t0}
	q := replay.New(nil, replay.Options{Capture: &capBuf, Clock: clk.Now})
	defer q.Close()
	frames := seqFrames(t, 8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := [][]byte{frames[2*g].Data, frames[2*g+1].Data}
			if n := q.Transmit(batch); n != 2 {
				t.Errorf("Transmit = %d, want 2", n)
			}
			clk.Advance(time.Nanosecond)
		}()
	}
	wg.Wait()
	sent := q.Sent()
	if len(sent) != 8 {
		t.Fatalf("Sent has %d frames, want 8", len(sent))
	}
	frames[0].Data[0] ^= 0xff // the queue kept copies
	defer func() { frames[0].Data[0] ^= 0xff }()
	seen := map[int]bool{}
	var total uint64
	for _, f := range sent {
		seen[seqOf(f)] = true
		total += uint64(len(f))
	}
	if len(seen) != 8 || sent[0][0] == frames[0].Data[0] && seqOf(sent[0]) == 0 {
		t.Errorf("Sent = %d distinct frames, or aliases the caller's bytes", len(seen))
	}
	if s := q.Stats(); s.TxFrames != 8 || s.TxBytes != total {
		t.Errorf("TxFrames %d, TxBytes %d; want 8, %d", s.TxFrames, s.TxBytes, total)
	}

	r, err := pcapgo.NewReader(&capBuf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("capture link type %v", r.LinkType())
	}
	for i := range sent {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("capture packet %d: %v", i, err)
		}
		if !bytes.Equal(data, sent[i]) {
			t.Errorf("capture packet %d differs from Sent()[%d]", i, i)
		}
		if ci.Timestamp.Before(t0) || ci.Timestamp.After(t0.Add(4)) {
			t.Errorf("capture packet %d at %v, want the fake clock's time", i, ci.Timestamp)
		}
	}
	if c := q.Counters(); c.CaptureErrors != 0 {
		t.Errorf("CaptureErrors = %d", c.CaptureErrors)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestCaptureErrorCounted(t *testing.T) {
	q := replay.New(nil, replay.Options{Capture: &failWriter{after: 1}})
	defer q.Close()
	f := seqFrames(t, 1)[0].Data
	if n := q.Transmit([][]byte{f, f}); n != 2 {
		t.Fatalf("Transmit = %d, want 2", n)
	}
	if c := q.Counters(); c.CaptureErrors != 2 {
		t.Errorf("CaptureErrors = %d, want 2", c.CaptureErrors)
	}
	if len(q.Sent()) != 2 {
		t.Errorf("Sent = %d frames, want 2", len(q.Sent()))
	}
	q2 := replay.New(nil, replay.Options{Capture: &failWriter{}})
	defer q2.Close()
	q2.Transmit([][]byte{f})
	if c := q2.Counters(); c.CaptureErrors != 1 {
		t.Errorf("header failure: CaptureErrors = %d, want 1", c.CaptureErrors)
	}
}

func TestNewPanicsOnBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      replay.Options
		wantPanic bool
	}{
		{"negative-speed", replay.Options{Speed: -1}, true},
		{"short-dst-mac", replay.Options{Rewrite: &replay.Rewrite{DstMAC: net.HardwareAddr{1, 2, 3}}}, true},
		{"long-src-mac", replay.Options{Rewrite: &replay.Rewrite{SrcMAC: make(net.HardwareAddr, 8)}}, true},
		{"ipv6-dst", replay.Options{Rewrite: &replay.Rewrite{DstIP: netip.MustParseAddr("2001:db8::1")}}, true},
		{"ipv4-mapped-dst", replay.Options{Rewrite: &replay.Rewrite{DstIP: netip.MustParseAddr("::ffff:192.0.2.9")}}, false},
		{"valid", replay.Options{Speed: 3, Rewrite: &replay.Rewrite{DstMAC: macA, SrcMAC: macB, DstIP: ipA}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); (r != nil) != tc.wantPanic {
					t.Errorf("New panicked with %v, want panic %v", r, tc.wantPanic)
				}
			}()
			replay.New(nil, tc.opts).Close()
		})
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, timing := range []bool{false, true} {
		q := replay.New(seqFrames(t, 100), replay.Options{Repeat: -1, Timing: timing})
		fr := make([]driver.Frame, 64)
		allocs := testing.AllocsPerRun(1000, func() {
			k := q.Receive(fr)
			q.Release(fr[:k])
		})
		if allocs != 0 {
			t.Errorf("timing=%v: Receive+Release allocate %v times per batch", timing, allocs)
		}
		q.Close()
	}
}

func BenchmarkReceiveRelease(b *testing.B) {
	q := replay.New(seqFrames(b, 256), replay.Options{Repeat: -1})
	defer q.Close()
	fr := make([]driver.Frame, 64)
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		k := q.Receive(fr)
		q.Release(fr[:k])
		frames += k
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
}
