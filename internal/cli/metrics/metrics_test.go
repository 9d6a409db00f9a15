package metrics

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

type base struct {
	Host   string  `json:"host"`
	Up     float64 `json:"up_s"`
	Frames uint64  `json:"frames"`
}

type ledger struct {
	Total  uint64 `json:"total"`
	Free   uint64 `json:"free"`
	Errors uint64 `json:"errors"`
	Temp   int64  `json:"temp"`
}

type conn struct {
	Remote string `json:"remote"`
	Bytes  uint64 `json:"bytes"`
}

type port struct {
	Port  uint16  `json:"port"`
	Hits  uint64  `json:"hits"`
	Name  string  `json:"name"` // not a label: in t_port_info
	Conns []conn  `json:"conns"`
	Led   *ledger `json:"ledger,omitempty"`
}

type rule struct {
	Rule    string
	Verdict string
	Packets uint64
}

type snap struct {
	base
	Ledger  ledger            `json:"ledger"`
	Opt     *ledger           `json:"opt,omitempty"`
	Ports   []port            `json:"ports"`
	Rules   []rule            `json:"rules,omitempty"`
	OK      bool              `json:"ok"`
	Hidden  uint64            `json:"-"`
	Skipped uint64            `json:"skipped"`
	Map     map[string]uint64 `json:"map"`
}

var opts = Options{
	Namespace: "t",
	Slices: map[string]Slice{
		"ports":       {Name: "port", Labels: []string{"port"}},
		"ports.conns": {Name: "connections", Count: true},
		"rules":       {Name: "rule", Labels: []string{"rule", "verdict"}, IndexLabel: "index"},
	},
	Gauges: []string{"ledger.total", "ledger.free", "opt.total", "opt.free"},
	Names:  map[string]string{"up_s": "up_seconds"},
	Skip:   []string{"skipped"},
	Help: map[string]string{
		"":            "Test snapshot",
		"ledger":      "Buffer ledger",
		"ledger.free": "Buffers free.",
	},
}

func testSnap() snap {
	return snap{
		base:   base{Host: "dut", Up: 1.5, Frames: 1 << 40},
		Ledger: ledger{Total: 4096, Free: 4000, Errors: 3, Temp: -7},
		Ports: []port{
			{Port: 9001, Hits: 5, Name: "b", Conns: make([]conn, 3)},
			{Port: 80, Hits: 7, Led: &ledger{Total: 1, Free: 1}},
		},
		Rules: []rule{
			{Rule: "drop udp dport 9", Verdict: "drop", Packets: 11},
			{Rule: "drop udp dport 9", Verdict: "drop", Packets: 12}, // same text: the index keeps them apart
		},
		OK:      true,
		Hidden:  99,
		Skipped: 98,
		Map:     map[string]uint64{"x": 1},
	}
}

