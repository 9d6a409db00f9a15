package timer

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }

// recorder makes entries that append their name to a log when they fire.
type recorder struct {
	w   *Wheel
	log []int
}

func (r *recorder) entries(n int) []*Entry {
	es := make([]*Entry, n)
	for i := range es {
		es[i] = new(Entry)
		r.w.Init(es[i], func(time.Time) { r.log = append(r.log, i) })
	}
	return es
}

func newRecorder() (*recorder, *FakeClock) {
	c := NewFakeClock(epoch)
	return &recorder{w: New(c.Now)}, c
}

func TestOrdering(t *testing.T) {
	r, _ := newRecorder()
	es := r.entries(200)
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := make([]int, len(es))
	for _, i := range rng.Perm(len(es)) {
		deadline[i] = i / 2 // pairs share a deadline
		r.w.Schedule(es[i], at(deadline[i]))
	}
	if got := r.w.Len(); got != len(es) {
		t.Fatalf("Len() = %d, want %d", got, len(es))
	}
	if n := r.w.Advance(at(49)); n != 100 {
		t.Fatalf("Advance(49ms) fired %d, want 100", n)
	}
	if n := r.w.Advance(at(1000)); n != 100 {
		t.Fatalf("Advance(1s) fired %d, want 100", n)
	}
	for k := 1; k < len(r.log); k++ {
		if deadline[r.log[k]] < deadline[r.log[k-1]] {
			t.Fatalf("fired out of order: %v", r.log)
		}
	}
	if r.w.Len() != 0 {
		t.Errorf("Len() after firing everything = %d, want 0", r.w.Len())
	}
}

func TestTiesFireInScheduleOrder(t *testing.T) {
	r, _ := newRecorder()
	es := r.entries(50)
	perm := rand.New(rand.NewPCG(3, 4)).Perm(len(es))
	for _, i := range perm {
		r.w.Schedule(es[i], at(7))
	}
	r.w.Advance(at(7))
	if diff := cmp.Diff(perm, r.log); diff != "" {
		t.Errorf("equal deadlines fired out of Schedule order (-want +got):\n%s", diff)
	}
}

func TestRearmAndStop(t *testing.T) {
	type op struct {
		do       func(t *testing.T, w *Wheel, es []*Entry)
		advance  int   // then Advance to this time (ms)
		fired    []int // entries that fired during the Advance
		len      int
		armed    []bool
		deadline []int // of the armed entries, ms
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{
			name: "re-arm earlier",
			ops: []op{
				{do: func(t *testing.T, w *Wheel, es []*Entry) { w.Schedule(es[0], at(10)); w.Schedule(es[1], at(8)) },
					advance: 0, len: 2, armed: []bool{true, true}, deadline: []int{10, 8}},
				{do: func(t *testing.T, w *Wheel, es []*Entry) { w.Schedule(es[0], at(5)) },
					advance: 5, fired: []int{0}, len: 1, armed: []bool{false, true}, deadline: []int{0, 8}},
				{advance: 8, fired: []int{1}, armed: []bool{false, false}},
			},
		},
		{
			name: "re-arm later",
			ops: []op{
				{do: func(t *testing.T, w *Wheel, es []*Entry) { w.Schedule(es[0], at(5)); w.Schedule(es[1], at(8)) },
					advance: 0, len: 2, armed: []bool{true, true}, deadline: []int{5, 8}},
				{do: func(t *testing.T, w *Wheel, es []*Entry) { w.Schedule(es[0], at(20)) },
					advance: 10, fired: []int{1}, len: 1, armed: []bool{true, false}, deadline: []int{20, 0}},
				{advance: 20, fired: []int{0}, armed: []bool{false, false}},
			},
		},
		{
			name: "stop",
			ops: []op{
				{do: func(t *testing.T, w *Wheel, es []*Entry) { w.Schedule(es[0], at(5)); w.Schedule(es[1], at(6)) },
					advance: 0, len: 2, armed: []bool{true, true}, deadline: []int{5, 6}},
				{do: func(t *testing.T, w *Wheel, es []*Entry) {
					if !w.Stop(es[0]) {
						t.Error("Stop of an armed entry returned false")
					}
					if w.Stop(es[0]) {
						t.Error("second Stop returned true")
					}
				}, advance: 10, fired: []int{1}, armed: []bool{false, false}},
				{do: func(t *testing.T, w *Wheel, es []*Entry) {
					if w.Stop(es[1]) {
						t.Error("Stop of a fired entry returned true")
					}
					w.Schedule(es[0], at(12)) // a stopped entry can be armed again
				}, advance: 12, fired: []int{0}, armed: []bool{false, false}},
			},
		},
		{
			name: "deadline in the past fires on the next Advance",
			ops: []op{
				{advance: 100, armed: []bool{false, false}},
				{do: func(t *testing.T, w *Wheel, es []*Entry) { w.Schedule(es[1], at(50)) },
					advance: 100, fired: []int{1}, armed: []bool{false, false}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRecorder()
			es := r.entries(2)
			for i, o := range tt.ops {
				if o.do != nil {
					o.do(t, r.w, es)
				}
				r.log = nil
				r.w.Advance(at(o.advance))
				if diff := cmp.Diff(o.fired, r.log); diff != "" {
					t.Errorf("op %d: fired (-want +got):\n%s", i, diff)
				}
				if got := r.w.Len(); got != o.len {
					t.Errorf("op %d: Len() = %d, want %d", i, got, o.len)
				}
				for j, e := range es {
					d, ok := r.w.Deadline(e)
					if ok != o.armed[j] || r.w.Armed(e) != o.armed[j] {
						t.Errorf("op %d: entry %d armed %v (Armed %v), want %v", i, j, ok, r.w.Armed(e), o.armed[j])
					}
					if ok && !d.Equal(at(o.deadline[j])) {
						t.Errorf("op %d: entry %d deadline %v, want %v", i, j, d, at(o.deadline[j]))
					}
				}
			}
		})
	}
}

func TestUninitialized(t *testing.T) {
	w := New(nil)
	var e Entry
	if w.Stop(&e) || w.Armed(&e) || w.Len() != 0 {
		t.Error("a zero Entry reads as armed")
	}
	if _, ok := w.Deadline(&e); ok {
		t.Error("a zero Entry has a deadline")
	}
	mustPanic(t, "Schedule without Init", func() { w.Schedule(&e, epoch) })
	mustPanic(t, "Init with nil", func() { w.Init(&e, nil) })
	w.Init(&e, func(time.Time) {})
	other := New(nil)
	mustPanic(t, "Schedule on another Wheel", func() { other.Schedule(&e, epoch) })
	mustPanic(t, "Init on another Wheel", func() { other.Init(&e, func(time.Time) {}) })
	if other.Stop(&e) || other.Armed(&e) {
		t.Error("another Wheel sees the Entry")
	}
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", name)
		}
	}()
	f()
}

