package soak

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image/png"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func rssSeries(values ...float64) []Sample {
	s := make([]Sample, len(values))
	for i, v := range values {
		s[i] = Sample{At: time.Duration(i) * 10 * time.Second, RSS: uint64(v)}
	}
	return s
}

func rss(s Sample) float64 { return float64(s.RSS) }

func TestFlat(t *testing.T) {
	const mib = 1 << 20
	slack := Slack{Frac: 0.10, Abs: 8 * mib}
	for _, tc := range []struct {
		name   string
		values []float64
		warmup time.Duration
		ok     bool
		first  float64
		last   float64
	}{
		// The warm-up (samples at 0 and 10 s) may climb steeply.
		{"flat after warm-up", []float64{1 * mib, 20 * mib, 30 * mib, 31 * mib, 30 * mib, 30 * mib, 32 * mib, 30 * mib, 31 * mib}, 20 * time.Second, true, 31 * mib, 31 * mib},
		{"sawtooth", []float64{30 * mib, 40 * mib, 30 * mib, 40 * mib, 30 * mib, 40 * mib}, 0, true, 40 * mib, 40 * mib},
		{"within the absolute slack", []float64{10 * mib, 10 * mib, 12 * mib, 14 * mib, 16 * mib, 17 * mib}, 0, true, 10 * mib, 17 * mib},
		{"steady growth", []float64{10 * mib, 14 * mib, 18 * mib, 22 * mib, 26 * mib, 30 * mib}, 0, false, 14 * mib, 30 * mib},
		// Above 80 MiB the 10% exceeds 8 MiB.
		{"within the relative slack", []float64{100 * mib, 100 * mib, 105 * mib, 109 * mib}, 0, true, 100 * mib, 109 * mib},
		{"beyond the relative slack", []float64{100 * mib, 100 * mib, 105 * mib, 111 * mib}, 0, false, 100 * mib, 111 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Flat("rss", rssSeries(tc.values...), tc.warmup, rss, slack, slack)
			if err != nil {
				t.Fatal(err)
			}
			if f.OK() != tc.ok || f.FirstPeak != tc.first || f.LastPeak != tc.last {
				t.Fatalf("%v; want ok %v, peaks %.0f and %.0f", f, tc.ok, tc.first, tc.last)
			}
		})
	}
	if _, err := Flat("rss", rssSeries(1, 2, 3, 4), 25*time.Second, rss, slack, slack); err == nil {
		t.Fatal("two samples after the warm-up were enough to judge")
	}
}

// TestFlatTrend: over a long span a slow creep fails on its trend though
// its last peak clears the slack; a sawtooth with spikes passes; a short
// span is not judged by its trend.
func TestFlatTrend(t *testing.T) {
	const mib = 1 << 20
	slack, rise := Slack{Frac: 0.10, Abs: 8 * mib}, Slack{Frac: 0.05, Abs: 2 * mib}
	series := func(n int, f func(i int) float64) []Sample {
		s := make([]Sample, n)
		for i := range s {
			s[i] = Sample{At: time.Duration(i) * 10 * time.Second, RSS: uint64(f(i))}
		}
		return s
	}
	for _, tc := range []struct {
		name       string
		samples    []Sample
		ok, judged bool
		trend      float64 // per minute, to within 1%
	}{
		// 0.4 MiB a minute for 25 minutes: the last third's peak is 6.7
		// MiB over the first's, within 8 MiB; the 10 MiB rise is not.
		{"slow creep", series(151, func(i int) float64 { return 40*mib + float64(i)*mib/15 }), false, true, 0.4 * mib},
		// The GC's sawtooth (10 MiB over 12 samples), with two spikes.
		{"sawtooth with spikes", series(151, func(i int) float64 {
			if i == 20 || i == 140 {
				return 70 * mib
			}
			return 20*mib + float64(i%12)*mib
		}), true, true, 0},
		{"short creep", series(30, func(i int) float64 { return 40*mib + float64(i)*mib/15 }), true, false, 0.4 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Flat("rss", tc.samples, 0, rss, slack, rise)
			if err != nil {
				t.Fatal(err)
			}
			if f.OK() != tc.ok || f.RiseJudged != tc.judged || math.Abs(f.Trend-tc.trend) > 0.01*mib+0.01*math.Abs(tc.trend) {
				t.Fatalf("%v; want ok %v, judged %v, trend %.0f", f, tc.ok, tc.judged, tc.trend)
			}
		})
	}
}

func TestAccountUDP(t *testing.T) {
	for _, tc := range []struct {
		name                               string
		sent, recv, first, last, gaps, ooo uint64
		wantMissing                        uint64
		wantBalanced                       bool
	}{
		{"all in order", 1000, 1000, 0, 999, 0, 0, 0, true},
		{"holes", 1000, 990, 0, 999, 10, 0, 10, true},
		{"lost head and tail", 1000, 990, 3, 992, 0, 0, 10, true},
		{"late arrivals fill holes", 1000, 1000, 0, 999, 4, 4, 0, true},
		{"nothing arrived", 1000, 0, 0, 0, 0, 0, 1000, true},
		{"a number never sent", 1000, 1000, 0, 5000, 4000, 0, 0, false},
		{"more than was sent", 1000, 1001, 0, 999, 0, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := AccountUDP(tc.sent, tc.recv, tc.first, tc.last, tc.gaps, tc.ooo)
			if a.Balanced != tc.wantBalanced || (a.Balanced && a.Missing != tc.wantMissing) {
				t.Fatalf("%v; want missing %d, balanced %v", a, tc.wantMissing, tc.wantBalanced)
			}
		})
	}
}

