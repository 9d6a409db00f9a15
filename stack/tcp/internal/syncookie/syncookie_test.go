package syncookie_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/stack/tcp/internal/syncookie"
)

var (
	secretA = []byte("rxpath syncookie test secret A..")
	secretB = []byte("rxpath syncookie test secret B..")
	t0      = time.Unix(1_700_000_000, 0)
	tuple   = syncookie.Tuple{
		SrcAddr: [4]byte{192, 0, 2, 1}, DstAddr: [4]byte{198, 51, 100, 7},
		SrcPort: 40000, DstPort: 443,
	}
	msstab = []uint16{536, 1300, 1440, 1460}
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newGen returns a Generator with secret and a fake clock starting at t0.
func newGen(secret []byte) (*syncookie.Generator, *fakeClock) {
	c := &fakeClock{now: t0}
	return syncookie.New(syncookie.Options{Clock: c.Now, Secret: secret}), c
}

// otherTuples returns t changed in one field at a time.
func otherTuples(t syncookie.Tuple) map[string]syncookie.Tuple {
	m := map[string]syncookie.Tuple{}
	u := t
	u.SrcAddr[3] ^= 1
	m["src addr"] = u
	u = t
	u.DstAddr[0] ^= 0x80
	m["dst addr"] = u
	u = t
	u.SrcPort++
	m["src port"] = u
	u = t
	u.DstPort = 80
	m["dst port"] = u
	u = t
	u.SrcAddr, u.DstAddr, u.SrcPort, u.DstPort = t.DstAddr, t.SrcAddr, t.DstPort, t.SrcPort
	m["reversed"] = u
	return m
}

func TestISNPerTuple(t *testing.T) {
	g, _ := newGen(secretA)
	isn := g.ISN(tuple)
	if again := g.ISN(tuple); again != isn {
		t.Fatalf("ISN not stable at a fixed time: %#x then %#x", isn, again)
	}
	for name, u := range otherTuples(tuple) {
		t.Run(name, func(t *testing.T) {
			if got := g.ISN(u); got == isn {
				t.Errorf("ISN(%v) = ISN(%v) = %#x", u, tuple, got)
			}
		})
	}
}

func TestISNClock(t *testing.T) {
	g, c := newGen(secretA)
	isn0 := g.ISN(tuple)
	for _, tc := range []struct {
		advance time.Duration
		ticks   uint32 // since the start, 4 µs each
	}{
		{3 * time.Microsecond, 0},
		{time.Microsecond, 1},
		{time.Millisecond - 4*time.Microsecond, 250},
		{time.Second - time.Millisecond, 250_000},
		{time.Hour - time.Second, 900_000_000},
		{5 * time.Hour, 5_400_000_000 % (1 << 32)}, // M wraps after about 4.77 hours
	} {
		c.Advance(tc.advance)
		if got := g.ISN(tuple) - isn0; got != tc.ticks {
			t.Errorf("after %v: ISN advanced by %d, want %d", c.Now().Sub(t0), got, tc.ticks)
		}
	}
}

func TestISNSecrets(t *testing.T) {
	a, _ := newGen(secretA)
	a2, _ := newGen(secretA)
	b, _ := newGen(secretB)
	if a.ISN(tuple) != a2.ISN(tuple) {
		t.Error("two generators with the same secret and clock disagree")
	}
	if a.ISN(tuple) == b.ISN(tuple) {
		t.Error("different secrets give the same ISN")
	}
	r1 := syncookie.New(syncookie.Options{Clock: func() time.Time { return t0 }})
	r2 := syncookie.New(syncookie.Options{Clock: func() time.Time { return t0 }})
	if r1.ISN(tuple) == r2.ISN(tuple) && r1.TSOffset(tuple) == r2.TSOffset(tuple) {
		t.Error("two generators with random secrets agree")
	}
}

func TestShortSecretPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted a secret shorter than MinSecretLen")
		}
	}()
	syncookie.New(syncookie.Options{Secret: make([]byte, syncookie.MinSecretLen-1)})
}

