package ooo

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// bases are the initial sequence numbers each table test runs from: one
// plain, one a few bytes before the 2^32 wrap so that the test's offsets
// straddle it.
var bases = []seqnum.Value{1000, 1<<32 - 20}

// step is one call in a table test. Offsets are relative to the test's base.
type step struct {
	// insert
	off     int
	data    string
	stored  int
	dropped int
	// deliver: the caller receives in-order data itself, up to off.
	deliver bool
	// pop: Pop returns want and moves rcvNxt to nxt.
	pop  bool
	want string
	nxt  int
}

// ins is an Insert at off expected to return (stored, dropped).
func ins(off int, data string, stored, dropped int) step {
	return step{off: off, data: data, stored: stored, dropped: dropped}
}

// deliver is the connection receiving in-order data itself, up to off.
func deliver(to int) step { return step{deliver: true, off: to} }

// pop is a Pop expected to deliver want and return base+nxt.
func pop(want string, nxt int) step { return step{pop: true, want: want, nxt: nxt} }

// queueTest is a table test: steps run in order from rcvNxt = base; then
// the queue must look like view (from base) and hold ranges ranges.
type queueTest struct {
	name   string
	limit  int
	steps  []step
	view   string
	ranges int
	mem    int // if non-zero, the expected Mem
}

// runQueueTests runs each test from every base in bases.
func runQueueTests(t *testing.T, tests []queueTest) {
	t.Helper()
	for _, base := range bases {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/base=%d", tt.name, base), func(t *testing.T) {
				limit := tt.limit
				if limit == 0 {
					limit = 1 << 20
				}
				q := New(limit)
				rcvNxt := base
				for i, s := range tt.steps {
					switch {
					case s.deliver:
						rcvNxt = base.Add(seqnum.Size(s.off))
					case s.pop:
						var got []byte
						rcvNxt = q.Pop(rcvNxt, func(c []byte) { got = append(got, c...) })
						if string(got) != s.want {
							t.Fatalf("step %d: Pop delivered %q, want %q", i, got, s.want)
						}
						if want := base.Add(seqnum.Size(s.nxt)); rcvNxt != want {
							t.Fatalf("step %d: Pop returned %d, want %d", i, rcvNxt, want)
						}
					default:
						stored, dropped := q.Insert(rcvNxt, base.Add(seqnum.Size(s.off)), []byte(s.data))
						if stored != s.stored || dropped != s.dropped {
							t.Fatalf("step %d: Insert(%d, %q) = (%d, %d), want (%d, %d)", i, s.off, s.data, stored, dropped, s.stored, s.dropped)
						}
					}
					if err := checkInvariants(q); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				if got := render(q, base, len(tt.view)); got != tt.view {
					t.Errorf("queue holds\n%q\nwant\n%q", got, tt.view)
				}
				if q.Ranges() != tt.ranges {
					t.Errorf("Ranges() = %d, want %d", q.Ranges(), tt.ranges)
				}
				if tt.mem != 0 && q.Mem() != tt.mem {
					t.Errorf("Mem() = %d, want %d", q.Mem(), tt.mem)
				}
			})
		}
	}
}

