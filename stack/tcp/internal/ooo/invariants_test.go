package ooo

import (
	"fmt"

	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// checkInvariants walks q's internals and returns the first broken
// invariant, or nil:
//   - ranges are non-empty, ordered, disjoint and non-adjacent, and lie
//     within MaxWindow of the base;
//   - each range's chunks are correctly linked, non-empty, sum to its
//     length, waste at most half their buffer (or use the smallest one), and
//     no two neighbours fit in coalesceMax bytes together;
//   - Bytes, Mem and the recency list agree with the tree, and Mem <= limit.
func checkInvariants(q *Queue) error {
	var err error
	fail := func(format string, args ...any) bool {
		err = fmt.Errorf(format, args...)
		return false
	}
	bytes, n := 0, 0
	var prev *rng
	inTree := make(map[*rng]bool)
	q.tree.Ascend(func(r *rng) bool {
		n++
		inTree[r] = true
		s, e := q.off(r.start), q.off(r.end)
		if s >= e {
			return fail("range [%d, %d) empty or inverted (base %d)", r.start, r.end, q.base)
		}
		if e > MaxWindow {
			return fail("range [%d, %d) beyond MaxWindow from base %d", r.start, r.end, q.base)
		}
		if prev != nil && q.off(prev.end) >= s {
			return fail("ranges [%d, %d) and [%d, %d) overlap or touch", prev.start, prev.end, r.start, r.end)
		}
		prev = r
		sum := 0
		var p *chunk
		for c := r.chunks.head; c != nil; c = c.next {
			if c.prev != p {
				return fail("range [%d, %d): broken prev link", r.start, r.end)
			}
			if c.len() <= 0 || c.lo < 0 || c.hi > len(c.buf) {
				return fail("range [%d, %d): bad chunk lo %d hi %d cap %d", r.start, r.end, c.lo, c.hi, len(c.buf))
			}
			if len(c.buf) != minChunk && 2*c.len() <= len(c.buf) {
				return fail("range [%d, %d): chunk of %d bytes in a %d-byte buffer", r.start, r.end, c.len(), len(c.buf))
			}
			if p != nil && p.len()+c.len() <= coalesceMax {
				return fail("range [%d, %d): neighbouring chunks of %d and %d bytes not coalesced", r.start, r.end, p.len(), c.len())
			}
			sum += c.len()
			p = c
		}
		if r.chunks.tail != p {
			return fail("range [%d, %d): tail is not the last chunk", r.start, r.end)
		}
		if sum != r.len() {
			return fail("range [%d, %d): chunks hold %d bytes, want %d", r.start, r.end, sum, r.len())
		}
		bytes += sum
		return true
	})
	if err != nil {
		return err
	}
	if bytes != q.Bytes() {
		return fmt.Errorf("Bytes() = %d, ranges hold %d", q.Bytes(), bytes)
	}
	if q.Mem() != bytes+RangeOverhead*n || q.Ranges() != n || q.Empty() != (n == 0) {
		return fmt.Errorf("Mem %d Ranges %d Empty %v disagree with %d bytes in %d ranges", q.Mem(), q.Ranges(), q.Empty(), bytes, n)
	}
	if q.Mem() > q.limit && n > 0 {
		return fmt.Errorf("Mem() = %d over limit %d", q.Mem(), q.limit)
	}
	m := 0
	var newer *rng
	for r := q.newest; r != nil; r = r.older {
		if !inTree[r] {
			return fmt.Errorf("recency list holds [%d, %d), not in the tree", r.start, r.end)
		}
		if r.newer != newer {
			return fmt.Errorf("recency list: broken newer link at [%d, %d)", r.start, r.end)
		}
		newer = r
		if m++; m > n {
			return fmt.Errorf("recency list longer than the tree (%d ranges)", n)
		}
	}
	if m != n {
		return fmt.Errorf("recency list has %d ranges, tree %d", m, n)
	}
	return nil
}

// render draws the n bytes from start as q holds them, '.' for a hole.
func render(q *Queue, start seqnum.Value, n int) string {
	out := make([]byte, n)
	for i := range out {
		out[i] = '.'
	}
	q.tree.Ascend(func(r *rng) bool {
		at := int(r.start - start)
		for c := r.chunks.head; c != nil; c = c.next {
			for _, b := range c.data() {
				if at >= 0 && at < n {
					out[at] = b
				}
				at++
			}
		}
		return true
	})
	return string(out)
}
