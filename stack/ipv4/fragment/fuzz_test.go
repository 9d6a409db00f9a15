package fragment

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// op is one step of a fuzzed fragment sequence.
type op struct {
	key     int  // which of 4 keys
	more    bool // MF
	corrupt bool // flip the first byte of the pattern
	clock   int  // 0: none, 1: +1 s, 2: +Timeout/2, 3: +Timeout then Expire
	hdr     int  // index into fuzzHeaders
	off     int
	n       int
}

const (
	opSize      = 6
	fuzzTimeout = 10 * time.Second
)

var fuzzHeaders = [4][]byte{make([]byte, 20), nil, make([]byte, 24), make([]byte, 60)}

var fuzzKeys = [4]Key{testKey(1), testKey(2), testKey(3), {ID: 1}}

// decodeOps turns fuzz input into ops, opSize bytes each:
//
//	byte 0: key (bits 0-1), MF (2), corrupt (3), clock (4-5), header (6-7)
//	bytes 1-2: offset v; bit 15 clear: (v&0x1fff)*8, set: uint16(v<<1)
//	byte 3: length mode; bit 0 clear: only the low 12 bits of the length
//	        count; bit 1 set: the length is rounded down to a multiple of 8
//	bytes 4-5: length
func decodeOps(data []byte) []op {
	var ops []op
	for ; len(data) >= opSize; data = data[opSize:] {
		b := data[0]
		v := binary.BigEndian.Uint16(data[1:])
		mode := data[3]
		w := binary.BigEndian.Uint16(data[4:])
		o := op{
			key:     int(b & 3),
			more:    b&4 != 0,
			corrupt: b&8 != 0,
			clock:   int(b>>4) & 3,
			hdr:     int(b>>6) & 3,
		}
		if v&0x8000 == 0 {
			o.off = int(v&0x1fff) * 8
		} else {
			o.off = int(uint16(v << 1))
		}
		o.n = int(w)
		if mode&1 == 0 {
			o.n &= 0x0fff
		}
		if mode&2 != 0 {
			o.n &^= 7
		}
		ops = append(ops, o)
	}
	return ops
}

// encodeOps is the inverse of decodeOps for offsets that are multiples of
// 8 below 65536 and lengths below 65536.
func encodeOps(ops []op) []byte {
	var out []byte
	for _, o := range ops {
		b := byte(o.key&3) | byte(o.clock&3)<<4 | byte(o.hdr&3)<<6
		if o.more {
			b |= 4
		}
		if o.corrupt {
			b |= 8
		}
		v := uint16(o.off / 8)
		var mode byte
		if o.n >= 0x1000 {
			mode = 1
		}
		out = append(out, b, byte(v>>8), byte(v), mode, byte(o.n>>8), byte(o.n))
	}
	return out
}

// patterns[key][pos] is the byte at position pos of key index key's
// datagram, so that fragments of one key agree wherever they overlap.
var patterns = func() (p [4][]byte) {
	for key := range p {
		p[key] = make([]byte, 1<<17)
		for pos := range p[key] {
			p[key][pos] = byte(pos*131 + pos>>8*7 + key*29 + 1)
		}
	}
	return p
}()

// runOps feeds ops to two Reassemblers: a small one that evicts, checked
// for invariants, and a large one compared step by step with the model.
func runOps(t *testing.T, ops []op) {
	t.Helper()
	clk := newFakeClock()
	small := New(Options{HighBytes: 16 << 10, LowBytes: 8 << 10, Timeout: fuzzTimeout, Clock: clk.Now, MaxFragments: 8})
	bigOpts := Options{HighBytes: 1 << 40, LowBytes: 1 << 40, Timeout: fuzzTimeout, Clock: clk.Now, MaxFragments: 8}
	big := New(bigOpts)
	ref := newModel(bigOpts)

	var lastEnd [4]int
	var tainted [4]bool
	buf := make([]byte, 1<<16)
	for i, o := range ops {
		switch o.clock {
		case 1:
			clk.Advance(time.Second)
		case 2:
			clk.Advance(fuzzTimeout / 2)
		case 3:
			clk.Advance(fuzzTimeout)
			small.Expire()
			big.Expire()
			ref.expire(clk.Now())
		}
		p := buf[:o.n]
		copy(p, patterns[o.key][o.off:])
		if o.corrupt && o.n > 0 {
			p[0] ^= 0xff
			tainted[o.key] = true
		}
		if !o.more {
			lastEnd[o.key] = o.off + o.n
		}
		k, hdr := fuzzKeys[o.key], fuzzHeaders[o.hdr]

		check := func(name string, out []byte, done bool, s Stats) {
			t.Helper()
			if s.Bytes < 0 {
				t.Fatalf("op %d %+v: %s: Bytes = %d", i, o, name, s.Bytes)
			}
			if !done {
				return
			}
			if len(out) != lastEnd[o.key] {
				t.Fatalf("op %d %+v: %s: payload length %d, final fragment ended at %d", i, o, name, len(out), lastEnd[o.key])
			}
			if tainted[o.key] {
				return
			}
			if !bytes.Equal(out, patterns[o.key][:len(out)]) {
				t.Fatalf("op %d %+v: %s: payload differs from what was sent", i, o, name)
			}
		}

		out, _, done := small.Process(k, hdr, uint16(o.off), o.more, p)
		s := small.Stats()
		check("small", out, done, s)
		if s.Bytes > 16<<10 {
			t.Fatalf("op %d %+v: small: Bytes = %d over HighBytes", i, o, s.Bytes)
		}

		want, wantHdr, wantDone := ref.process(clk.Now(), k, hdr, o.off, o.more, p)
		out, gotHdr, done := big.Process(k, hdr, uint16(o.off), o.more, p)
		check("big", out, done, big.Stats())
		if done != wantDone || !bytes.Equal(out, want) || !bytes.Equal(gotHdr, wantHdr) {
			t.Fatalf("op %d %+v: got done=%v len %d hdr %x, model done=%v len %d hdr %x",
				i, o, done, len(out), gotHdr, wantDone, len(want), wantHdr)
		}
		if got, want := big.Stats(), ref.Stats(); got != want {
			t.Fatalf("op %d %+v: stats\n got %+v\nwant %+v", i, o, got, want)
		}
	}

	clk.Advance(fuzzTimeout)
	for name, r := range map[string]*Reassembler{"small": small, "big": big} {
		r.Expire()
		if s := r.Stats(); s.Bytes != 0 || s.Datagrams != 0 {
			t.Fatalf("%s after expiry: %+v", name, s)
		}
	}
}

