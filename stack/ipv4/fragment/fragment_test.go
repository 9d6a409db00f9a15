package fragment

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestReassembleOrders(t *testing.T) {
	sizes := []int{1, 7, 8, 9, 100, 1480, 1481, 4000, 65514, MaxPayload}
	fragSizes := []int{8, 16, 512, 1480}
	orders := []struct {
		name  string
		order func([]piece) []piece
	}{
		{"in-order", func(ps []piece) []piece { return ps }},
		{"reverse", reversed},
		{"random", func(ps []piece) []piece { return shuffled(ps, uint64(len(ps))) }},
	}
	for _, size := range sizes {
		for _, fs := range fragSizes {
			for _, o := range orders {
				t.Run(fmt.Sprintf("%d/%d/%s", size, fs, o.name), func(t *testing.T) {
					r := New(Options{MaxFragments: MaxPayload/8 + 1})
					want := payload(size, uint64(size*fs))
					ps := o.order(split(want, fs))
					res := feed(r, testKey(1), ps)
					if !res.done {
						t.Fatalf("not reassembled; stats %+v", r.Stats())
					}
					if res.doneAt != len(ps)-1 {
						t.Errorf("completed at piece %d of %d", res.doneAt, len(ps))
					}
					if !bytes.Equal(res.payload, want) {
						t.Errorf("payload differs")
					}
					if !bytes.Equal(res.hdr, testHeader(0, len(ps) > 1)) {
						t.Errorf("first header = %x, want offset 0's", res.hdr)
					}
					s := r.Stats()
					wantStats := Stats{Fragments: uint64(len(ps)), Reassembled: 1}
					if s != wantStats {
						t.Errorf("stats = %+v, want %+v", s, wantStats)
					}
				})
			}
		}
	}
}

func TestManyDatagramsInterleaved(t *testing.T) {
	r := New(Options{})
	const n = 50
	var all []struct {
		k Key
		p piece
	}
	want := make(map[Key][]byte)
	for i := range n {
		k := testKey(i)
		want[k] = payload(100+i*37, uint64(i))
		for _, p := range split(want[k], 64) {
			all = append(all, struct {
				k Key
				p piece
			}{k, p})
		}
	}
	// Interleave deterministically.
	for i := range all {
		j := (i * 7919) % len(all)
		all[i], all[j] = all[j], all[i]
	}
	got := 0
	for _, e := range all {
		out, _, done := r.Process(e.k, nil, uint16(e.p.off), e.p.more, e.p.data)
		if done {
			got++
			if !bytes.Equal(out, want[e.k]) {
				t.Errorf("key %v: payload differs", e.k)
			}
		}
	}
	if got != n {
		t.Errorf("reassembled %d, want %d", got, n)
	}
	if s := r.Stats(); s.Bytes != 0 || s.Datagrams != 0 {
		t.Errorf("after completion: %+v", s)
	}
}