// TestInsertPop covers trimming, overlaps, merging and delivery.
func TestInsertPop(t *testing.T) {
	runQueueTests(t, []queueTest{
		{
			name:  "in order after hole",
			steps: []step{ins(10, "bbbbb", 5, 0), deliver(10), pop("bbbbb", 15)},
			view:  "",
		},
		{
			name:   "hole stays",
			steps:  []step{ins(10, "bbbbb", 5, 0), pop("", 0)},
			view:   "..........bbbbb",
			ranges: 1,
		},
		{
			name:   "duplicate",
			steps:  []step{ins(10, "abcde", 5, 0), ins(10, "vwxyz", 0, 0)},
			view:   "..........abcde",
			ranges: 1,
		},
		{
			name:   "overlap left",
			steps:  []step{ins(10, "ABCDE", 5, 0), ins(7, "xyzwv", 3, 0)},
			view:   ".......xyzABCDE",
			ranges: 1,
		},
		{
			name:   "overlap right",
			steps:  []step{ins(10, "ABCDE", 5, 0), ins(13, "vwxyz", 3, 0)},
			view:   "..........ABCDExyz",
			ranges: 1,
		},
		{
			name:   "overlap both sides",
			steps:  []step{ins(10, "ABCDE", 5, 0), ins(8, "123456789", 4, 0)},
			view:   "........12ABCDE89",
			ranges: 1,
		},
		{
			name:   "inside held",
			steps:  []step{ins(10, "ABCDE", 5, 0), ins(11, "xyz", 0, 0)},
			view:   "..........ABCDE",
			ranges: 1,
		},
		{
			name: "spanning several",
			steps: []step{
				ins(10, "AB", 2, 0), ins(14, "CD", 2, 0), ins(18, "EF", 2, 0),
				ins(9, "0123456789abc", 7, 0),
			},
			view:   ".........0AB34CD78EFbc",
			ranges: 1,
		},
		{
			name: "spanning several and ending inside",
			steps: []step{
				ins(10, "AB", 2, 0), ins(14, "CD", 2, 0), ins(18, "EFGH", 4, 0), ins(30, "Z", 1, 0),
				ins(11, "123456789", 4, 0),
			},
			view:   "..........AB23CD67EFGH........Z",
			ranges: 2,
		},
		{
			name:   "adjacent joins",
			steps:  []step{ins(10, "ab", 2, 0), ins(12, "cd", 2, 0), ins(16, "gh", 2, 0), ins(14, "ef", 2, 0)},
			view:   "..........abcdefgh",
			ranges: 1,
		},
		{
			name:   "adjacent on the left",
			steps:  []step{ins(10, "cd", 2, 0), ins(8, "ab", 2, 0)},
			view:   "........abcd",
			ranges: 1,
		},
		{
			name:  "trimmed below rcvNxt",
			steps: []step{deliver(10), ins(5, "0123456789", 5, 0), pop("56789", 15)},
		},
		{
			name:  "entirely old",
			steps: []step{deliver(10), ins(2, "abc", 0, 0), ins(7, "abc", 0, 0)},
		},
		{
			name:  "at rcvNxt",
			steps: []step{deliver(10), ins(10, "abc", 3, 0), pop("abc", 13)},
		},
		{
			name:  "stale bytes skipped by pop",
			steps: []step{ins(10, "ABCDEFGHIJ", 10, 0), deliver(15), pop("FGHIJ", 20)},
		},
		{
			name:  "stale ranges skipped by pop",
			steps: []step{ins(10, "AB", 2, 0), ins(14, "CD", 2, 0), ins(18, "EF", 2, 0), deliver(15), pop("D", 16)},
			view:  "..................EF", ranges: 1,
		},
		{
			name:   "stale bytes dropped by insert",
			steps:  []step{ins(10, "ABCDEFGHIJ", 10, 0), ins(25, "W", 1, 0), deliver(15), ins(30, "xy", 2, 0)},
			view:   "...............FGHIJ.....W....xy",
			ranges: 3,
			mem:    8 + 3*RangeOverhead,
		},
		{
			name:   "held bytes win",
			steps:  []step{ins(10, "AAAA", 4, 0), ins(8, "bbbbbbbb", 4, 0)},
			view:   "........bbAAAAbb",
			ranges: 1,
		},
		{
			name:   "pop stops at hole",
			steps:  []step{ins(10, "ab", 2, 0), ins(13, "cd", 2, 0), deliver(10), pop("ab", 12)},
			view:   ".............cd",
			ranges: 1,
		},
		{
			name:  "pop empty",
			steps: []step{pop("", 0), deliver(5), pop("", 5)},
		},
		{
			name:   "empty insert",
			steps:  []step{ins(10, "", 0, 0)},
			ranges: 0,
		},
	})
}

