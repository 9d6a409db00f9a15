package seqnum

import (
	"math/rand/v2"
	"testing"
)

const top = Value(1<<32 - 1) // the last value before the wrap

func TestCompare(t *testing.T) {
	tests := []struct {
		name           string
		v, w           Value
		lt, le, gt, ge bool
	}{
		{"equal", 5, 5, false, true, false, true},
		{"less", 5, 6, true, true, false, false},
		{"greater", 6, 5, false, false, true, true},
		{"wrap less", top, 0, true, true, false, false},
		{"wrap greater", 0, top, false, false, true, true},
		{"wrap far", top - 10, 10, true, true, false, false},
		{"half minus one", 0, 1<<31 - 1, true, true, false, false},
		{"half minus one reversed", 1<<31 - 1, 0, false, false, true, true},
		// Exactly half way round is ambiguous: each is before the other.
		{"exactly half", 0, 1 << 31, true, true, false, false},
		{"exactly half reversed", 1 << 31, 0, true, true, false, false},
		{"just past half", 0, 1<<31 + 1, false, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.LessThan(tt.w); got != tt.lt {
				t.Errorf("%d.LessThan(%d) = %v, want %v", tt.v, tt.w, got, tt.lt)
			}
			if got := tt.v.LessThanEq(tt.w); got != tt.le {
				t.Errorf("%d.LessThanEq(%d) = %v, want %v", tt.v, tt.w, got, tt.le)
			}
			if got := tt.v.GreaterThan(tt.w); got != tt.gt {
				t.Errorf("%d.GreaterThan(%d) = %v, want %v", tt.v, tt.w, got, tt.gt)
			}
			if got := tt.v.GreaterThanEq(tt.w); got != tt.ge {
				t.Errorf("%d.GreaterThanEq(%d) = %v, want %v", tt.v, tt.w, got, tt.ge)
			}
		})
	}
}

func TestInRange(t *testing.T) {
	tests := []struct {
		name    string
		v, a, b Value
		want    bool
	}{
		{"start", 10, 10, 20, true},
		{"inside", 15, 10, 20, true},
		{"end excluded", 20, 10, 20, false},
		{"before", 9, 10, 20, false},
		{"empty", 10, 10, 10, false},
		{"wrap start", top - 1, top - 1, 5, true},
		{"wrap top", top, top - 1, 5, true},
		{"wrap zero", 0, top - 1, 5, true},
		{"wrap inside", 4, top - 1, 5, true},
		{"wrap end", 5, top - 1, 5, false},
		{"wrap before", top - 2, top - 1, 5, false},
		{"wrap after", 6, top - 1, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.InRange(tt.a, tt.b); got != tt.want {
				t.Errorf("%d.InRange(%d, %d) = %v, want %v", tt.v, tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestInWindow(t *testing.T) {
	tests := []struct {
		name string
		v, f Value
		size Size
		want bool
	}{
		{"first", 100, 100, 10, true},
		{"last", 109, 100, 10, true},
		{"end", 110, 100, 10, false},
		{"before", 99, 100, 10, false},
		{"zero window", 100, 100, 0, false},
		{"wrap", 3, top - 2, 10, true},
		{"wrap end", 7, top - 2, 10, false},
		{"wrap first", top - 2, top - 2, 10, true},
		{"huge window", 1<<31 + 5, 0, 1<<32 - 1, true},
		{"huge window excludes last", top, 0, 1<<32 - 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.InWindow(tt.f, tt.size); got != tt.want {
				t.Errorf("%d.InWindow(%d, %d) = %v, want %v", tt.v, tt.f, tt.size, got, tt.want)
			}
		})
	}
}

func TestAddSize(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		s    Size
		want Value
	}{
		{"zero", 7, 0, 7},
		{"plain", 7, 3, 10},
		{"wrap", top, 1, 0},
		{"wrap far", top - 5, 100, 94},
		{"full circle minus one", 5, 1<<32 - 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.Add(tt.s); got != tt.want {
				t.Fatalf("%d.Add(%d) = %d, want %d", tt.v, tt.s, got, tt.want)
			}
			if got := tt.v.Size(tt.want); got != tt.s {
				t.Fatalf("%d.Size(%d) = %d, want %d", tt.v, tt.want, got, tt.s)
			}
		})
	}
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		name string
		a    Value
		la   Size
		b    Value
		lb   Size
		want bool
	}{
		{"disjoint", 0, 10, 20, 10, false},
		{"adjacent", 0, 10, 10, 10, false},
		{"adjacent reversed", 10, 10, 0, 10, false},
		{"one byte", 0, 11, 10, 10, true},
		{"contained", 0, 100, 10, 10, true},
		{"containing", 10, 10, 0, 100, true},
		{"same", 5, 5, 5, 5, true},
		{"empty a", 5, 0, 0, 10, false},
		{"empty b", 0, 10, 5, 0, false},
		{"both empty", 5, 0, 5, 0, false},
		{"wrap overlap", top - 4, 10, 2, 3, true},
		{"wrap adjacent", top - 4, 10, 5, 3, false},
		{"wrap both", top - 4, 10, top, 10, true},
		{"wrap before", top - 4, 10, top - 10, 6, false},
		{"wrap touching first", top - 4, 10, top - 10, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Overlap(tt.a, tt.la, tt.b, tt.lb); got != tt.want {
				t.Errorf("Overlap(%d, %d, %d, %d) = %v, want %v", tt.a, tt.la, tt.b, tt.lb, got, tt.want)
			}
			if got := Overlap(tt.b, tt.lb, tt.a, tt.la); got != tt.want {
				t.Errorf("Overlap(%d, %d, %d, %d) = %v, want %v (swapped)", tt.b, tt.lb, tt.a, tt.la, got, tt.want)
			}
		})
	}
}

// TestOverlapBrute checks Overlap against a byte-by-byte walk over small
// windows placed around the wrap.
func TestOverlapBrute(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		a := top - Value(r.IntN(64))
		b := top - Value(r.IntN(64)) + Value(r.IntN(64))
		la, lb := Size(r.IntN(64)), Size(r.IntN(64))
		want := false
		for i := Size(0); i < la && !want; i++ {
			want = a.Add(i).InWindow(b, lb)
		}
		if got := Overlap(a, la, b, lb); got != want {
			t.Fatalf("Overlap(%d, %d, %d, %d) = %v, want %v", a, la, b, lb, got, want)
		}
	}
}

func TestMinMax(t *testing.T) {
	tests := []struct {
		name     string
		a, b     Value
		min, max Value
	}{
		{"plain", 1, 2, 1, 2},
		{"reversed", 2, 1, 1, 2},
		{"equal", 3, 3, 3, 3},
		{"wrap", top, 1, top, 1},
		{"wrap reversed", 1, top, top, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Min(tt.a, tt.b); got != tt.min {
				t.Errorf("Min(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.min)
			}
			if got := Max(tt.a, tt.b); got != tt.max {
				t.Errorf("Max(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.max)
			}
		})
	}
}