func TestCallbacks(t *testing.T) {
	t.Run("reschedule themselves", func(t *testing.T) {
		c := NewFakeClock(epoch)
		w := New(c.Now)
		var e Entry
		var fires []time.Time
		w.Init(&e, func(now time.Time) {
			fires = append(fires, now)
			if w.Armed(&e) {
				t.Error("entry armed inside its own callback")
			}
			w.Schedule(&e, epoch.Add(time.Duration(len(fires)+1)*10*time.Millisecond))
		})
		w.Schedule(&e, at(10))
		// One Advance covers ten periods: each re-arm at or before now fires
		// in the same call.
		if n := w.Advance(at(100)); n != 10 {
			t.Errorf("Advance(100ms) fired %d, want 10", n)
		}
		if d, ok := w.Deadline(&e); !ok || !d.Equal(at(110)) {
			t.Errorf("deadline after Advance: %v %v, want %v", d, ok, at(110))
		}
		for _, f := range fires {
			if !f.Equal(at(100)) {
				t.Errorf("callback got now %v, want the Advance time %v", f, at(100))
			}
		}
		if n := w.Advance(c.Add(105 * time.Millisecond)); n != 0 {
			t.Errorf("Advance(105ms) fired %d, want 0", n)
		}
		if n := w.Advance(c.Add(5 * time.Millisecond)); n != 1 {
			t.Errorf("Advance(110ms) fired %d, want 1", n)
		}
	})
	t.Run("re-arm at now is bounded", func(t *testing.T) {
		w := New(nil)
		var e Entry
		w.Init(&e, func(now time.Time) { w.Schedule(&e, now) })
		w.Schedule(&e, epoch)
		if n := w.Advance(epoch); n != 1+maxRefires {
			t.Errorf("Advance fired %d, want the bound %d", n, 1+maxRefires)
		}
		if !w.Armed(&e) {
			t.Error("entry not left armed for the next Advance")
		}
	})
	t.Run("stop and schedule others", func(t *testing.T) {
		r, _ := newRecorder()
		es := r.entries(3)
		var first Entry
		r.w.Init(&first, func(time.Time) {
			r.w.Stop(es[0])
			r.w.Schedule(es[1], at(1)) // already due: fires in this Advance
			r.w.Schedule(es[2], at(50))
		})
		r.w.Schedule(&first, at(1))
		r.w.Schedule(es[0], at(2))
		if n := r.w.Advance(at(10)); n != 2 {
			t.Errorf("Advance fired %d, want 2", n)
		}
		if diff := cmp.Diff([]int{1}, r.log); diff != "" {
			t.Errorf("fired (-want +got):\n%s", diff)
		}
		if !r.w.Armed(es[2]) || r.w.Len() != 1 {
			t.Errorf("entry armed by a callback: Armed %v Len %d", r.w.Armed(es[2]), r.w.Len())
		}
	})
}

