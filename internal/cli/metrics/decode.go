package metrics

import (
	"cmp"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse reads metrics in the Prometheus text exposition format, checking
// names with the classic (pre-UTF-8) rules that Schema's names follow.
func Parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// sample is one metric of a family: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

// Decode rebuilds a T from metric families, the inverse of the schema's
// Collector: numbers from their metrics, strings from the labels of
// their section's _info, slice elements from the distinct label values found (ordered by
// the index label, else by the label values, numerically where they are
// numbers). A pointer section is allocated only when one of its metrics
// is present; a slice exported as a count gets that many zero elements
// (nil for none).
// Fields that are not exported (Options.Skip, maps...) stay zero;
// metrics the schema does not know are ignored.
func (s *Schema[T]) Decode(fams map[string]*dto.MetricFamily) (T, error) {
	var out T
	d := decoder{idx: map[string][]sample{}}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			sm := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				sm.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				sm.value = m.Counter.GetValue()
			case m.Gauge != nil:
				sm.value = m.Gauge.GetValue()
			case m.Untyped != nil:
				sm.value = m.Untyped.GetValue()
			default:
				continue
			}
			d.idx[name] = append(d.idx[name], sm)
		}
	}
	d.nodes(reflect.ValueOf(&out).Elem(), s.root, nil)
	return out, d.err
}

type decoder struct {
	idx map[string][]sample
	err error
}

// find returns the sample of metric name whose labels names have the
// values vals.
func (d *decoder) find(name string, names, vals []string) (float64, bool) {
	for _, sm := range d.idx[name] {
		if matches(sm, names, vals) {
			return sm.value, true
		}
	}
	return 0, false
}

func matches(sm sample, names, vals []string) bool {
	for i, n := range names {
		if sm.labels[n] != vals[i] {
			return false
		}
	}
	return true
}

// nodes fills struct v; vals are the values of the enclosing slices'
// labels. It reports whether any metric was found.
func (d *decoder) nodes(v reflect.Value, nodes []*node, vals []string) bool {
	found := false
	for _, n := range nodes {
		if n.kind == kindInfo {
			for _, sm := range d.idx[n.name] {
				if matches(sm, n.lnames, vals) {
					for _, f := range n.info {
						v.FieldByIndex(f.index).SetString(sm.labels[f.name])
					}
					found = true
					break
				}
			}
			continue
		}
		f := v.Field(n.field)
		switch n.kind {
		case kindValue:
			x, ok := d.find(n.name, n.lnames, vals)
			if ok {
				setNumber(f, x)
				found = true
			}
		case kindCount:
			x, ok := d.find(n.name, n.lnames, vals)
			if ok && x > 0 {
				f.Set(reflect.MakeSlice(f.Type(), int(x), int(x)))
			}
			found = found || ok
		case kindStruct:
			found = d.nodes(f, n.children, vals) || found
		case kindPtr:
			p := reflect.New(f.Type().Elem())
			if d.nodes(p.Elem(), n.children, vals) {
				f.Set(p)
				found = true
			}
		case kindSlice:
			found = d.slice(f, n, vals) || found
		}
	}
	return found
}

// slice rebuilds the elements of slice f from the label values of the
// metrics below it.
func (d *decoder) slice(f reflect.Value, n *node, vals []string) bool {
	var tuples [][]string
	seen := map[string]bool{}
	for _, name := range n.below {
		for _, sm := range d.idx[name] {
			if !matches(sm, n.lnames, vals) {
				continue
			}
			t := make([]string, len(n.own))
			key := ""
			for i, l := range n.own {
				t[i] = sm.labels[l]
				key += t[i] + "\xff"
			}
			if !seen[key] {
				seen[key] = true
				tuples = append(tuples, t)
			}
		}
	}
	if len(tuples) == 0 {
		return false
	}
	slices.SortFunc(tuples, func(a, b []string) int {
		for i := range a {
			if c := compareLabel(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	sl := reflect.MakeSlice(f.Type(), len(tuples), len(tuples))
	for i, t := range tuples {
		e := sl.Index(i)
		lv := t
		if n.indexLabel {
			lv = t[1:]
		}
		for j, l := range n.labels {
			if err := setLabel(e.Field(l.field), lv[j]); err != nil && d.err == nil {
				d.err = fmt.Errorf("metrics: %s: label %s: %w", n.path, l.name, err)
			}
		}
		d.nodes(e, n.children, append(slices.Clip(vals), t...))
	}
	f.Set(sl)
	return true
}

// compareLabel orders label values numerically when both are numbers.
func compareLabel(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		return cmp.Compare(x, y)
	}
	return cmp.Compare(a, b)
}

func setNumber(f reflect.Value, x float64) {
	switch f.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if x < 0 {
			x = 0
		}
		f.SetUint(uint64(x))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(int64(x))
	case reflect.Float32, reflect.Float64:
		f.SetFloat(x)
	case reflect.Bool:
		f.SetBool(x != 0)
	}
}

func setLabel(f reflect.Value, s string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		x, err := strconv.ParseUint(s, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetUint(x)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(x)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(s, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetFloat(x)
	}
	return nil
}
