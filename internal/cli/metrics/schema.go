package metrics

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// Options describes how a snapshot struct maps to metrics. Paths are the
// dotted field names from the root, without slice markers:
// "queues.driver.buffers.free". A field's name is its JSON name: the json
// tag, else the snake_case of its Go name. NewSchema rejects a path that
// names no field, so a renamed field cannot silently lose its options.
type Options struct {
	// Namespace is the first part of every metric name, e.g. "rxpath".
	// Required.
	Namespace string
	// Slices describes every slice of structs, by path.
	Slices map[string]Slice
	// Gauges lists unsigned fields that are levels, not counters.
	Gauges []string
	// Names replaces a path's part of the metric names (its JSON name),
	// e.g. "elapsed_s" → "elapsed_seconds". An empty replacement drops
	// the part, flattening a section into its parent.
	Names map[string]string
	// Skip lists fields not to export (duplicates of a label, say).
	Skip []string
	// Help is the HELP text of a field, or of every field in a section
	// that has no text of its own, by path. "" is the root.
	Help map[string]string
}

// Slice describes how a slice of structs is exported.
type Slice struct {
	// Name is the name part of the elements' metrics, replacing the
	// slice's JSON name (usually its singular: "queues" → "queue").
	Name string
	// Labels are the names of element fields (numbers or strings) whose
	// values label the element's metrics. These fields are not exported
	// as metrics themselves.
	Labels []string
	// IndexLabel, if set, is a label holding the element's position in
	// the slice; it keeps elements with equal labels apart and their
	// order across Decode.
	IndexLabel string
	// Count exports only the number of elements, as the gauge
	// <prefix>_<Name>, instead of each element's fields: for slices
	// whose length is unbounded (one element per connection).
	Count bool
}

// Schema is the mapping between the struct T and its metrics, built once
// by NewSchema. It is immutable and safe for concurrent use.
type Schema[T any] struct {
	root  []*node
	descs []*prometheus.Desc
	fq    []string // every metric name, in walk order
}

type nodeKind int

const (
	kindValue  nodeKind = iota // a number or bool: one metric
	kindStruct                 // a nested (or flattened embedded) struct
	kindPtr                    // a pointer to a struct, followed when non-nil
	kindSlice                  // a slice of structs, one labelled group per element
	kindCount                  // a slice exported as its length
	kindInfo                   // a struct's strings, as the labels of <prefix>_info
)

// node is one exported field of a struct type.
type node struct {
	kind   nodeKind
	field  int    // index in the parent struct (not for info)
	path   string // JSON path, for messages
	name   string // fully qualified metric name (values and counts)
	desc   *prometheus.Desc
	vtype  prometheus.ValueType
	lnames []string // labels inherited from enclosing slices (the desc's labels)

	children []*node // struct, pointer and slice element fields

	// Info only: the strings' label names and their field index paths
	// (through flattened embedded structs).
	info []infoField

	// Slices only.
	labels     []labelField
	indexLabel bool
	own        []string // the element's label names: index, then labels
	below      []string // names of every metric below, for Decode
}

// labelField is a slice element's field used as a label.
type labelField struct {
	name  string
	field int
	kind  reflect.Kind
}

// infoField is a string field exported as a label of its struct's _info.
type infoField struct {
	name  string
	index []int // through flattened embedded structs
}

// builder carries the state of one NewSchema walk.
type builder struct {
	o      Options
	gauges map[string]bool
	skip   map[string]bool
	used   map[string]bool // Slices entries met
	seen   map[string]bool // every field path met
	names  map[string]*node
	descs  []*prometheus.Desc
	fq     []string
}

// NewSchema derives the metrics of T, a struct type, from its fields. It
// fails on a slice of structs that Options.Slices does not describe, on
// two fields that map to the same metric name, and on names Prometheus
// would reject.
func NewSchema[T any](o Options) (*Schema[T], error) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("metrics: %v is not a struct", t)
	}
	if !model.LegacyValidation.IsValidMetricName(o.Namespace) {
		return nil, fmt.Errorf("metrics: namespace %q is not a valid metric name", o.Namespace)
	}
	b := &builder{o: o, gauges: set(o.Gauges), skip: set(o.Skip), used: map[string]bool{}, seen: map[string]bool{"": true}, names: map[string]*node{}}
	root, err := b.section(t, o.Namespace, "", nil)
	if err != nil {
		return nil, err
	}
	for p := range o.Slices {
		if !b.used[p] {
			return nil, fmt.Errorf("metrics: Options.Slices: %q is not a slice of structs in %v", p, t)
		}
	}
	// A path that matches no field is a rename the options missed.
	for what, paths := range map[string][]string{"Gauges": o.Gauges, "Skip": o.Skip, "Names": keys(o.Names), "Help": keys(o.Help)} {
		for _, p := range paths {
			if !b.seen[p] {
				return nil, fmt.Errorf("metrics: Options.%s: no field %q in %v", what, p, t)
			}
		}
	}
	return &Schema[T]{root: root, descs: b.descs, fq: b.fq}, nil
}

