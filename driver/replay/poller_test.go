package replay_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rxpath/rxpath/driver/replay"
	"github.com/rxpath/rxpath/poller"
)

// The replay runs under the real poll loop: every pass arrives in order,
// frames the handler holds across the wrap stall the replay without being
// handed out twice, and Done closes once the last one is released.
func TestUnderPoller(t *testing.T) {
	const n, repeat = 50, 4
	q := replay.New(seqFrames(t, n), replay.Options{Repeat: repeat})
	defer q.Close()

	var (
		mu   sync.Mutex
		got  []int
		held []poller.Held
	)
	releaser := make(chan poller.Held, n*repeat)
	go func() {
		for h := range releaser {
			time.Sleep(100 * time.Microsecond)
			h.Release()
		}
	}()
	defer close(releaser)
	p := poller.New(q, func(b *poller.Batch) {
		mu.Lock()
		defer mu.Unlock()
		for i, f := range b.Frames {
			s := seqOf(f.Data)
			got = append(got, s)
			if s%7 == 0 { // keep some frames past the batch
				h := b.Hold(i)
				held = append(held, h)
				releaser <- h
			}
		}
	}, poller.Options{Weight: 16, PollTimeout: 5 * time.Millisecond})
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-q.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("replay not done: delivered %d of %d, stats %+v", q.Delivered(), n*repeat, q.Stats())
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n*repeat {
		t.Fatalf("handler saw %d frames, want %d", len(got), n*repeat)
	}
	for i, s := range got {
		if s != i%n {
			t.Fatalf("frame %d has sequence %d, want %d", i, s, i%n)
		}
	}
	if err := q.Check(); err != nil {
		t.Error(err)
	}
	st := p.Stats()
	if st.Processed != n*repeat || st.Driver.RxFrames != n*repeat || st.Driver.Buffers.Held != 0 || st.Driver.Buffers.BadRelease != 0 {
		t.Errorf("poller stats %+v", st)
	}
	t.Logf("held %d frames; stalls %d; driver waits %d", len(held), q.Counters().Stalls, st.Driver.Waits)
}

// Closing the queue ends a running poller, which idles on the exhausted
// replay in between.
func TestPollerExitsOnClose(t *testing.T) {
	for _, repeat := range []int{1, -1} {
		q := replay.New(seqFrames(t, 10), replay.Options{Repeat: repeat})
		p := poller.New(q, func(*poller.Batch) {}, poller.Options{PollTimeout: time.Hour})
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if repeat > 0 {
			<-q.Done()
			time.Sleep(5 * time.Millisecond) // let it go to sleep in Wait
		} else {
			for q.Delivered() < 100 {
				time.Sleep(time.Millisecond)
			}
		}
		q.Close()
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("repeat %d: poller did not exit after Close", repeat)
		}
		if err := p.Err(); err != nil {
			t.Errorf("repeat %d: poller error %v, want nil for a closed queue", repeat, err)
		}
		select {
		case <-q.Done():
		default:
			t.Errorf("repeat %d: Done open after Close", repeat)
		}
		if err := q.Check(); err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkPollRound is one poller round over the replay at a fixed batch
// size: Weight and Budget are the batch, so each Poll receives one batch,
// hands it to an empty handler, releases it and ends the round.
func BenchmarkPollRound(b *testing.B) {
	for _, n := range []int{1, 4, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			q := replay.New(seqFrames(b, 256), replay.Options{Repeat: -1})
			defer q.Close()
			p := poller.New(q, func(*poller.Batch) {}, poller.Options{Weight: n, Budget: n})
			frames := 0
			b.ReportAllocs()
			for b.Loop() {
				frames += p.Poll()
			}
			if frames != b.N*n {
				b.Fatalf("polled %d frames, want %d", frames, b.N*n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
		})
	}
}
