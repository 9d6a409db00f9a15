package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Stat is the spread of one figure over the repetitions of a scenario.
type Stat struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	// N is the number of values summarized; zero means no value.
	N int `json:"n"`
}

// Valid reports whether s summarizes at least one value.
func (s Stat) Valid() bool { return s.N > 0 }

// Summarize returns the min, median and max of v, ignoring NaNs. The
// median of an even count is the mean of the two middle values. v is not
// modified.
func Summarize(v []float64) Stat {
	w := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			w = append(w, x)
		}
	}
	if len(w) == 0 {
		return Stat{}
	}
	slices.Sort(w)
	n := len(w)
	med := w[n/2]
	if n%2 == 0 {
		med = (w[n/2-1] + w[n/2]) / 2
	}
	return Stat{Min: w[0], Median: med, Max: w[n-1], N: n}
}

// Ratio returns a's median over b's, or NaN when either is missing or b's
// median is zero.
func Ratio(a, b Stat) float64 {
	if !a.Valid() || !b.Valid() || b.Median == 0 {
		return math.NaN()
	}
	return a.Median / b.Median
}

// Num is a float64 that encodes NaN and infinities as JSON null ("no
// value") instead of failing.
type Num float64

// NaN is the Num for "nothing to compare with".
var NaN = Num(math.NaN())

// Valid reports whether n is a finite number.
func (n Num) Valid() bool { return !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0) }

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	if !n.Valid() {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(n), 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler (null is NaN).
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = NaN
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("number %q: %w", b, err)
	}
	*n = Num(f)
	return nil
}

// div returns a/b, or NaN for b == 0.
func div(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