func TestDuplicate(t *testing.T) {
	r := New(Options{})
	want := payload(40, 1)
	ps := split(want, 16) // [0,16) [16,32) [32,40)
	seq := []piece{ps[0], ps[0], ps[2], ps[2], ps[1]}
	res := feed(r, testKey(1), seq)
	if !res.done || !bytes.Equal(res.payload, want) {
		t.Fatalf("not reassembled correctly: %+v", r.Stats())
	}
	s := r.Stats()
	if s.Duplicate != 2 || s.Reassembled != 1 || s.DroppedDatagrams != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestFirstHeaderKept(t *testing.T) {
	r := New(Options{})
	k := testKey(1)
	p := payload(24, 2)
	first := []byte{0x45, 1, 2, 3}
	r.Process(k, first, 0, true, p[:16])
	first[1] = 0xee // the caller reuses its buffer
	// A duplicate first fragment with another header does not replace it.
	r.Process(k, []byte{0x46, 9, 9, 9}, 0, true, p[:16])
	out, hdr, done := r.Process(k, []byte{0x45, 7, 7, 7}, 16, false, p[16:])
	if !done || !bytes.Equal(out, p) {
		t.Fatalf("not reassembled: %+v", r.Stats())
	}
	if want := []byte{0x45, 1, 2, 3}; !bytes.Equal(hdr, want) {
		t.Errorf("header = %x, want %x", hdr, want)
	}
}

// TestPolicyDrops feeds fragment sequences that break the policy and
// checks the counters. Data is the same pattern everywhere unless a case
// alters it, so "same data" overlaps are truly byte-identical.
func TestPolicyDrops(t *testing.T) {
	data := payload(MaxPayload+200, 7)
	frag := func(off, n int, more bool) piece {
		return piece{off: off, more: more, data: data[off : off+n]}
	}
	altered := func(p piece) piece {
		d := append([]byte(nil), p.data...)
		d[len(d)-1] ^= 1
		p.data = d
		return p
	}
	tests := []struct {
		name string
		seq  []piece
		want Stats // Fragments is filled in from len(seq)
	}{
		{
			name: "overlap with different data",
			seq:  []piece{frag(0, 16, true), altered(frag(8, 16, true))},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			// Identical bytes, different boundaries: still an overlap.
			// Only an exact duplicate is tolerated (RFC 5722).
			name: "overlap with same data, different boundaries",
			seq:  []piece{frag(0, 16, true), frag(8, 16, true)},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "overlap from the left",
			seq:  []piece{frag(8, 16, true), frag(0, 16, true)},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "same offset, same length, different data",
			seq:  []piece{frag(0, 16, true), altered(frag(0, 16, true))},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "subset at the same offset",
			seq:  []piece{frag(0, 32, true), frag(0, 8, true)},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "subset inside",
			seq:  []piece{frag(0, 32, true), frag(8, 8, true)},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "superset",
			seq:  []piece{frag(8, 8, true), frag(0, 32, true)},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "superset spanning two",
			seq:  []piece{frag(8, 8, true), frag(24, 8, true), frag(0, 40, true)},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "final fragment overlapping",
			seq:  []piece{frag(0, 16, true), frag(8, 20, false)},
			want: Stats{Overlap: 1, DroppedDatagrams: 1},
		},
		{
			name: "two different final fragments",
			seq:  []piece{frag(16, 8, false), frag(24, 8, false)},
			want: Stats{ConflictingEnd: 1, DroppedDatagrams: 1},
		},
		{
			name: "final fragment with another length at the same offset",
			seq:  []piece{frag(16, 8, false), frag(16, 5, false)},
			want: Stats{ConflictingEnd: 1, DroppedDatagrams: 1},
		},
		{
			name: "fragment past the known end",
			seq:  []piece{frag(16, 8, false), frag(24, 8, true)},
			want: Stats{ConflictingEnd: 1, DroppedDatagrams: 1},
		},
		{
			name: "final fragment below data received",
			seq:  []piece{frag(16, 16, true), frag(0, 8, false)},
			want: Stats{ConflictingEnd: 1, DroppedDatagrams: 1},
		},
		{
			name: "empty final fragment below data received",
			seq:  []piece{frag(16, 16, true), frag(8, 0, false)},
			want: Stats{ConflictingEnd: 1, DroppedDatagrams: 1},
		},
		{
			name: "ping of death",
			seq:  []piece{frag(0, 1480, true), frag(65528, 100, false)},
			want: Stats{BadOffset: 1, DroppedDatagrams: 1},
		},
		{
			name: "ping of death alone",
			seq:  []piece{frag(65528, 100, false)},
			want: Stats{BadOffset: 1},
		},
		{
			name: "one byte past MaxPayload",
			seq:  []piece{frag(0, 8, true), frag(65512, 4, false)},
			want: Stats{BadOffset: 1, DroppedDatagrams: 1},
		},
		{
			name: "non-final length not a multiple of 8",
			seq:  []piece{frag(0, 8, true), frag(8, 12, true)},
			want: Stats{BadOffset: 1, DroppedDatagrams: 1},
		},
		{
			name: "empty non-final fragment",
			seq:  []piece{frag(0, 8, true), frag(8, 0, true)},
			want: Stats{BadOffset: 1, DroppedDatagrams: 1},
		},
		{
			name: "offset not a multiple of 8",
			seq:  []piece{frag(0, 8, true), frag(12, 8, false)},
			want: Stats{BadOffset: 1, DroppedDatagrams: 1},
		},
		{
			name: "exact duplicates are kept",
			seq:  []piece{frag(0, 8, true), frag(0, 8, true), frag(16, 8, false), frag(16, 8, false), frag(24, 0, false)},
			want: Stats{Duplicate: 3, Datagrams: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Options{})
			res := feed(r, testKey(1), tt.seq)
			if res.done {
				t.Fatalf("reassembled a bad datagram")
			}
			want := tt.want
			want.Fragments = uint64(len(tt.seq))
			s := r.Stats()
			s.Bytes = 0
			if s != want {
				t.Errorf("stats = %+v\nwant    %+v", s, want)
			}
		})
	}
}