func TestTSOffset(t *testing.T) {
	g, c := newGen(secretA)
	off := g.TSOffset(tuple)
	c.Advance(time.Hour)
	if g.TSOffset(tuple) != off {
		t.Error("TSOffset changes with time")
	}
	ports := tuple
	ports.SrcPort, ports.DstPort = 1, 2
	if g.TSOffset(ports) != off {
		t.Error("TSOffset depends on the ports; want the address pair only")
	}
	others := otherTuples(tuple)
	for _, name := range []string{"src addr", "dst addr", "reversed"} {
		if g.TSOffset(others[name]) == off {
			t.Errorf("TSOffset same for %s", name)
		}
	}
	if b, _ := newGen(secretB); b.TSOffset(tuple) == off {
		t.Error("different secrets give the same TSOffset")
	}
}

func TestTSNow(t *testing.T) {
	g, c := newGen(secretA)
	ts0 := g.TSNow()
	for _, d := range []time.Duration{time.Millisecond - 1, 1, time.Second, time.Hour} {
		before := g.TSNow()
		c.Advance(d)
		want := uint32(c.Now().Sub(t0) / time.Millisecond)
		if got := g.TSNow() - ts0; got != want {
			t.Errorf("after %v: TSNow advanced by %d, want %d", c.Now().Sub(t0), got, want)
		}
		if int32(g.TSNow()-before) < 0 {
			t.Errorf("TSNow went backwards")
		}
	}
}

func TestCookieRoundTrip(t *testing.T) {
	g, c := newGen(secretA)
	now := t0.Add(12*time.Minute + 34567*time.Millisecond)
	type tc struct {
		name string
		p    syncookie.Params
		want syncookie.Params
	}
	var tcs []tc
	// The MSS table, values between entries, and the extremes.
	for _, m := range []struct{ in, want uint16 }{
		{0, 536}, {100, 536}, {535, 536}, {536, 536}, {537, 536}, {1299, 536},
		{1300, 1300}, {1400, 1300}, {1440, 1440}, {1459, 1440}, {1460, 1460}, {9000, 1460}, {65535, 1460},
	} {
		for _, ts := range []bool{false, true} {
			p := syncookie.Params{MSS: m.in, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: ts}
			want := syncookie.Params{MSS: m.want, HasTS: ts}
			if ts {
				want.HasWScale, want.WScale, want.SACKPermitted = true, 7, true
			}
			tcs = append(tcs, tc{name: fmt.Sprintf("mss=%d/ts=%v", m.in, ts), p: p, want: want})
		}
	}
	// Every window scale, none, and too large; with and without SACK and
	// timestamps.
	for ws := -1; ws <= 20; ws++ {
		for _, sack := range []bool{false, true} {
			for _, ts := range []bool{false, true} {
				p := syncookie.Params{MSS: 1460, SACKPermitted: sack, HasTS: ts}
				if ws >= 0 {
					p.HasWScale, p.WScale = true, uint8(ws)
				}
				want := syncookie.Params{MSS: 1460, HasTS: ts}
				if ts {
					want.SACKPermitted = sack
					if ws >= 0 {
						want.HasWScale, want.WScale = true, uint8(min(ws, 14))
					}
				}
				tcs = append(tcs, tc{name: fmt.Sprintf("wscale=%d/sack=%v/ts=%v", ws, sack, ts), p: p, want: want})
			}
		}
	}
	// A window scale without HasWScale is not one.
	tcs = append(tcs, tc{name: "wscale without flag",
		p:    syncookie.Params{MSS: 1460, WScale: 5, HasTS: true},
		want: syncookie.Params{MSS: 1460, HasTS: true}})

	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			synSeq := rng.Uint32()
			isn, tsval, enc := g.Cookie(tuple, synSeq, tc.p, now)
			if d := cmp.Diff(tc.want, enc); d != "" {
				t.Fatalf("Cookie(%+v) enc (-want +got):\n%s", tc.p, d)
			}
			if !tc.p.HasTS {
				if tsval != 0 {
					t.Errorf("tsval = %#x without timestamps, want 0", tsval)
				}
			} else {
				// TSval minus the offset: the options in the low bits, the
				// clock above, never ahead of it.
				c.Set(now)
				ts := tsval - g.TSOffset(tuple)
				opts := uint32(0xf)
				if enc.HasWScale {
					opts = uint32(enc.WScale)
				}
				if enc.SACKPermitted {
					opts |= 1 << 4
				}
				if ts&0x3f != opts {
					t.Errorf("TSval low bits = %#x, want %#x", ts&0x3f, opts)
				}
				if age := g.TSNow() - ts; age >= 128 {
					t.Errorf("TSval is %d ms behind the clock", int32(age))
				}
			}
			for _, later := range []time.Duration{0, time.Millisecond, 30 * time.Second, 59 * time.Second} {
				p, ok := g.Check(tuple, synSeq+1, isn+1, tc.p.HasTS, tsval, now.Add(later))
				if !ok {
					t.Fatalf("Check %v later rejects the cookie", later)
				}
				if d := cmp.Diff(enc, p); d != "" {
					t.Errorf("Check %v later (-enc +got):\n%s", later, d)
				}
			}
		})
	}
}