// TestLimit covers the memory limit: eviction from the top, never below the
// new segment, and partial storage.
func TestLimit(t *testing.T) {
	full := []step{
		ins(1000, strings.Repeat("A", 100), 100, 0),
		ins(2000, strings.Repeat("B", 100), 100, 0),
		ins(3000, strings.Repeat("C", 100), 100, 0),
	}
	const fullLimit = 3 * (100 + RangeOverhead)
	view := func(parts ...string) string {
		v := []byte(strings.Repeat(".", 3200))
		for i := 0; i < len(parts); i += 2 {
			var at int
			fmt.Sscan(parts[i], &at)
			copy(v[at:], parts[i+1])
		}
		return strings.TrimRight(string(v), ".")
	}
	runQueueTests(t, []queueTest{
		{
			name:  "stores what fits from the lowest sequence",
			limit: 200,
			steps: []step{ins(10, strings.Repeat("x", 300), 136, 164)},
			view:  view("10", strings.Repeat("x", 136)), ranges: 1, mem: 200,
		},
		{
			name:  "low segment prunes high data",
			limit: fullLimit,
			steps: append(full[:3:3], ins(10, strings.Repeat("l", 100), 100, 0)),
			view: view("10", strings.Repeat("l", 100), "1000", strings.Repeat("A", 100),
				"2000", strings.Repeat("B", 100)),
			ranges: 3, mem: fullLimit,
		},
		{
			name:  "prunes part of the top range",
			limit: fullLimit,
			steps: append(full[:3:3], ins(2100, strings.Repeat("b", 20), 20, 0)),
			view: view("1000", strings.Repeat("A", 100), "2000", strings.Repeat("B", 100)+strings.Repeat("b", 20),
				"3000", strings.Repeat("C", 80)),
			ranges: 3, mem: fullLimit,
		},
		{
			name:   "prunes several ranges from the top",
			limit:  fullLimit,
			steps:  append(full[:3:3], ins(10, strings.Repeat("l", 250), 250, 0)),
			view:   view("10", strings.Repeat("l", 250), "1000", strings.Repeat("A", 100)),
			ranges: 2, mem: 250 + 100 + 2*RangeOverhead,
		},
		{
			name:  "never prunes below the segment",
			limit: fullLimit,
			steps: append(full[:3:3], ins(4000, strings.Repeat("h", 50), 0, 50), ins(3100, "c", 0, 1)),
			view: view("1000", strings.Repeat("A", 100), "2000", strings.Repeat("B", 100),
				"3000", strings.Repeat("C", 100)),
			ranges: 3, mem: fullLimit,
		},
		{
			name:   "evicts held data above what fits",
			limit:  200,
			steps:  []step{ins(50, strings.Repeat("A", 50), 50, 0), ins(10, strings.Repeat("n", 190), 86, 54)},
			view:   view("10", strings.Repeat("n", 40)+strings.Repeat("A", 50)+strings.Repeat("n", 46)),
			ranges: 1, mem: 200,
		},
		{
			name:   "keeps held data below the segment",
			limit:  200,
			steps:  []step{ins(10, strings.Repeat("A", 50), 50, 0), ins(60, strings.Repeat("b", 100), 86, 14)},
			view:   view("10", strings.Repeat("A", 50)+strings.Repeat("b", 86)),
			ranges: 1, mem: 200,
		},
		{
			name:  "evicted range not resurrected",
			limit: 2 * (10 + RangeOverhead),
			steps: []step{
				ins(100, strings.Repeat("A", 10), 10, 0), ins(200, strings.Repeat("B", 10), 10, 0),
				ins(10, strings.Repeat("l", 10), 10, 0),
			},
			view:   view("10", strings.Repeat("l", 10), "100", strings.Repeat("A", 10)),
			ranges: 2,
		},
		{
			name:  "limit too small for anything",
			limit: RangeOverhead,
			steps: []step{ins(10, "a", 0, 1)},
		},
	})
}