// TestDropIsFinal checks that after a datagram is dropped the fragments it
// held are gone: the rest of the original fragments start a new datagram
// that cannot complete.
func TestDropIsFinal(t *testing.T) {
	clk := newFakeClock()
	r := New(Options{Clock: clk.Now})
	p := payload(32, 3)
	k := testKey(1)
	r.Process(k, nil, 0, true, p[:16])
	r.Process(k, nil, 8, true, p[8:24]) // overlap: dropped
	if _, _, done := r.Process(k, nil, 16, false, p[16:]); done {
		t.Fatal("completed from fragments of a dropped datagram")
	}
	if s := r.Stats(); s.Overlap != 1 || s.Datagrams != 1 {
		t.Errorf("stats = %+v", s)
	}
	// The whole datagram sent again completes.
	if _, _, done := r.Process(k, nil, 0, true, p[:16]); !done {
		t.Errorf("resent datagram did not complete: %+v", r.Stats())
	}
}

func TestEmptyFinalFragment(t *testing.T) {
	r := New(Options{})
	p := payload(16, 4)
	k := testKey(1)
	r.Process(k, nil, 0, true, p[:8])
	r.Process(k, nil, 16, false, nil)
	out, _, done := r.Process(k, nil, 8, true, p[8:])
	if !done || !bytes.Equal(out, p) {
		t.Fatalf("not reassembled: %+v", r.Stats())
	}
	// A lone empty fragment at offset 0 is a complete empty datagram.
	out, hdr, done := r.Process(k, []byte{0x45}, 0, false, nil)
	if !done || len(out) != 0 || !bytes.Equal(hdr, []byte{0x45}) {
		t.Errorf("empty datagram: %v %x %v", out, hdr, done)
	}
}

// TestOversizedWithOptions checks that the first header counts toward the
// 65535-byte limit when the datagram completes.
func TestOversizedWithOptions(t *testing.T) {
	for _, tt := range []struct {
		hdrLen int
		ok     bool
	}{{20, true}, {24, false}, {60, false}} {
		t.Run(fmt.Sprint(tt.hdrLen), func(t *testing.T) {
			r := New(Options{})
			p := payload(MaxPayload, 5)
			k := testKey(1)
			done := false
			for _, f := range split(p, 1480) {
				_, _, done = r.Process(k, make([]byte, tt.hdrLen), uint16(f.off), f.more, f.data)
			}
			s := r.Stats()
			if done != tt.ok || (s.BadOffset == 1) == tt.ok || s.Bytes != 0 {
				t.Errorf("done = %v, stats %+v", done, s)
			}
		})
	}
}

