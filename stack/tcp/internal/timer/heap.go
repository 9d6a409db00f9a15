package timer

// The heap is a binary min-heap of *Entry in w.heap, each Entry holding its
// position plus one. All of it runs under w.mu.

func (w *Wheel) less(i, j int) bool {
	a, b := w.heap[i], w.heap[j]
	if a.deadline.Equal(b.deadline) {
		return a.seq < b.seq
	}
	return a.deadline.Before(b.deadline)
}

func (w *Wheel) swap(i, j int) {
	h := w.heap
	h[i], h[j] = h[j], h[i]
	h[i].index = i + 1
	h[j].index = j + 1
}

func (w *Wheel) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !w.less(i, p) {
			return
		}
		w.swap(i, p)
		i = p
	}
}

// down sifts the entry at i toward the leaves and reports whether it moved.
func (w *Wheel) down(i int) bool {
	start, n := i, len(w.heap)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && w.less(r, c) {
			c = r
		}
		if !w.less(c, i) {
			break
		}
		w.swap(i, c)
		i = c
	}
	return i > start
}

// fix restores the heap after the deadline of the entry at i changed.
func (w *Wheel) fix(i int) {
	if !w.down(i) {
		w.up(i)
	}
}

// remove takes the entry at i off the heap.
func (w *Wheel) remove(i int) {
	last := len(w.heap) - 1
	if i != last {
		w.swap(i, last)
	}
	e := w.heap[last]
	e.index = 0
	w.heap[last] = nil
	w.heap = w.heap[:last]
	if i != last {
		w.fix(i)
	}
}