func TestMatchStreams(t *testing.T) {
	sent := []Stream{{"10.99.0.1:40000", 100, "aa"}, {"10.99.0.1:40001", 200, "bb"}, {"10.99.0.1:40000", 300, "cc"}}
	good := []SinkConn{{"10.99.0.1:40000", 300, "cc", true}, {"10.99.0.1:40000", 100, "aa", true}, {"10.99.0.1:40001", 200, "bb", true}}
	if bad := MatchStreams(sent, good); len(bad) != 0 {
		t.Fatalf("exact streams rejected: %q", bad)
	}
	for _, tc := range []struct {
		name string
		got  []SinkConn
	}{
		{"short", []SinkConn{good[0], good[1], {"10.99.0.1:40001", 199, "bb", true}}},
		{"corrupt", []SinkConn{good[0], good[1], {"10.99.0.1:40001", 200, "bx", true}}},
		{"incomplete", []SinkConn{good[0], good[1], {"10.99.0.1:40001", 200, "bb", false}}},
		{"missing", good[:2]},
		{"extra", append(good[:3:3], SinkConn{"10.99.0.1:40002", 0, "e3", true})},
		{"twice", append(good[:3:3], good[2])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bad := MatchStreams(sent, tc.got); len(bad) == 0 {
				t.Fatal("accepted")
			}
		})
	}
}

// metricsText is a scrape with every metric a Sample needs, one queue and
// one sink each: the values in set, zero for the others.
func metricsText(set map[string]float64) string {
	names := map[string]bool{"go_memstats_heap_inuse_bytes": true, "go_goroutines": true, "process_open_fds": true,
		"rxpath_queue_driver_buffers_free": true, "rxpath_queue_driver_buffers_kernel": true, "rxpath_queue_driver_buffers_held": true,
		"rxpath_queue_driver_buffers_tx": true, "rxpath_queue_driver_buffers_total": true}
	for _, c := range Counters {
		for _, m := range c.Metrics {
			names[m] = true
		}
	}
	var b strings.Builder
	for n := range names {
		label := ""
		if strings.HasPrefix(n, "rxpath_queue_") {
			label = `{queue="0"}`
		}
		fmt.Fprintf(&b, "# TYPE %s gauge\n%s%s %s\n", n, n, label, strconv.FormatFloat(set[n], 'g', -1, 64))
	}
	return b.String()
}

func TestNewSample(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(metricsText(map[string]float64{
		"go_memstats_heap_inuse_bytes": 9633792, "go_goroutines": 12, "process_open_fds": 14,
		"rxpath_queue_driver_buffers_free": 2000, "rxpath_queue_driver_buffers_kernel": 2048,
		"rxpath_queue_driver_buffers_held": 40, "rxpath_queue_driver_buffers_tx": 8, "rxpath_queue_driver_buffers_total": 4096,
		"rxpath_rx_frames_total": 12345, "rxpath_stack_too_short_total": 1, "rxpath_stack_unknown_type_total": 2,
		"rxpath_stack_arp_malformed_total": 4,
	})))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSample(5*time.Second, 32<<20, m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Ledger{Free: 2000, Kernel: 2048, Held: 40, Tx: 8, Total: 4096}, s.Ledger); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}
	if !s.Ledger.Balanced() {
		t.Errorf("%v does not balance", s.Ledger)
	}
	if s.Heap != 9633792 || s.Goroutines != 12 || s.FDs != 14 || s.RSS != 32<<20 {
		t.Errorf("sample %+v", s)
	}
	for col, want := range map[string]float64{"rx_frames": 12345, "eth_malformed": 7, "tcp_sink_bytes": 0} {
		if got, ok := s.Counter(col); !ok || got != want {
			t.Errorf("column %s = %v, %v; want %v", col, got, ok, want)
		}
	}
	torn := s.Ledger
	torn.Held -= 1
	if torn.Balanced() {
		t.Errorf("%v balances", torn)
	}

	// A renamed metric fails the sample instead of reading as zero.
	delete(m, "rxpath_tcp_syncookies_sent_total")
	if _, err := NewSample(0, 0, m); err == nil || !strings.Contains(err.Error(), "rxpath_tcp_syncookies_sent_total") {
		t.Fatalf("missing metric: %v", err)
	}
}

func TestCSVAndPlot(t *testing.T) {
	var samples []Sample
	for i := range 30 {
		s := Sample{At: time.Duration(i) * 5 * time.Second, RSS: uint64(30+i%3) << 20, Heap: uint64(8+i%4) << 20,
			Ledger: Ledger{Free: 2048 - uint64(i%5), Kernel: 2048, Held: uint64(i % 5), Total: 4096}, Counters: make([]float64, len(Counters))}
		s.Counters[0] = float64(1000 * i)
		samples = append(samples, s)
	}
	var buf bytes.Buffer
	w, err := NewCSVWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(samples)+1 || !cmp.Equal(rows[0], CSVHeader()) {
		t.Fatalf("%d rows, header %q", len(rows), rows[0])
	}
	if got := rows[3]; got[0] != "10.0" || got[1] != strconv.Itoa(32<<20) || got[len(got)-len(Counters)] != "2000" {
		t.Fatalf("row 3: %q", got)
	}

	buf.Reset()
	if err := WritePlot(&buf, samples, 20*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 900 {
		t.Fatalf("plot is %v", b)
	}
	if err := WritePlot(&buf, nil, 0, "empty"); err == nil {
		t.Fatal("plotted no samples")
	}
}

func TestReadRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("no /proc on GOOS=%s", runtime.GOOS)
	}
	v, err := ReadRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if v < 1<<20 || v > 1<<40 {
		t.Fatalf("this test's RSS is %d bytes", v)
	}
}
