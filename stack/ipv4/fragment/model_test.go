package fragment

import (
	"bytes"
	"time"
)

// model is a naive reference reassembler: fragments in a slice, linear
// scans, completeness from a coverage bitmap. It applies the same policy
// as Reassembler, written as plainly as possible, but never evicts, so it
// is compared with a Reassembler whose HighBytes is never reached.
type model struct {
	opts  Options
	m     map[Key]*modelDatagram
	stats Stats
}

type modelDatagram struct {
	created time.Time
	frags   []piece
	hasEnd  bool
	end     int
	hdr     []byte
	haveHdr bool
}

func newModel(opts Options) *model {
	return &model{opts: opts.withDefaults(), m: make(map[Key]*modelDatagram)}
}

func (m *model) expire(now time.Time) {
	for k, d := range m.m {
		if now.Sub(d.created) >= m.opts.Timeout {
			m.stats.Timeouts++
			m.stats.DroppedDatagrams++
			delete(m.m, k)
		}
	}
}

func (m *model) drop(k Key) {
	m.stats.DroppedDatagrams++
	delete(m.m, k)
}

func (m *model) process(now time.Time, k Key, hdr []byte, off int, more bool, p []byte) ([]byte, []byte, bool) {
	m.stats.Fragments++
	m.expire(now)
	n := len(p)
	end := off + n
	d := m.m[k]
	if off%8 != 0 || end > 65515 || (more && (n == 0 || n%8 != 0)) {
		m.stats.BadOffset++
		if d != nil {
			m.drop(k)
		}
		return nil, nil, false
	}
	if d == nil {
		d = &modelDatagram{created: now}
		m.m[k] = d
	}
	maxEnd := 0
	for _, f := range d.frags {
		maxEnd = max(maxEnd, f.end())
	}
	if more {
		if d.hasEnd && end > d.end {
			m.stats.ConflictingEnd++
			m.drop(k)
			return nil, nil, false
		}
	} else if (d.hasEnd && end != d.end) || (!d.hasEnd && end < maxEnd) {
		m.stats.ConflictingEnd++
		m.drop(k)
		return nil, nil, false
	}
	setHdr := func() {
		if off == 0 && !d.haveHdr {
			d.hdr, d.haveHdr = bytes.Clone(hdr), true
		}
	}
	if n == 0 {
		if d.hasEnd {
			m.stats.Duplicate++
			return nil, nil, false
		}
		d.hasEnd, d.end = true, end
		setHdr()
	} else {
		for _, f := range d.frags {
			if f.off == off && bytes.Equal(f.data, p) {
				m.stats.Duplicate++
				return nil, nil, false
			}
		}
		for _, f := range d.frags {
			if f.off < end && off < f.end() {
				m.stats.Overlap++
				m.drop(k)
				return nil, nil, false
			}
		}
		if len(d.frags) >= m.opts.MaxFragments {
			m.stats.TooManyFragments++
			m.drop(k)
			return nil, nil, false
		}
		d.frags = append(d.frags, piece{off: off, more: more, data: bytes.Clone(p)})
		setHdr()
		if !more {
			d.hasEnd, d.end = true, end
		}
	}
	if !d.hasEnd {
		return nil, nil, false
	}
	total := 0
	for _, f := range d.frags {
		total += len(f.data)
	}
	if total < d.end {
		return nil, nil, false // cannot cover [0, end), overlaps or not
	}
	covered := make([]bool, d.end)
	for _, f := range d.frags {
		for i := f.off; i < f.end(); i++ {
			covered[i] = true
		}
	}
	for _, c := range covered {
		if !c {
			return nil, nil, false
		}
	}
	out := make([]byte, d.end)
	for _, f := range d.frags {
		copy(out[f.off:], f.data)
	}
	if len(d.hdr)+d.end > 65535 {
		m.stats.BadOffset++
		m.drop(k)
		return nil, nil, false
	}
	m.stats.Reassembled++
	delete(m.m, k)
	return out, d.hdr, true
}

// bytes computes what Reassembler charges for the datagrams held.
func (m *model) bytes() int64 {
	var b int64
	for _, d := range m.m {
		b += DatagramOverhead + int64(len(d.hdr))
		for _, f := range d.frags {
			b += FragmentOverhead + int64(len(f.data))
		}
	}
	return b
}

func (m *model) Stats() Stats {
	s := m.stats
	s.Bytes = m.bytes()
	s.Datagrams = len(m.m)
	return s
}
