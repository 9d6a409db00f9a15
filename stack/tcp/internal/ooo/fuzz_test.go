package ooo

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/stack/tcp/internal/seqnum"
)

// model is the reference the fuzz target compares the queue with: a byte map
// of the stream (positions counted from the first rcvNxt) that evicts one
// byte at a time from the top, the simplest statement of the queue's
// contract.
type model struct {
	limit   int
	rcv     int      // rcvNxt
	held    []bool   // held[i]: byte i is in the queue
	val     []byte   // its value
	touches [][2]int // ranges as they were when an Insert touched them, oldest first
}

// grow makes room for positions below n.
func (m *model) grow(n int) {
	for len(m.held) < n {
		m.held = append(m.held, false)
		m.val = append(m.val, 0)
	}
}

// runs returns the held ranges [start, end), in order.
func (m *model) runs() [][2]int {
	var out [][2]int
	for i := m.rcv; i < len(m.held); i++ {
		if !m.held[i] {
			continue
		}
		j := i
		for j < len(m.held) && m.held[j] {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// mem returns the bytes held and the memory the queue should charge.
func (m *model) mem() (bytes, mem int) {
	for _, r := range m.runs() {
		bytes += r[1] - r[0]
		mem += r[1] - r[0] + RangeOverhead
	}
	return bytes, mem
}

// run returns the held range containing i.
func (m *model) run(i int) [2]int {
	s, e := i, i
	for s > m.rcv && m.held[s-1] {
		s--
	}
	for e < len(m.held) && m.held[e] {
		e++
	}
	return [2]int{s, e}
}

// insert stores data at off: bytes below rcv ignored, held bytes win, then
// bytes evicted from the top while over the limit, never below the
// segment's start.
func (m *model) insert(off int, data []byte) (stored, dropped int) {
	end := off + len(data)
	s := max(off, m.rcv)
	if end <= s {
		return 0, 0
	}
	m.grow(end + 1)
	fresh := make([]bool, end-s)
	for i := s; i < end; i++ {
		if !m.held[i] {
			m.held[i], m.val[i], fresh[i-s] = true, data[i-off], true
		}
	}
	_, mem := m.mem()
	top := len(m.held) - 1
	for mem > m.limit {
		for top >= s && !m.held[top] {
			top--
		}
		if top < s {
			break
		}
		m.held[top] = false
		if top == m.rcv || !m.held[top-1] {
			mem -= RangeOverhead
		}
		mem--
	}
	for i := s; i < end; i++ {
		switch {
		case !m.held[i]:
			dropped++
		case fresh[i-s]:
			stored++
		}
	}
	for i := s; i < end; i++ {
		if m.held[i] {
			m.touches = append(m.touches, m.run(i))
			break
		}
	}
	return stored, dropped
}

// pop delivers the bytes contiguous from rcv.
func (m *model) pop() []byte {
	var out []byte
	for m.rcv < len(m.held) && m.held[m.rcv] {
		out = append(out, m.val[m.rcv])
		m.held[m.rcv] = false
		m.rcv++
	}
	return out
}

// deliver is the connection receiving n in-order bytes itself.
func (m *model) deliver(n int) {
	m.grow(m.rcv + n + 1)
	for i := m.rcv; i < m.rcv+n; i++ {
		m.held[i] = false
	}
	m.rcv += n
}

// sack returns the expected SACK blocks, as offsets: held ranges by the
// latest touch that overlaps them.
func (m *model) sack(n int) [][2]int {
	runs := m.runs()
	recency := make([]int, len(runs))
	for i, r := range runs {
		recency[i] = -1
		for j, t := range m.touches {
			if t[0] < r[1] && r[0] < t[1] {
				recency[i] = j
			}
		}
	}
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return recency[b] - recency[a] })
	out := [][2]int{}
	for _, i := range idx[:min(n, MaxSACKBlocks, len(idx))] {
		out = append(out, runs[i])
	}
	return out
}

// FuzzQueue drives a Queue with random operations and compares it with the
// model after each: Insert results, delivered bytes (each exactly once, with
// the bytes held first), Bytes, Mem (never over the limit), Ranges, SACK
// blocks and the queue's internal invariants.
//
// Input: 4 bytes initial rcvNxt, 2 bytes limit, then operations of one
// opcode byte and their arguments.
func FuzzQueue(f *testing.F) {
	f.Add([]byte("\xf0\xff\xff\xff\x00\x04" + "\x00\x20\x00\x10\x00\x41" + "\x00\x08\x00\x10\x00\x42" + "\x05\x08" + "\x04" + "\x06\x04"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x01" + "\x00\x00\x01\x00\x01\x41" + "\x01\x00\x02\x00\x01\x42" + "\x00\x00\x03\x00\x01\x43" + "\x02\x10\x00\x80\x00\x44" + "\x06\x04" + "\x05\xff" + "\x04"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 6 {
			return
		}
		start := seqnum.Value(binary.LittleEndian.Uint32(in))
		limit := int(binary.LittleEndian.Uint16(in[4:])) % 8192
		in = in[6:]
		q := New(limit)
		m := &model{limit: limit}
		seq := func(off int) seqnum.Value { return start.Add(seqnum.Size(off)) }
		rcvNxt := start
		lazy := false // the connection moved rcvNxt without calling the queue
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		for op := 0; len(in) > 0 && op < 500; op++ {
			switch code := next(); code % 8 {
			case 0, 1, 2, 3: // insert
				off := m.rcv + int(binary.LittleEndian.Uint16([]byte{next(), next()}))%4096 - 128
				n := 1 + int(binary.LittleEndian.Uint16([]byte{next(), next()}))%2048
				tag := next()
				if off+n <= 0 {
					continue
				}
				off = max(off, 0) // the model's stream starts at 0
				data := make([]byte, n)
				for i := range data {
					data[i] = tag + byte((off+i)*7)
				}
				wantS, wantD := m.insert(off, data)
				s, d := q.Insert(rcvNxt, seq(off), data)
				if s != wantS || d != wantD {
					t.Fatalf("op %d: Insert([%d, %d)) = (%d, %d), want (%d, %d)", op, off, off+n, s, d, wantS, wantD)
				}
				lazy = false
			case 4: // pop
				want := m.pop()
				var got []byte
				nxt := q.Pop(rcvNxt, func(c []byte) {
					if len(c) == 0 {
						t.Fatalf("op %d: Pop delivered an empty chunk", op)
					}
					got = append(got, c...)
				})
				if !slices.Equal(got, want) {
					t.Fatalf("op %d: Pop delivered %d bytes %x, want %d bytes %x", op, len(got), got, len(want), want)
				}
				if nxt != seq(m.rcv) {
					t.Fatalf("op %d: Pop returned %d, want %d", op, nxt, seq(m.rcv))
				}
				rcvNxt = nxt
				lazy = false
			case 5: // the connection delivers in-order bytes itself
				n := 1 + int(next())
				m.deliver(n)
				rcvNxt = seq(m.rcv)
				lazy = true
			case 6: // SACK
				if lazy {
					continue
				}
				dst := make([]Block, next()%6)
				got := [][2]int{}
				for _, b := range dst[:q.SACK(dst)] {
					got = append(got, [2]int{int(start.Size(b.Start)), int(start.Size(b.End))})
				}
				if diff := cmp.Diff(m.sack(len(dst)), got); diff != "" {
					t.Fatalf("op %d: SACK blocks (-want +got):\n%s", op, diff)
				}
			case 7:
				if code != 7 {
					continue
				}
				q.Reset()
				m.deliver(0)
				for i := range m.held {
					m.held[i] = false
				}
				m.touches = nil
				lazy = false
			}
			if q.Mem() > limit {
				t.Fatalf("op %d: Mem() = %d over limit %d", op, q.Mem(), limit)
			}
			if err := checkInvariants(q); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
			if lazy {
				continue // the queue still holds bytes the connection has
			}
			bytes, mem := m.mem()
			if q.Bytes() != bytes || q.Mem() != mem || q.Ranges() != len(m.runs()) {
				t.Fatalf("op %d: Bytes %d Mem %d Ranges %d, want %d %d %d", op, q.Bytes(), q.Mem(), q.Ranges(), bytes, mem, len(m.runs()))
			}
		}
	})
}