// TestCookieLifetime checks the minute window: a cookie made at the start
// of a minute lives almost two minutes, one made at its end one minute;
// none lives two.
func TestCookieLifetime(t *testing.T) {
	g, _ := newGen(secretA)
	for _, tc := range []struct {
		made, checked time.Duration // after the Generator's start
		ok            bool
	}{
		{0, 0, true},
		{0, 2*time.Minute - time.Millisecond, true},
		{0, 2 * time.Minute, false},
		{time.Minute - time.Millisecond, time.Minute, true},
		{time.Minute - time.Millisecond, 2*time.Minute - time.Millisecond, true},
		{time.Minute - time.Millisecond, 2 * time.Minute, false},
		{90 * time.Second, 90*time.Second + 2*time.Minute, false},
		{90 * time.Second, 90*time.Second + 10*time.Minute, false},
		{90 * time.Second, 90*time.Second + 256*time.Minute, false}, // the minute byte wraps
		{90 * time.Second, 90*time.Second + 257*time.Minute, false},
		{90 * time.Second, 90*time.Second - time.Minute, false}, // from the future
		{-time.Hour, -time.Hour + time.Minute, true},            // before the start
	} {
		for _, ts := range []bool{false, true} {
			p := syncookie.Params{MSS: 1440, HasTS: ts}
			isn, tsval, _ := g.Cookie(tuple, 1000, p, t0.Add(tc.made))
			if _, ok := g.Check(tuple, 1001, isn+1, ts, tsval, t0.Add(tc.checked)); ok != tc.ok {
				t.Errorf("made at %v, checked at %v, ts %v: ok = %v, want %v", tc.made, tc.checked, ts, ok, tc.ok)
			}
		}
	}
}