// TestMaxWindow checks that data beyond MaxWindow is dropped and data
// 2^31 or more ahead is taken as old.
func TestMaxWindow(t *testing.T) {
	for _, base := range bases {
		q := New(1 << 20)
		at := func(off seqnum.Size) seqnum.Value { return base.Add(off) }
		if s, d := q.Insert(base, at(MaxWindow-10), make([]byte, 20)); s != 10 || d != 10 {
			t.Errorf("base %d: Insert straddling MaxWindow = (%d, %d), want (10, 10)", base, s, d)
		}
		if s, d := q.Insert(base, at(MaxWindow), make([]byte, 5)); s != 0 || d != 5 {
			t.Errorf("base %d: Insert at MaxWindow = (%d, %d), want (0, 5)", base, s, d)
		}
		if s, d := q.Insert(base, at(1<<31+5), make([]byte, 5)); s != 0 || d != 0 {
			t.Errorf("base %d: Insert 2^31 ahead (old data) = (%d, %d), want (0, 0)", base, s, d)
		}
		if err := checkInvariants(q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRcvNxtBackwards checks that a rcvNxt behind what the queue has seen
// cannot make it store data below its base or deliver anything twice.
func TestRcvNxtBackwards(t *testing.T) {
	q := New(1 << 20)
	q.Insert(100, 110, []byte("abc"))
	if got := q.Pop(90, func([]byte) { t.Error("Pop delivered with rcvNxt behind the base") }); got != 90 {
		t.Errorf("Pop(90) = %d, want 90", got)
	}
	if s, d := q.Insert(90, 85, []byte("0123456789")); s != 0 || d != 0 {
		t.Errorf("Insert below the base = (%d, %d), want (0, 0)", s, d)
	}
	// Only the part at or above the base is new.
	if s, d := q.Insert(90, 95, []byte("0123456789")); s != 5 || d != 0 {
		t.Errorf("Insert straddling the base = (%d, %d), want (5, 0)", s, d)
	}
	if err := checkInvariants(q); err != nil {
		t.Fatal(err)
	}
	got := ""
	if nxt := q.Pop(100, func(c []byte) { got += string(c) }); got != "56789" || nxt != 105 {
		t.Errorf("Pop(100) = %q, %d; want \"56789\", 105", got, nxt)
	}
}

// TestLargeSegments reassembles segments larger than a chunk.
func TestLargeSegments(t *testing.T) {
	for _, base := range bases {
		q := New(1 << 22)
		stream := make([]byte, 300000)
		for i := range stream {
			stream[i] = byte(i * 7 / 3)
		}
		at := func(off int) seqnum.Value { return base.Add(seqnum.Size(off)) }
		// Pieces larger than a chunk, arriving back to front, then the
		// first one by the caller.
		for _, p := range [][2]int{{200000, 300000}, {70000, 200000}, {65536, 70000}, {1000, 65536}} {
			if s, d := q.Insert(base, at(p[0]), stream[p[0]:p[1]]); s != p[1]-p[0] || d != 0 {
				t.Fatalf("Insert [%d, %d) = (%d, %d)", p[0], p[1], s, d)
			}
			if err := checkInvariants(q); err != nil {
				t.Fatal(err)
			}
		}
		var got []byte
		got = append(got, stream[:1000]...)
		nxt := q.Pop(at(1000), func(c []byte) { got = append(got, c...) })
		if nxt != at(len(stream)) || !bytes.Equal(got, stream) {
			t.Fatalf("base %d: reassembled %d bytes (rcvNxt %d), want the %d-byte stream", base, len(got), nxt, len(stream))
		}
		if !q.Empty() {
			t.Fatal("queue not empty after delivering everything")
		}
	}
}

// TestReset checks that Reset empties the queue and leaves it usable.
func TestReset(t *testing.T) {
	q := New(1 << 20)
	q.Insert(0, 10, []byte("abc"))
	q.Insert(0, 20, []byte("def"))
	q.Reset()
	if !q.Empty() || q.Bytes() != 0 || q.Mem() != 0 || q.SACK(make([]Block, 4)) != 0 {
		t.Fatalf("after Reset: Empty %v Bytes %d Mem %d", q.Empty(), q.Bytes(), q.Mem())
	}
	if err := checkInvariants(q); err != nil {
		t.Fatal(err)
	}
	// The queue is usable afterwards, from any rcvNxt.
	q.Insert(5000, 5010, []byte("xyz"))
	got := ""
	if nxt := q.Pop(5010, func(c []byte) { got += string(c) }); got != "xyz" || nxt != 5013 {
		t.Fatalf("after Reset: Pop = %q, %d", got, nxt)
	}
}

// TestSACK checks SACK block order (most recent first) and count limits.
func TestSACK(t *testing.T) {
	b := func(start, end int) Block {
		return Block{Start: seqnum.Value(start), End: seqnum.Value(end)}
	}
	tests := []struct {
		name  string
		limit int
		steps []step
		dst   int
		want  []Block
	}{
		{
			name: "empty",
			dst:  4,
			want: []Block{},
		},
		{
			name:  "most recent first",
			steps: []step{ins(10, "a", 1, 0), ins(20, "b", 1, 0), ins(30, "c", 1, 0), ins(40, "d", 1, 0), ins(50, "e", 1, 0)},
			dst:   4,
			want:  []Block{b(50, 51), b(40, 41), b(30, 31), b(20, 21)},
		},
		{
			name:  "at most four",
			steps: []step{ins(10, "a", 1, 0), ins(20, "b", 1, 0), ins(30, "c", 1, 0), ins(40, "d", 1, 0), ins(50, "e", 1, 0)},
			dst:   8,
			want:  []Block{b(50, 51), b(40, 41), b(30, 31), b(20, 21)},
		},
		{
			name:  "as many as dst holds",
			steps: []step{ins(10, "a", 1, 0), ins(20, "b", 1, 0), ins(30, "c", 1, 0)},
			dst:   2,
			want:  []Block{b(30, 31), b(20, 21)},
		},
		{
			name:  "zero-length dst",
			steps: []step{ins(10, "a", 1, 0)},
			dst:   0,
			want:  []Block{},
		},
		{
			name:  "duplicate refreshes its block",
			steps: []step{ins(10, "a", 1, 0), ins(20, "b", 1, 0), ins(30, "c", 1, 0), ins(10, "a", 0, 0)},
			dst:   4,
			want:  []Block{b(10, 11), b(30, 31), b(20, 21)},
		},
		{
			name:  "merged range comes first",
			steps: []step{ins(10, "a", 1, 0), ins(20, "b", 1, 0), ins(30, "c", 1, 0), ins(40, "d", 1, 0), ins(11, "aaaaaaaaa", 9, 0)},
			dst:   4,
			want:  []Block{b(10, 21), b(40, 41), b(30, 31)},
		},
		{
			name:  "old ones come back when the newest are delivered",
			steps: []step{ins(10, "a", 1, 0), ins(20, "b", 1, 0), ins(30, "c", 1, 0), ins(1, "d", 1, 0), ins(5, "e", 1, 0), deliver(1), pop("d", 2)},
			dst:   4,
			want:  []Block{b(5, 6), b(30, 31), b(20, 21), b(10, 11)},
		},
		{
			name:  "dropped segment refreshes nothing",
			limit: 2 * (1 + RangeOverhead),
			steps: []step{ins(10, "a", 1, 0), ins(20, "b", 1, 0), ins(10, "a", 0, 0), ins(30, "c", 0, 1), ins(21, "x", 0, 1)},
			dst:   4,
			want:  []Block{b(10, 11), b(20, 21)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = 1 << 20
			}
			q := New(limit)
			var rcvNxt seqnum.Value
			for i, s := range tt.steps {
				switch {
				case s.deliver:
					rcvNxt = seqnum.Value(s.off)
				case s.pop:
					var got []byte
					rcvNxt = q.Pop(rcvNxt, func(c []byte) { got = append(got, c...) })
					if string(got) != s.want {
						t.Fatalf("step %d: Pop delivered %q, want %q", i, got, s.want)
					}
				default:
					if st, d := q.Insert(rcvNxt, seqnum.Value(s.off), []byte(s.data)); st != s.stored || d != s.dropped {
						t.Fatalf("step %d: Insert = (%d, %d), want (%d, %d)", i, st, d, s.stored, s.dropped)
					}
				}
			}
			dst := make([]Block, tt.dst)
			got := dst[:q.SACK(dst)]
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SACK blocks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTinySegments checks that a peer sending one-byte segments, in either
// direction, cannot make the queue keep one buffer per byte: neighbouring
// chunks that fit in coalesceMax bytes are joined.
func TestTinySegments(t *testing.T) {
	const n = 20000
	for _, desc := range []bool{false, true} {
		t.Run(fmt.Sprintf("descending=%v", desc), func(t *testing.T) {
			q := New(1 << 20)
			base := seqnum.Value(1<<32 - n/2)
			for i := range n {
				off := 1 + i
				if desc {
					off = n - i
				}
				q.Insert(base, base.Add(seqnum.Size(off)), []byte{byte(off)})
			}
			if err := checkInvariants(q); err != nil {
				t.Fatal(err)
			}
			chunks := 0
			q.tree.Ascend(func(r *rng) bool {
				for c := r.chunks.head; c != nil; c = c.next {
					chunks++
				}
				return true
			})
			if q.Ranges() != 1 || q.Bytes() != n {
				t.Fatalf("holds %d bytes in %d ranges, want %d in 1", q.Bytes(), q.Ranges(), n)
			}
			if most := 2*n/coalesceMax + 1; chunks > most {
				t.Errorf("%d bytes held in %d chunks, want at most %d", n, chunks, most)
			}
			var got []byte
			q.Pop(base.Add(1), func(c []byte) { got = append(got, c...) })
			for i, b := range got {
				if b != byte(i+1) {
					t.Fatalf("byte %d = %d, want %d", i, b, byte(i+1))
				}
			}
		})
	}
}
