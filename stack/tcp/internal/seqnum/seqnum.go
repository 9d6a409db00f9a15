package seqnum

// Value is a TCP sequence number, interpreted modulo 2^32.
type Value uint32

// Size is a distance in the sequence space: a number of sequence numbers,
// such as a segment length or a window.
type Size uint32

// LessThan reports whether v comes before w, that is whether w lies less than
// 2^31 ahead of v. Values exactly 2^31 apart are each less than the other;
// TCP never compares values that far apart.
func (v Value) LessThan(w Value) bool {
	return int32(v-w) < 0
}

// LessThanEq reports whether v comes before w or equals it.
func (v Value) LessThanEq(w Value) bool {
	return v == w || v.LessThan(w)
}

// GreaterThan reports whether v comes after w.
func (v Value) GreaterThan(w Value) bool {
	return int32(v-w) > 0
}

// GreaterThanEq reports whether v comes after w or equals it.
func (v Value) GreaterThanEq(w Value) bool {
	return v == w || v.GreaterThan(w)
}

// InRange reports whether a <= v < b, walking forward from a. It compares
// distances from a, so it is exact for any range shorter than 2^32; an empty
// range (a == b) contains nothing.
func (v Value) InRange(a, b Value) bool {
	return v-a < b-a
}

// InWindow reports whether v lies in the window of size sequence numbers that
// starts at first: first <= v < first+size. A zero-size window contains
// nothing.
func (v Value) InWindow(first Value, size Size) bool {
	return Size(v-first) < size
}

// Add returns the value s sequence numbers after v, wrapping modulo 2^32.
func (v Value) Add(s Size) Value {
	return v + Value(s)
}

// Size returns the distance from v forward to w: w - v modulo 2^32.
func (v Value) Size(w Value) Size {
	return Size(w - v)
}

// Overlap reports whether the windows [a, a+la) and [b, b+lb) share at least
// one sequence number. An empty window overlaps nothing. Two arcs of the
// sequence circle meet exactly when one starts inside the other, so the test
// is exact for any sizes, including windows that wrap past 2^32.
func Overlap(a Value, la Size, b Value, lb Size) bool {
	if la == 0 || lb == 0 {
		return false
	}
	return b.InWindow(a, la) || a.InWindow(b, lb)
}

// Max returns whichever of a and b comes later in the sequence space.
func Max(a, b Value) Value {
	if a.LessThan(b) {
		return b
	}
	return a
}

// Min returns whichever of a and b comes earlier in the sequence space.
func Min(a, b Value) Value {
	if a.LessThan(b) {
		return a
	}
	return b
}