func TestCookieRejects(t *testing.T) {
	g, c := newGen(secretA)
	other, _ := newGen(secretB)
	now := t0.Add(5*time.Minute + 17*time.Second)
	c.Set(now)
	const synSeq = 0xfffffff0 // the ACK's seq wraps
	for _, params := range []syncookie.Params{
		{MSS: 536},
		{MSS: 1460},
		{MSS: 1300, HasTS: true},
		{MSS: 1460, HasTS: true, HasWScale: true, WScale: 7, SACKPermitted: true},
	} {
		isn, tsval, _ := g.Cookie(tuple, synSeq, params, now)
		type ack struct {
			name    string
			g       *syncookie.Generator
			t       syncookie.Tuple
			seq     uint32
			ack     uint32
			hasTS   bool
			tsecr   uint32
			checked time.Time
		}
		good := ack{"good", g, tuple, synSeq + 1, isn + 1, params.HasTS, tsval, now}
		if _, ok := g.Check(good.t, good.seq, good.ack, good.hasTS, good.tsecr, good.checked); !ok {
			t.Fatalf("%+v: the genuine ACK fails", params)
		}
		var bad []ack
		add := func(name string, f func(*ack)) {
			a := good
			a.name = name
			f(&a)
			bad = append(bad, a)
		}
		for _, d := range []int32{1, -1, 2, -2, 3, 4, 0x100, 1 << 16, 1<<22 - 1, 1 << 24, -1 << 24, -1 << 31} {
			add("ack", func(a *ack) { a.ack += uint32(d) })
			add("seq", func(a *ack) { a.seq += uint32(d) })
		}
		add("ack is the cookie", func(a *ack) { a.ack = isn })
		rng := rand.New(rand.NewPCG(3, 4))
		for range 100 {
			r := rng.Uint32()
			add("random ack", func(a *ack) { a.ack = r })
		}
		for name, u := range otherTuples(tuple) {
			add(name, func(a *ack) { a.t = u })
		}
		add("other secret", func(a *ack) { a.g = other })
		add("2 minutes later", func(a *ack) { a.checked = now.Add(2 * time.Minute) })
		add("an hour later", func(a *ack) { a.checked = now.Add(time.Hour) })
		if params.HasTS {
			for bit := range 32 {
				add("tsecr bit flipped", func(a *ack) { a.tsecr ^= 1 << bit })
			}
			add("tsecr from a minute later", func(a *ack) { a.tsecr += 60_000 })
			add("tsecr from 3 minutes earlier", func(a *ack) { a.tsecr -= 3 * 60_000 })
			add("tsecr zero", func(a *ack) { a.tsecr = 0 })
			add("timestamp dropped", func(a *ack) { a.hasTS, a.tsecr = false, 0 })
		} else {
			add("timestamp added", func(a *ack) { a.hasTS = true })
			for _, off := range []uint32{0, 0xf, 0x1f} {
				add("timestamp added with options", func(a *ack) { a.hasTS, a.tsecr = true, g.TSNow()&^0x3f+g.TSOffset(tuple)+off })
			}
		}
		for _, a := range bad {
			if p, ok := a.g.Check(a.t, a.seq, a.ack, a.hasTS, a.tsecr, a.checked); ok {
				t.Errorf("%+v: %s: accepted %+v (ack %#x seq %#x ts %v tsecr %#x)", params, a.name, p, a.ack, a.seq, a.hasTS, a.tsecr)
			}
		}
	}
}

// TestRandomACKs sends a million blind ACKs at one tuple: a forgery
// succeeds with probability about 2^-29 without timestamps (less with),
// so none may pass.
func TestRandomACKs(t *testing.T) {
	g, _ := newGen(secretA)
	rng := rand.New(rand.NewPCG(5, 6))
	now := t0.Add(3 * time.Minute)
	n := 1_000_000
	accepted := 0
	for i := range n {
		hasTS := i&1 == 1
		if _, ok := g.Check(tuple, rng.Uint32(), rng.Uint32(), hasTS, rng.Uint32(), now); ok {
			accepted++
		}
	}
	if accepted != 0 {
		t.Errorf("%d of %d random ACKs accepted, want 0 (rate about 2^-29)", accepted, n)
	}
}