func TestMaxFragments(t *testing.T) {
	for _, tt := range []struct {
		max, frags int
		ok         bool
	}{
		{0, 64, true}, // default 64
		{0, 65, false},
		{4, 4, true},
		{4, 5, false},
		{1, 1, true},
		{1, 2, false},
	} {
		t.Run(fmt.Sprintf("max%d/%d", tt.max, tt.frags), func(t *testing.T) {
			r := New(Options{MaxFragments: tt.max})
			p := payload(tt.frags*8, 6)
			res := feed(r, testKey(1), split(p, 8))
			s := r.Stats()
			if res.done != tt.ok {
				t.Fatalf("done = %v, stats %+v", res.done, s)
			}
			if !tt.ok && (s.TooManyFragments != 1 || s.DroppedDatagrams != 1) {
				t.Errorf("stats = %+v", s)
			}
		})
	}
	// Duplicates are not held and do not count.
	r := New(Options{MaxFragments: 2})
	p := payload(16, 6)
	ps := split(p, 8)
	if res := feed(r, testKey(1), []piece{ps[0], ps[0], ps[0], ps[1]}); !res.done {
		t.Errorf("duplicates counted toward MaxFragments: %+v", r.Stats())
	}
}

func TestTimeout(t *testing.T) {
	clk := newFakeClock()
	r := New(Options{Clock: clk.Now, Timeout: 30 * time.Second})
	p := payload(24, 8)
	k := testKey(1)
	r.Process(k, nil, 0, true, p[:8])
	clk.Advance(29 * time.Second)
	r.Process(k, nil, 8, true, p[8:16]) // does not extend the timeout
	r.Expire()
	if s := r.Stats(); s.Datagrams != 1 || s.Timeouts != 0 {
		t.Fatalf("expired early: %+v", s)
	}
	clk.Advance(time.Second)
	r.Expire()
	if s := r.Stats(); s.Datagrams != 0 || s.Timeouts != 1 || s.Bytes != 0 || s.DroppedDatagrams != 1 {
		t.Fatalf("not expired: %+v", s)
	}
	// The last fragment alone starts a new datagram.
	if _, _, done := r.Process(k, nil, 16, false, p[16:]); done {
		t.Fatal("completed with expired fragments")
	}

	// Process expires lazily, without Expire.
	clk.Advance(time.Minute)
	r.Process(testKey(2), nil, 0, true, p[:8])
	if s := r.Stats(); s.Datagrams != 1 || s.Timeouts != 2 {
		t.Errorf("not expired lazily: %+v", s)
	}
}

// TestClockStepsBack checks that a clock stepping back neither breaks
// expiry nor leaks bytes.
func TestClockStepsBack(t *testing.T) {
	clk := newFakeClock()
	r := New(Options{Clock: clk.Now})
	p := payload(8, 9)
	r.Process(testKey(1), nil, 0, true, p)
	clk.Advance(-time.Hour)
	r.Process(testKey(2), nil, 0, true, p)
	clk.Advance(time.Hour + DefaultTimeout)
	r.Expire()
	if s := r.Stats(); s.Datagrams != 0 || s.Bytes != 0 || s.Timeouts != 2 {
		t.Errorf("stats = %+v", s)
	}
}