// randomOps builds a sequence that is mostly the fragments of real
// datagrams, shuffled, with duplicates, overlaps, corruption, bad
// fragments and clock steps mixed in.
func randomOps(rng *rand.Rand, count int) []op {
	type plan struct{ frags []op }
	var plans [4]plan
	newPlan := func(key int) {
		size := 1 + rng.IntN(3000)
		if rng.IntN(20) == 0 {
			size = MaxPayload - rng.IntN(3)
		}
		fs := 8 * (1 + rng.IntN(200))
		if size/fs >= 8 && rng.IntN(10) != 0 { // mostly within MaxFragments
			fs = (size/7 + 8) &^ 7
		}
		var frags []op
		for off := 0; off < size; off += fs {
			n := min(fs, size-off)
			frags = append(frags, op{key: key, off: off, n: n, more: off+n < size})
		}
		rng.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
		plans[key].frags = frags
	}
	var ops []op
	for len(ops) < count {
		key := rng.IntN(4)
		if len(plans[key].frags) == 0 {
			newPlan(key)
		}
		o := plans[key].frags[0]
		switch x := rng.IntN(100); {
		case x < 70:
			plans[key].frags = plans[key].frags[1:]
		case x < 78: // duplicate: keep it for later too
		case x < 83:
			o.off += 8 // overlap or beyond the end
		case x < 86:
			o.corrupt = true
		case x < 89:
			o.more = !o.more
		case x < 92:
			o.n += 1 + rng.IntN(7)
		case x < 94:
			o.off = 65528
		default:
			newPlan(key)
			continue
		}
		if rng.IntN(30) == 0 {
			o.clock = 1 + rng.IntN(3)
		}
		o.hdr = rng.IntN(4)
		if rng.IntN(4) != 0 {
			o.hdr = 0
		}
		ops = append(ops, o)
	}
	return ops
}

func TestAgainstModel(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	for seed := range uint64(n) {
		ops := randomOps(rand.New(rand.NewPCG(seed, 2)), 200)
		if got := decodeOps(encodeOps(ops)); len(got) != len(ops) {
			t.Fatalf("encode/decode: %d ops, want %d", len(got), len(ops))
		} else {
			for i := range ops {
				if got[i] != ops[i] {
					t.Fatalf("encode/decode op %d: %+v, want %+v", i, got[i], ops[i])
				}
			}
		}
		runOps(t, ops)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

// fuzzSeeds are small hand-written sequences; testdata/fuzz/FuzzReassemble
// holds the same and a few random ones.
func fuzzSeeds() [][]op {
	return [][]op{
		// In order, three fragments.
		{{off: 0, n: 16, more: true}, {off: 16, n: 16, more: true}, {off: 32, n: 5}},
		// Reverse, with a duplicate and an empty final fragment.
		{{off: 16, n: 0}, {off: 8, n: 8, more: true}, {off: 8, n: 8, more: true}, {off: 0, n: 8, more: true}},
		// Overlap with the same bytes.
		{{off: 0, n: 16, more: true}, {off: 8, n: 16, more: true}, {off: 24, n: 3}},
		// Two different final fragments.
		{{off: 16, n: 8}, {off: 24, n: 8}, {off: 0, n: 16, more: true}},
		// Ping of death.
		{{off: 0, n: 1480, more: true}, {off: 65528, n: 100}},
		// Interleaved keys and a timeout in the middle.
		{{key: 1, off: 0, n: 8, more: true}, {key: 2, off: 8, n: 4}, {key: 1, off: 8, n: 8, clock: 3}, {key: 2, off: 0, n: 8, more: true, hdr: 3}},
		// Maximal datagram in two pieces with a 60-byte first header.
		{{off: 0, n: 32768, more: true, hdr: 3}, {off: 32768, n: MaxPayload - 32768}},
	}
}

func FuzzReassemble(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(encodeOps(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 200*opSize {
			data = data[:200*opSize]
		}
		runOps(t, decodeOps(data))
	})
}