// TestCheckNeverPanics feeds Check every kind of junk, times included.
func TestCheckNeverPanics(t *testing.T) {
	g, _ := newGen(secretA)
	rng := rand.New(rand.NewPCG(7, 8))
	times := []time.Time{{}, t0, t0.Add(-1 << 62), t0.Add(1 << 62), time.Unix(0, 0), time.Unix(1<<40, 0)}
	edges := []uint32{0, 1, 1<<24 - 1, 1 << 24, 1<<31 - 1, 1 << 31, 1<<32 - 1}
	pick := func() uint32 {
		if rng.IntN(2) == 0 {
			return edges[rng.IntN(len(edges))]
		}
		return rng.Uint32()
	}
	for range 100_000 {
		var u syncookie.Tuple
		for i := range 4 {
			u.SrcAddr[i], u.DstAddr[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		u.SrcPort, u.DstPort = uint16(rng.Uint32()), uint16(rng.Uint32())
		now := times[rng.IntN(len(times))]
		p, ok := g.Check(u, pick(), pick(), rng.IntN(2) == 0, pick(), now)
		if ok {
			t.Errorf("random input accepted: %+v", p)
		}
	}
	for _, now := range times {
		isn, tsval, enc := g.Cookie(tuple, 1, syncookie.Params{MSS: 1460, HasTS: true}, now)
		if p, ok := g.Check(tuple, 2, isn+1, true, tsval, now); !ok || p != enc {
			t.Errorf("at %v: round trip gives %+v, %v; want %+v", now, p, ok, enc)
		}
	}
}

func TestConcurrent(t *testing.T) {
	g, c := newGen(nil)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			u := tuple
			u.SrcPort = uint16(w)
			for i := range 1000 {
				if w == 0 && i%100 == 0 {
					c.Advance(time.Second)
				}
				now := c.Now()
				isn, tsval, enc := g.Cookie(u, uint32(i), syncookie.Params{MSS: 1440, HasTS: i&1 == 0, SACKPermitted: true}, now)
				if p, ok := g.Check(u, uint32(i)+1, isn+1, enc.HasTS, tsval, now); !ok || p != enc {
					t.Errorf("round trip: %+v, %v; want %+v", p, ok, enc)
					return
				}
				_ = g.ISN(u) + g.TSOffset(u) + g.TSNow()
			}
		})
	}
	wg.Wait()
}

func TestAllocs(t *testing.T) {
	g, _ := newGen(secretA)
	p := syncookie.Params{MSS: 1460, HasTS: true, HasWScale: true, WScale: 7, SACKPermitted: true}
	isn, tsval, _ := g.Cookie(tuple, 1, p, t0)
	for name, f := range map[string]func(){
		"ISN":      func() { g.ISN(tuple) },
		"TSOffset": func() { g.TSOffset(tuple) },
		"TSNow":    func() { g.TSNow() },
		"Cookie":   func() { g.Cookie(tuple, 1, p, t0) },
		"Check":    func() { g.Check(tuple, 2, isn+1, true, tsval, t0) },
		"Check bad": func() {
			g.Check(tuple, 2, isn+2, true, tsval, t0)
		},
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

// TestEchoesCookieTS: the TSval of a cookie SYN-ACK is recognised for its
// address pair (any ports) until MaxAge, not after, not for another pair
// and not from another secret; random values pass about once in 2^16.
func TestEchoesCookieTS(t *testing.T) {
	g, _ := newGen(secretA)
	other, _ := newGen(secretB)
	for _, p := range []syncookie.Params{{MSS: 1460, HasTS: true}, {MSS: 536, HasTS: true, HasWScale: true, WScale: 14, SACKPermitted: true}} {
		_, tsval, _ := g.Cookie(tuple, 1000, p, t0)
		otherPorts := tuple
		otherPorts.SrcPort++
		otherAddr := tuple
		otherAddr.SrcAddr[3]++
		_, otherTS, _ := other.Cookie(tuple, 1000, p, t0)
		for _, tc := range []struct {
			name  string
			tuple syncookie.Tuple
			tsecr uint32
			at    time.Duration
			want  bool
		}{
			{"at once", tuple, tsval, 0, true},
			{"another port of the pair", otherPorts, tsval, time.Minute, true},
			{"just before MaxAge", tuple, tsval, syncookie.MaxAge, true},
			{"after MaxAge", tuple, tsval, syncookie.MaxAge + time.Second, false},
			{"another address pair", otherAddr, tsval, 0, false},
			{"another secret's", tuple, otherTS, 0, false},
		} {
			if got := g.EchoesCookieTS(tc.tuple, tc.tsecr, t0.Add(tc.at)); got != tc.want {
				t.Errorf("%+v, %s: %v, want %v", p, tc.name, got, tc.want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 1 << 20
	passed := 0
	for range n {
		if g.EchoesCookieTS(tuple, rng.Uint32(), t0.Add(3*time.Minute)) {
			passed++
		}
	}
	// Expected 2 minutes of milliseconds out of 2^32, halved by the shape
	// of the option bits: about 15 of 2^20.
	if passed > 60 {
		t.Errorf("%d of %d random TSecr values pass, want about 15", passed, n)
	}
}
