package tcp_test

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/rxpath/rxpath/stack/tcp"
)

// TestBlockedReaderWakeZeroAllocs: a reader blocked in Read is woken by
// each arriving segment without an allocation (the wake channel is
// reused, not remade per wake-up).
func TestBlockedReaderWakeZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	h := newHarness(t, tcp.Options{})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	const runs = 200
	payload := bytes.Repeat([]byte{5}, 1000)
	frames := make([][]byte, runs+2)
	for i := range frames {
		frames[i] = h.frame(pc, payload)
	}
	h.out()
	h.q.DiscardTx(true)
	got := make(chan int)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pc.c.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- n
		}
	}()
	limit := time.NewTimer(10 * time.Second) // one timer: time.After would allocate per step
	defer limit.Stop()
	step := func(i int) {
		h.deliverRaw(frames[i])
		select {
		case n := <-got:
			if n != len(payload) {
				t.Fatalf("read %d bytes, want %d", n, len(payload))
			}
		case <-limit.C:
			t.Fatal("blocked reader not woken")
		}
		h.drain()
	}
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	step(0)
	step(1)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 2; i < runs+2; i++ {
		step(i)
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n > runs/20 {
		t.Fatalf("%d allocations over %d wake-ups of a blocked reader", n, runs)
	}
	pc.c.Close()
}

// TestWakeReachesEveryWaiter: two readers and a writer blocked on one
// connection all return when it is closed.
func TestWakeReachesEveryWaiter(t *testing.T) {
	h := newHarness(t, tcp.Options{SndBuf: 1000})
	l := listen(t, h, 80, tcp.ListenOptions{})
	pc := h.establish(l, 80, false)
	done := make(chan error, 3)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := pc.c.Read(make([]byte, 100))
			done <- err
		}()
	}
	go func() {
		// The peer never acknowledges: the 1000-byte send buffer fills
		// and the writer blocks.
		_, err := pc.c.Write(make([]byte, 5000))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let them block (they re-check if not)
	pc.c.Close()
	for i := 0; i < 3; i++ {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a waiter returned no error after Close")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of 3 waiters still blocked after Close", 3-i)
		}
	}
}
