package metrics

import (
	"reflect"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a prometheus.Collector that takes a snapshot at every
// scrape and exports its fields as the Schema describes. It is safe for
// concurrent use if the snapshot function is; Collect calls it once per
// scrape.
type Collector[T any] struct {
	s        *Schema[T]
	snapshot func() T
}

var _ prometheus.Collector = (*Collector[struct{}])(nil)

// Collector returns a collector for the values snapshot returns.
func (s *Schema[T]) Collector(snapshot func() T) *Collector[T] {
	return &Collector[T]{s: s, snapshot: snapshot}
}

// Describe sends the descriptor of every metric the schema can export,
// including those of absent (nil) sections.
func (c *Collector[T]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.s.descs {
		ch <- d
	}
}

// Collect takes one snapshot and sends its metrics.
func (c *Collector[T]) Collect(ch chan<- prometheus.Metric) {
	v := c.snapshot()
	c.s.collect(reflect.ValueOf(&v).Elem(), ch)
}

func (s *Schema[T]) collect(v reflect.Value, ch chan<- prometheus.Metric) {
	collectNodes(v, s.root, nil, ch)
}

func collectNodes(v reflect.Value, nodes []*node, labels []string, ch chan<- prometheus.Metric) {
	for _, n := range nodes {
		if n.kind == kindInfo {
			ls := slices.Clip(labels)
			for _, f := range n.info {
				ls = append(ls, v.FieldByIndex(f.index).String())
			}
			ch <- constMetric(n.desc, n.vtype, 1, ls)
			continue
		}
		f := v.Field(n.field)
		switch n.kind {
		case kindValue:
			ch <- constMetric(n.desc, n.vtype, toFloat(f), labels)
		case kindCount:
			ch <- constMetric(n.desc, n.vtype, float64(f.Len()), labels)
		case kindStruct:
			collectNodes(f, n.children, labels, ch)
		case kindPtr:
			if !f.IsNil() {
				collectNodes(f.Elem(), n.children, labels, ch)
			}
		case kindSlice:
			for i := range f.Len() {
				e := f.Index(i)
				ls := slices.Clip(labels)
				if n.indexLabel {
					ls = append(ls, strconv.Itoa(i))
				}
				for _, l := range n.labels {
					ls = append(ls, labelValue(e.Field(l.field)))
				}
				collectNodes(e, n.children, ls, ch)
			}
		}
	}
}

func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func toFloat(v reflect.Value) float64 {
	switch v.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(v.Uint())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.Bool:
		if v.Bool() {
			return 1
		}
	}
	return 0
}

func labelValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return ""
}