func keys(m map[string]string) []string {
	var l []string
	for k := range m {
		l = append(l, k)
	}
	return l
}

func set(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[s] = true
	}
	return m
}

// section builds the nodes of struct type t: its fields' and, if it has
// strings, an info node. prefix is the metric name so far, path the JSON
// path and labels the label names inherited from enclosing slices.
func (b *builder) section(t reflect.Type, prefix, path string, labels []string) ([]*node, error) {
	var info []infoField
	nodes, err := b.walk(t, prefix, path, labels, nil, &info)
	if err != nil || len(info) == 0 {
		return nodes, err
	}
	n := &node{kind: kindInfo, path: path, name: prefix + "_info", vtype: prometheus.GaugeValue, lnames: labels, info: info}
	ls := slices.Clone(labels)
	for _, f := range info {
		if slices.Contains(ls, f.name) {
			return nil, fmt.Errorf("metrics: field %s: label %q is already used", join(path, ".", f.name), f.name)
		}
		ls = append(ls, f.name)
	}
	where := "summary section " + path
	if path == "" {
		where = "the summary's top level"
	}
	help := join(nearestHelp(b.o.Help, path), "; ", "the value is 1, the labels are the strings of "+where)
	if err := b.addDesc(n, help+".", ls); err != nil {
		return nil, err
	}
	return append(nodes, n), nil
}

// walk builds the nodes of struct type t's fields; see section. index is
// the field index path from the section's struct, and info collects its
// strings (an embedded struct's fields belong to the embedding section).
func (b *builder) walk(t reflect.Type, prefix, path string, labels []string, index []int, info *[]infoField) ([]*node, error) {
	var nodes []*node
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			continue // encoding/json flattens even an unexported embedded struct
		}
		jname, flatten := jsonName(f)
		if jname == "-" {
			continue
		}
		p := join(path, ".", jname)
		if flatten {
			p = path
		}
		b.seen[p] = true
		if b.skip[p] {
			continue
		}
		part := jname
		if r, ok := b.o.Names[p]; ok {
			part = r
		}
		if flatten {
			part = ""
		}
		name := join(prefix, "_", part)
		idx := append(slices.Clone(index), i)

		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			var ch []*node
			var err error
			if flatten {
				ch, err = b.walk(ft, name, p, labels, idx, info)
			} else {
				ch, err = b.section(ft, name, p, labels)
			}
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, &node{kind: kindStruct, field: i, path: p, children: ch})
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			ch, err := b.section(ft.Elem(), name, p, labels)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, &node{kind: kindPtr, field: i, path: p, children: ch})
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			n, err := b.slice(ft.Elem(), i, prefix, p, labels)
			if err != nil {
				return nil, err
			}
			nodes = append(nodes, n)
		case ft.Kind() == reflect.String:
			if !model.LegacyValidation.IsValidLabelName(jname) {
				return nil, fmt.Errorf("metrics: field %s: %q is not a valid label name", p, jname)
			}
			*info = append(*info, infoField{name: jname, index: idx})
		default:
			vt, ok := valueType(ft.Kind())
			if !ok {
				continue // maps, interfaces, slices of numbers...: not exported
			}
			if vt == prometheus.CounterValue && b.gauges[p] {
				vt = prometheus.GaugeValue
			}
			if vt == prometheus.CounterValue && !strings.HasSuffix(name, "_total") {
				name += "_total"
			}
			n := &node{kind: kindValue, field: i, path: p, name: name, vtype: vt, lnames: labels}
			if err := b.add(n, labels); err != nil {
				return nil, err
			}
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// slice builds the node of a slice of structs of element type et.
func (b *builder) slice(et reflect.Type, field int, prefix, path string, labels []string) (*node, error) {
	sl, ok := b.o.Slices[path]
	if !ok {
		return nil, fmt.Errorf("metrics: field %s: a slice of structs needs an entry in Options.Slices", path)
	}
	b.used[path] = true
	if sl.Name == "" {
		return nil, fmt.Errorf("metrics: Options.Slices[%q]: Name is empty", path)
	}
	name := join(prefix, "_", sl.Name)
	if sl.Count {
		n := &node{kind: kindCount, field: field, path: path, name: name, vtype: prometheus.GaugeValue, lnames: labels}
		return n, b.add(n, labels)
	}
	n := &node{kind: kindSlice, field: field, path: path, lnames: labels}
	own := slices.Clone(labels)
	if sl.IndexLabel != "" {
		n.indexLabel = true
		own = append(own, sl.IndexLabel)
		n.own = append(n.own, sl.IndexLabel)
	}
	byName := map[string]int{}
	for i := range et.NumField() {
		f := et.Field(i)
		if j, _ := jsonName(f); f.IsExported() {
			byName[j] = i
		}
	}
	for _, l := range sl.Labels {
		i, ok := byName[l]
		if !ok {
			return nil, fmt.Errorf("metrics: Options.Slices[%q]: no field %q in %v", path, l, et)
		}
		k := et.Field(i).Type.Kind()
		if _, num := valueType(k); !num && k != reflect.String || k == reflect.Bool {
			return nil, fmt.Errorf("metrics: Options.Slices[%q]: label field %q is a %v, want a number or string", path, l, k)
		}
		n.labels = append(n.labels, labelField{name: l, field: i, kind: k})
		own = append(own, l)
		n.own = append(n.own, l)
		b.skip[path+"."+l] = true
	}
	for i, l := range own {
		if !model.LegacyValidation.IsValidLabelName(l) {
			return nil, fmt.Errorf("metrics: Options.Slices[%q]: %q is not a valid label name", path, l)
		}
		if slices.Contains(own[:i], l) {
			return nil, fmt.Errorf("metrics: Options.Slices[%q]: label %q is already used by an enclosing slice", path, l)
		}
	}
	before := len(b.fq)
	ch, err := b.section(et, name, path, own)
	if err != nil {
		return nil, err
	}
	n.children = ch
	n.below = slices.Clone(b.fq[before:])
	return n, nil
}