// TestFlood sends 20 MiB of fragments of datagrams that never complete,
// each with its own ID: memory stays under HighBytes, the oldest datagrams
// are evicted, and all memory is returned once they time out.
func TestFlood(t *testing.T) {
	clk := newFakeClock()
	opts := Options{Clock: clk.Now}
	r := New(opts)
	const total = 20 << 20
	var sent, datagrams int
	peak := int64(0)
	frag := payload(1480, 10)
	for i := 0; sent < total; i++ {
		k := testKey(i)
		// Two fragments per datagram, the final one never sent.
		for j := range 2 {
			r.Process(k, nil, uint16(j*1480), true, frag)
			sent += len(frag)
			s := r.Stats()
			if s.Bytes > DefaultHighBytes {
				t.Fatalf("after %d bytes: Bytes = %d > HighBytes", sent, s.Bytes)
			}
			if s.Bytes < 0 {
				t.Fatalf("Bytes = %d", s.Bytes)
			}
			peak = max(peak, s.Bytes)
		}
		datagrams++
		if i%64 == 0 {
			clk.Advance(10 * time.Millisecond)
		}
	}
	s := r.Stats()
	t.Logf("sent %d bytes in %d datagrams; peak %d bytes; %+v", sent, datagrams, peak, s)
	if s.Evicted == 0 {
		t.Errorf("nothing evicted: %+v", s)
	}
	if peak < DefaultLowBytes {
		t.Errorf("peak %d below LowBytes: eviction too eager", peak)
	}
	clk.Advance(DefaultTimeout)
	r.Expire()
	s = r.Stats()
	if s.Bytes != 0 || s.Datagrams != 0 {
		t.Errorf("after expiry: %+v", s)
	}
	if got := s.Evicted + s.Timeouts; got != uint64(datagrams) || s.DroppedDatagrams != got {
		t.Errorf("evicted+timeouts = %d, dropped = %d, want %d", got, s.DroppedDatagrams, datagrams)
	}
}

// TestEvictOldest checks that eviction takes datagrams in order of
// creation, not of last use.
func TestEvictOldest(t *testing.T) {
	cost := int64(DatagramOverhead + FragmentOverhead + 1000)
	r := New(Options{HighBytes: 3*cost + 1, LowBytes: 2 * cost})
	p := payload(1000, 11)
	for i := range 3 {
		r.Process(testKey(i), nil, 0, true, p)
	}
	// Touch the oldest; it is still the oldest.
	r.Process(testKey(0), nil, 0, true, p) // duplicate
	r.Process(testKey(3), nil, 0, true, p) // over HighBytes: evict to 2
	s := r.Stats()
	if s.Evicted != 2 || s.Datagrams != 2 || s.Bytes != 2*cost {
		t.Fatalf("stats = %+v", s)
	}
	// Keys 2 and 3 survive: completing them works.
	for _, id := range []int{2, 3} {
		if _, _, done := r.Process(testKey(id), nil, 1000, false, nil); !done {
			t.Errorf("key %d was evicted", id)
		}
	}
}

func TestConcurrent(t *testing.T) {
	r := New(Options{})
	const workers, perWorker = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := w*perWorker + i
				want := payload(1+id*13%3000, uint64(id))
				res := feed(r, testKey(id), shuffled(split(want, 64), uint64(id)))
				if !res.done || !bytes.Equal(res.payload, want) {
					errs <- fmt.Errorf("datagram %d: done=%v", id, res.done)
					return
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				r.Expire()
				if s := r.Stats(); s.Bytes < 0 {
					errs <- fmt.Errorf("Bytes = %d", s.Bytes)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s := r.Stats()
	if s.Reassembled != workers*perWorker || s.Bytes != 0 || s.Datagrams != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{}.withDefaults()
	want := DefaultOptions()
	if got.HighBytes != want.HighBytes || got.LowBytes != want.LowBytes ||
		got.Timeout != want.Timeout || got.MaxFragments != want.MaxFragments || got.Clock == nil {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	if o := (Options{HighBytes: 1000, LowBytes: 2000}).withDefaults(); o.LowBytes != 1000 {
		t.Errorf("LowBytes above HighBytes not lowered: %d", o.LowBytes)
	}
}

// TestAllocs checks that, once warm, a datagram of two fragments costs
// three allocations: the two fragment copies and the reassembled buffer.
func TestAllocs(t *testing.T) {
	r := New(Options{})
	k := testKey(1)
	p := payload(1480, 12)
	allocs := testing.AllocsPerRun(1000, func() {
		r.Process(k, nil, 0, true, p)
		if _, _, done := r.Process(k, nil, 1480, false, p); !done {
			t.Fatal("not reassembled")
		}
	})
	if allocs > 3 {
		t.Errorf("%v allocations per datagram, want 3", allocs)
	}
}
