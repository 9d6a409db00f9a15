package poller

import (
	"testing"
	"time"
)

// sim plays the loop's wait policy against frame arrival times, without a
// queue or a clock: at each arrival the loop either was still spinning, or
// slept until that arrival woke it.
type sim struct {
	p      *Poller
	w      waiter
	sleeps int
	spun   time.Duration // time spent polling without work
}

func newSim(spin time.Duration) *sim {
	s := &sim{p: &Poller{opts: Options{IdleSpin: spin}.withDefaults()}}
	s.w = waiter{p: s.p}
	return s
}

// frame delivers a frame at t (in order, after the previous one).
func (s *sim) frame(t time.Duration) {
	p, w := s.p, &s.w
	last := p.lastWork
	if spin := w.spin(); spin >= 0 && t-last >= spin {
		s.spun += spin
		p.now = t
		w.woke(last+spin, spin)
		s.sleeps++
	} else {
		s.spun += t - last
	}
	p.now, p.lastWork = t, t
	w.worked(last)
}

// run delivers frames every step in [from, to).
func (s *sim) run(from, to, step time.Duration) time.Duration {
	for t := from; t < to; t += step {
		s.frame(t)
	}
	return to
}

func TestAdaptiveSpin(t *testing.T) {
	const us, ms = time.Microsecond, time.Millisecond
	t.Run("stream", func(t *testing.T) {
		// A sender flat out, with a gap of 300µs every millisecond,
		// then one of 1.5 ms and one of 5 ms: after its first
		// millisecond the loop sleeps only in the last.
		s := newSim(0)
		at := s.run(0, ms, us)
		before := s.sleeps
		for i := 0; i < 20; i++ {
			at = s.run(at+300*us, at+ms, us)
		}
		at = s.run(at+1500*us, at+2500*us, us)
		if s.sleeps != before {
			t.Fatalf("%d sleeps in gaps of a running stream, want 0", s.sleeps-before)
		}
		at = s.run(at+5*ms, at+6*ms, us)
		if s.sleeps != before+1 {
			t.Fatalf("%d sleeps in a gap of 5 ms, want 1", s.sleeps-before)
		}
		if got := s.w.spin(); got != MaxIdleSpin {
			t.Fatalf("spin %v after a long stream, want %v", got, MaxIdleSpin)
		}
		// A frame long after the stream: the spin is short again.
		s.frame(at + time.Second)
		if got := s.w.spin(); got != MinIdleSpin {
			t.Fatalf("spin %v after a second of silence, want %v", got, MinIdleSpin)
		}
	})
	t.Run("bursts", func(t *testing.T) {
		// Bursts of 50 frames 1µs apart, 100µs between bursts: a few
		// sleeps at first, then the spin covers the gaps.
		s := newSim(0)
		at := time.Duration(0)
		for i := 0; i < 100; i++ {
			at = s.run(at, at+50*us, us) + 100*us
		}
		if s.sleeps > 3 {
			t.Fatalf("%d sleeps in 100 bursts, want at most 3", s.sleeps)
		}
	})
	for _, every := range []time.Duration{200 * us, ms, 5 * ms} {
		t.Run("sparse-"+every.String(), func(t *testing.T) {
			// A frame every 200µs or more: the loop sleeps after
			// each, spinning only MinIdleSpin.
			s := newSim(0)
			for i := 1; i <= 200; i++ {
				s.frame(time.Duration(i) * every)
			}
			if s.sleeps != 200 {
				t.Fatalf("%d sleeps for 200 sparse frames, want 200", s.sleeps)
			}
			if s.spun != 200*MinIdleSpin {
				t.Fatalf("spun %v, want %v", s.spun, 200*MinIdleSpin)
			}
		})
	}
	t.Run("fixed", func(t *testing.T) {
		// IdleSpin > 0 is the old fixed spin: every gap longer sleeps.
		s := newSim(50 * us)
		at := s.run(0, ms, us)
		for i := 0; i < 20; i++ {
			at = s.run(at+300*us, at+ms, us)
		}
		if s.sleeps != 20 {
			t.Fatalf("%d sleeps, want one per gap (20)", s.sleeps)
		}
	})
	t.Run("never", func(t *testing.T) {
		s := newSim(-1)
		s.run(0, ms, us)
		s.frame(time.Hour)
		if s.sleeps != 0 {
			t.Fatalf("%d sleeps with a negative IdleSpin", s.sleeps)
		}
	})
}