// add registers a value or count node's metric.
func (b *builder) add(n *node, labels []string) error {
	return b.addDesc(n, helpFor(b.o.Help, n.path), labels)
}

func (b *builder) addDesc(n *node, help string, labels []string) error {
	if !model.LegacyValidation.IsValidMetricName(n.name) {
		return fmt.Errorf("metrics: field %s: %q is not a valid metric name", n.path, n.name)
	}
	if o := b.names[n.name]; o != nil {
		return fmt.Errorf("metrics: fields %s and %s both map to %s; rename one with Options.Names", o.path, n.path, n.name)
	}
	b.names[n.name] = n
	n.desc = prometheus.NewDesc(n.name, help, labels, nil)
	b.descs = append(b.descs, n.desc)
	b.fq = append(b.fq, n.name)
	return nil
}

// helpFor is the HELP text of the field at path: its own text or its
// nearest section's, then the JSON path it mirrors.
func helpFor(help map[string]string, path string) string {
	return join(nearestHelp(help, path), "; ", "summary field "+path) + "."
}

// nearestHelp is Options.Help for path or its nearest ancestor, without a
// final full stop.
func nearestHelp(help map[string]string, path string) string {
	for p := path; ; {
		if t, ok := help[p]; ok {
			return strings.TrimSuffix(t, ".")
		}
		if p == "" {
			return ""
		}
		i := strings.LastIndexByte(p, '.')
		p = p[:max(i, 0)]
	}
}

// jsonName returns the name encoding/json uses for f, "-" for a field it
// skips, and whether f is an embedded struct whose fields are flattened
// into the parent.
func jsonName(f reflect.StructField) (name string, flatten bool) {
	tag := f.Tag.Get("json")
	name, _, _ = strings.Cut(tag, ",")
	if tag == "-" {
		return "-", false
	}
	if name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
		return "", true
	}
	if name == "" {
		name = snake(f.Name)
	}
	return name, false
}

// snake turns a Go name into snake_case: RxFillRingEmpty → rx_fill_ring_empty,
// TTLZero → ttl_zero.
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && (unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1]))
			nextLower := i > 0 && i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])
			if prevLower || nextLower {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

func join(a, sep, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + sep + b
}

// valueType says how a field of kind k is exported, if it is.
func valueType(k reflect.Kind) (prometheus.ValueType, bool) {
	switch k {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return prometheus.CounterValue, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Float32, reflect.Float64, reflect.Bool:
		return prometheus.GaugeValue, true
	}
	return 0, false
}

// Names returns the fully qualified names of every metric the schema
// exports, sorted.
func (s *Schema[T]) Names() []string {
	out := slices.Clone(s.fq)
	slices.Sort(out)
	return out
}