// runWheel starts Run and stops it, checking it returns, at cleanup.
func runWheel(t *testing.T, w *Wheel) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(stop)
	}()
	t.Cleanup(func() {
		close(stop)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("Run did not return within 2s of stop")
		}
	})
}

func TestRunWakesEarly(t *testing.T) {
	w := New(nil)
	runWheel(t, w)
	var far, near Entry
	fired := make(chan string, 2)
	w.Init(&far, func(time.Time) { fired <- "far" })
	w.Init(&near, func(time.Time) { fired <- "near" })
	w.Schedule(&far, w.Now().Add(time.Hour))
	time.Sleep(10 * time.Millisecond) // let Run settle into its hour-long sleep
	w.Schedule(&near, w.Now().Add(5*time.Millisecond))
	select {
	case got := <-fired:
		if got != "near" {
			t.Fatalf("%s fired first", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the earlier deadline did not fire within 2s")
	}
	if !w.Armed(&far) || w.Armed(&near) {
		t.Errorf("after the early fire: far armed %v, near armed %v; want true, false", w.Armed(&far), w.Armed(&near))
	}
	// Moving the far entry in works the same way.
	w.Schedule(&far, w.Now())
	select {
	case got := <-fired:
		if got != "far" {
			t.Fatalf("%s fired", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the re-armed deadline did not fire within 2s")
	}
}

func TestRunFromEmpty(t *testing.T) {
	w := New(nil)
	runWheel(t, w)
	time.Sleep(5 * time.Millisecond) // Run sleeps with nothing armed
	var e Entry
	fired := make(chan time.Time, 1)
	w.Init(&e, func(now time.Time) { fired <- now })
	deadline := w.Now().Add(time.Millisecond)
	w.Schedule(&e, deadline)
	select {
	case now := <-fired:
		if now.Before(deadline) {
			t.Errorf("fired at %v, before its deadline %v", now, deadline)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("did not fire within 2s")
	}
}

// TestRunConcurrent hammers Schedule and Stop from many goroutines while
// Run fires (run it with -race), then checks that every entry armed at the
// end fires exactly once.
func TestRunConcurrent(t *testing.T) {
	const goroutines, perG, rounds = 16, 32, 2000
	w := New(nil)
	runWheel(t, w)
	type conn struct {
		mu    sync.Mutex
		e     Entry
		fires atomic.Int64
		final atomic.Bool // armed for the last time
		done  chan struct{}
	}
	conns := make([]*conn, goroutines*perG)
	var totalFires atomic.Int64
	for i := range conns {
		c := &conn{done: make(chan struct{})}
		conns[i] = c
		w.Init(&c.e, func(now time.Time) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.fires.Add(1)
			totalFires.Add(1)
			if c.final.Load() && !w.Armed(&c.e) {
				close(c.done)
			}
		})
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			mine := conns[g*perG : (g+1)*perG]
			for range rounds {
				c := mine[rng.IntN(len(mine))]
				switch rng.IntN(4) {
				case 0:
					w.Stop(&c.e)
				case 1:
					w.Schedule(&c.e, w.Now().Add(time.Duration(rng.IntN(2000))*time.Microsecond))
				case 2:
					w.Schedule(&c.e, w.Now().Add(time.Hour))
				default:
					_ = w.Armed(&c.e)
					_, _ = w.Deadline(&c.e)
				}
			}
			for _, c := range mine {
				// A stale callback already taken off the heap sees the
				// final Schedule armed and does not count as the last.
				c.mu.Lock()
				c.final.Store(true)
				w.Schedule(&c.e, w.Now())
				c.mu.Unlock()
			}
		})
	}
	wg.Wait()
	timeout := time.After(2 * time.Second)
	for i, c := range conns {
		select {
		case <-c.done:
		case <-timeout:
			t.Fatalf("entry %d did not fire within 2s of its final Schedule (Len %d)", i, w.Len())
		}
	}
	if n := w.Len(); n != 0 {
		t.Errorf("Len() = %d after every final fire, want 0", n)
	}
	t.Logf("%d callbacks", totalFires.Load())
}

func TestRunStops(t *testing.T) {
	before := runtime.NumGoroutine()
	w := New(nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(stop)
	}()
	var e Entry
	w.Init(&e, func(time.Time) {})
	w.Schedule(&e, w.Now().Add(time.Hour))
	close(stop)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of stop")
	}
	if !w.Armed(&e) {
		t.Error("stopping Run disarmed an entry")
	}
	// Manual mode still works once Run is gone.
	if n := w.Advance(w.Now().Add(2 * time.Hour)); n != 1 {
		t.Errorf("Advance after Run returned fired %d, want 1", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Run returned, %d before", n, before)
	}
}

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(epoch)
	if got := c.Add(time.Second); !got.Equal(epoch.Add(time.Second)) || !c.Now().Equal(got) {
		t.Errorf("Add(1s) = %v, Now() = %v", got, c.Now())
	}
	c.Set(epoch)
	if !c.Now().Equal(epoch) {
		t.Errorf("Now() after Set = %v", c.Now())
	}
	var _ Clock = c
	if w := New(c.Now); !w.Now().Equal(epoch) {
		t.Errorf("Wheel.Now() = %v, want the fake clock's %v", w.Now(), epoch)
	}
}

var sink int

func TestZeroAllocs(t *testing.T) {
	w := New(nil)
	es := make([]Entry, 64)
	for i := range es {
		w.Init(&es[i], func(time.Time) { sink++ })
		w.Schedule(&es[i], at(i)) // grows the heap once
	}
	for i := range es {
		w.Stop(&es[i])
	}
	i := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{"schedule and stop", func() {
			e := &es[i%len(es)]
			i++
			w.Schedule(e, at(i))
			w.Stop(e)
		}},
		{"re-arm", func() {
			e := &es[i%len(es)]
			i++
			w.Schedule(e, at(i))
			w.Schedule(e, at(i-1000))
			w.Schedule(e, at(i+1000))
			_, _ = w.Deadline(e)
			sink += w.Len()
			if w.Armed(e) {
				w.Stop(e)
			}
		}},
		{"schedule and fire", func() {
			e := &es[i%len(es)]
			i++
			w.Schedule(e, at(i))
			w.Advance(at(i))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(1000, tt.fn); a != 0 {
				t.Errorf("allocations per run: %v, want 0", a)
			}
		})
	}
}