// scrape gathers c through a pedantic registry (which checks the metrics
// against Describe) and renders the text format.
func scrape(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestText(t *testing.T) {
	s, err := NewSchema[snap](opts)
	if err != nil {
		t.Fatal(err)
	}
	text := scrape(t, s.Collector(testSnap))
	for _, want := range []string{
		"# TYPE t_frames_total counter\nt_frames_total 1.099511627776e+12\n",
		"# HELP t_info Test snapshot; the value is 1, the labels are the strings of the summary's top level.\n# TYPE t_info gauge\n",
		`t_port_info{name="b",port="9001"} 1`,
		`t_port_info{name="",port="80"} 1`,
		`t_info{host="dut"} 1`,
		"# TYPE t_up_seconds gauge\nt_up_seconds 1.5\n",
		"# HELP t_ledger_free Buffers free; summary field ledger.free.\n# TYPE t_ledger_free gauge\nt_ledger_free 4000\n",
		"# HELP t_ledger_errors_total Buffer ledger; summary field ledger.errors.\n# TYPE t_ledger_errors_total counter\n",
		"# TYPE t_ledger_temp gauge\nt_ledger_temp -7\n",
		`t_port_hits_total{port="80"} 7`,
		`t_port_hits_total{port="9001"} 5`,
		`t_port_connections{port="9001"} 3`,
		`t_port_connections{port="80"} 0`,
		`t_port_ledger_total{port="80"} 1`,
		`t_rule_packets_total{index="0",rule="drop udp dport 9",verdict="drop"} 11`,
		`t_rule_packets_total{index="1",rule="drop udp dport 9",verdict="drop"} 12`,
		"t_ok 1\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	for _, bad := range []string{"t_opt_", "skipped", "hidden", "t_map", "t_port_port", "t_rule_rule", `t_port_ledger_total{port="9001"}`, "remote"} {
		if strings.Contains(text, bad) {
			t.Errorf("%q should not be exported:\n%s", bad, text)
		}
	}
	if !strings.Contains(strings.Join(s.Names(), " "), "t_opt_free") {
		t.Errorf("Names lacks the absent section's metrics: %v", s.Names())
	}
}

func TestRoundTrip(t *testing.T) {
	s, err := NewSchema[snap](opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   snap
	}{
		{"full", testSnap()},
		{"zero", snap{}},
		{"optional", func() snap { v := testSnap(); v.Opt = &ledger{Total: 2, Free: 1, Errors: 5}; v.Rules = nil; return v }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fams, err := Parse(strings.NewReader(scrape(t, s.Collector(func() snap { return tc.in }))))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Decode(fams)
			if err != nil {
				t.Fatal(err)
			}
			// What does not travel: connection details (only their
			// number), skipped fields.
			want := tc.in
			want.Hidden, want.Skipped, want.Map = 0, 0, nil
			want.Ports = nil
			for _, p := range tc.in.Ports {
				if p.Conns != nil {
					p.Conns = make([]conn, len(p.Conns))
				}
				want.Ports = append(want.Ports, p)
			}
			// Elements come back ordered by their labels.
			if len(want.Ports) == 2 && want.Ports[0].Port > want.Ports[1].Port {
				want.Ports[0], want.Ports[1] = want.Ports[1], want.Ports[0]
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(snap{})); diff != "" {
				t.Fatalf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchemaErrors(t *testing.T) {
	type dup struct {
		A uint64 `json:"x_total"`
		B uint64 `json:"x"`
	}
	type badLabel struct {
		L []struct {
			F []int `json:"f"`
		} `json:"l"`
	}
	for _, tc := range []struct {
		name string
		new  func() error
		want string
	}{
		{"slice not described", func() error {
			o := opts
			o.Slices = map[string]Slice{"ports": {Name: "port"}, "rules": {Name: "rule"}}
			_, err := NewSchema[snap](o)
			return err
		}, "ports.conns: a slice of structs needs an entry"},
		{"unknown slice", func() error {
			o := opts
			o.Slices = map[string]Slice{"nope": {Name: "n"}}
			for k, v := range opts.Slices {
				o.Slices[k] = v
			}
			_, err := NewSchema[snap](o)
			return err
		}, `"nope" is not a slice`},
		{"name clash", func() error { _, err := NewSchema[dup](Options{Namespace: "t"}); return err }, "both map to t_x_total"},
		{"label of a bad kind", func() error {
			_, err := NewSchema[badLabel](Options{Namespace: "t", Slices: map[string]Slice{"l": {Name: "l", Labels: []string{"f"}}}})
			return err
		}, "want a number or string"},
		{"label missing", func() error {
			o := opts
			o.Slices = map[string]Slice{"ports": {Name: "port", Labels: []string{"nope"}}}
			_, err := NewSchema[snap](o)
			return err
		}, `no field "nope"`},
		{"gauge of no field", func() error {
			o := opts
			o.Gauges = []string{"ledger.nope"}
			_, err := NewSchema[snap](o)
			return err
		}, `Options.Gauges: no field "ledger.nope"`},
		{"bad namespace", func() error { _, err := NewSchema[snap](Options{Namespace: "a-b"}); return err }, "not a valid metric name"},
		{"not a struct", func() error { _, err := NewSchema[int](Options{Namespace: "t"}); return err }, "is not a struct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.new()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"Seen":            "seen",
		"RxFillRingEmpty": "rx_fill_ring_empty",
		"TTLZero":         "ttl_zero",
		"BadIHL":          "bad_ihl",
		"A":               "a",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrentScrapes: scrapes run concurrently with the writer the
// snapshot function reads from, and each sees one consistent snapshot
// (run with -race).
func TestConcurrentScrapes(t *testing.T) {
	s, err := NewSchema[snap](opts)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var cur snap
	var calls atomic.Int64
	c := s.Collector(func() snap {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		v := cur
		v.Ports = append([]port(nil), cur.Ports...)
		return v
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	stop := make(chan struct{})
	var writer, scrapers sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			cur.Frames = i
			cur.Ledger.Total, cur.Ledger.Free = i, i // always equal in one snapshot
			cur.Ports = append(cur.Ports[:0], port{Port: 1, Hits: i})
			mu.Unlock()
		}
	}()
	for range 4 {
		scrapers.Add(1)
		go func() {
			defer scrapers.Done()
			for range 50 {
				fams, err := reg.Gather()
				if err != nil {
					t.Error(err)
					return
				}
				var total, free float64
				for _, f := range fams {
					switch f.GetName() {
					case "t_ledger_total":
						total = f.GetMetric()[0].GetGauge().GetValue()
					case "t_ledger_free":
						free = f.GetMetric()[0].GetGauge().GetValue()
					}
				}
				if total != free {
					t.Errorf("one scrape mixed two snapshots: total %v, free %v", total, free)
					return
				}
			}
		}()
	}
	scrapers.Wait()
	close(stop)
	writer.Wait()
	if calls.Load() != 200 {
		t.Fatalf("%d snapshot calls for 200 scrapes, want one each", calls.Load())
	}
}
