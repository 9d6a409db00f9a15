package fragment

import (
	"bytes"
	"time"

	"github.com/google/btree"
)

// frag is one held fragment: a copy of its payload at byte offset off.
type frag struct {
	off  int
	data []byte
}

func (f frag) end() int { return f.off + len(f.data) }

func fragLess(a, b frag) bool { return a.off < b.off }

// datagram is the state of one datagram in reassembly. Its fragments never
// overlap, so received, the sum of their lengths, equals end exactly when
// they cover [0, end).
type datagram struct {
	key     Key
	created time.Time
	// prev and next link the datagrams in order of creation.
	prev, next *datagram

	frags    *btree.BTreeG[frag]
	received int  // payload bytes held
	maxEnd   int  // highest fragment end held
	hasEnd   bool // the final fragment arrived
	end      int  // its end, if hasEnd
	hdr      []byte
	haveHdr  bool  // hdr holds the first header at offset 0
	bytes    int64 // charged to Reassembler.bytes
}

// verdict is what check finds for a new fragment.
type verdict int

const (
	fits verdict = iota
	duplicate
	overlap
)

// check compares the fragment [off, end) carrying p, with end > off, with
// its neighbours in O(log n): the fragment starting at or before off and
// the one starting after it. Since held fragments do not overlap, those
// are the only ones it can overlap.
func (d *datagram) check(off, end int, p []byte) verdict {
	var prev, next frag
	var havePrev, haveNext bool
	d.frags.DescendLessOrEqual(frag{off: off}, func(f frag) bool {
		prev, havePrev = f, true
		return false
	})
	if havePrev {
		if prev.off == off {
			if bytes.Equal(prev.data, p) {
				return duplicate
			}
			return overlap
		}
		if prev.end() > off {
			return overlap
		}
	}
	d.frags.AscendGreaterOrEqual(frag{off: off + 1}, func(f frag) bool {
		next, haveNext = f, true
		return false
	})
	if haveNext && next.off < end {
		return overlap
	}
	return fits
}