// BenchmarkScheduleStop arms and stops one entry among 10k armed ones, the
// way a connection moves its retransmission timer on every ACK.
func BenchmarkScheduleStop(b *testing.B) {
	const n = 10000
	w := New(nil)
	es := make([]Entry, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range es {
		w.Init(&es[i], func(time.Time) {})
		w.Schedule(&es[i], at(rng.IntN(1_000_000)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e := &es[i%n]
		w.Stop(e)
		w.Schedule(e, at(rng.IntN(1_000_000)))
	}
}

// BenchmarkReschedule moves armed entries among 10k.
func BenchmarkReschedule(b *testing.B) {
	const n = 10000
	w := New(nil)
	es := make([]Entry, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range es {
		w.Init(&es[i], func(time.Time) {})
		w.Schedule(&es[i], at(rng.IntN(1_000_000)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w.Schedule(&es[i%n], at(rng.IntN(1_000_000)))
	}
}

// TestInitArg: an entry set up with InitArg fires its function with its
// argument, and setting it up allocates nothing.
func TestInitArg(t *testing.T) {
	w := New(NewFakeClock(epoch).Now)
	type owner struct {
		e     Entry
		fired []time.Time
	}
	fire := func(arg any, now time.Time) {
		o := arg.(*owner)
		o.fired = append(o.fired, now)
	}
	owners := make([]*owner, 8)
	for i := range owners {
		owners[i] = new(owner)
	}
	if n := testing.AllocsPerRun(10, func() {
		for _, o := range owners {
			w.InitArg(&o.e, fire, o)
		}
	}); n != 0 {
		t.Errorf("InitArg: %v allocations per run, want 0", n)
	}
	w.Schedule(&owners[3].e, at(10))
	if n := w.Advance(at(10)); n != 1 {
		t.Fatalf("Advance fired %d, want 1", n)
	}
	for i, o := range owners {
		if want := map[bool]int{true: 1, false: 0}[i == 3]; len(o.fired) != want {
			t.Errorf("owner %d fired %d times, want %d", i, len(o.fired), want)
		}
	}
	mustPanic(t, "InitArg with nil", func() { w.InitArg(&owners[0].e, nil, nil) })
}
