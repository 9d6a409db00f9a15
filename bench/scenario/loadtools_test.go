package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/bench/report"
)

func openTestdata(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The testdata files are wrk 4.1 and ab 2.3 as Debian packages them, run
// against a net/http server (and, for the socket errors, a server that
// closes every other connection without answering).
func TestParseWrk(t *testing.T) {
	us, ms := int64(time.Microsecond), int64(time.Millisecond)
	for _, tc := range []struct {
		file string
		want report.HTTPLoad
	}{
		{"wrk-latency.txt", report.HTTPLoad{Requests: 64792, ElapsedNS: int64(time.Second), ReqPerSec: 64656.09,
			LatencyMeanNS: ms, LatencyP50NS: 590 * us, LatencyP99NS: 6350 * us}},
		{"wrk-non2xx.txt", report.HTTPLoad{Requests: 64184, ElapsedNS: 1100 * ms, ReqPerSec: 58335.36,
			LatencyMeanNS: 614330, LatencyP50NS: 271 * us, LatencyP99NS: 4500 * us, Non2xx: 64184}},
		{"wrk-socket-errors.txt", report.HTTPLoad{Requests: 55461, ElapsedNS: 1120 * ms, ReqPerSec: 49674.52,
			LatencyMeanNS: 5540 * us, LatencyP50NS: 214 * us, LatencyP99NS: 69460 * us, Errors: 19}},
		// Without --latency: no percentiles.
		{"wrk-no-latency.txt", report.HTTPLoad{Requests: 73587, ElapsedNS: 1100 * ms, ReqPerSec: 66829.23, LatencyMeanNS: 910 * us}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseWrk(openTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, nsClose); diff != "" {
				t.Errorf("parseWrk (-want +got):\n%s", diff)
			}
		})
	}
}

// nsClose compares times parsed from decimal text to within a
// nanosecond of float rounding.
var nsClose = cmp.Comparer(func(a, b int64) bool { return a-b <= 1 && b-a <= 1 })

func TestParseAB(t *testing.T) {
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		file string
		want report.HTTPLoad
	}{
		{"ab.txt", report.HTTPLoad{Requests: 2000, ElapsedNS: 154 * ms, ReqPerSec: 12999.34,
			LatencyMeanNS: 7693000, LatencyP50NS: 7 * ms, LatencyP99NS: 14 * ms}},
		{"ab-non2xx.txt", report.HTTPLoad{Requests: 500, ElapsedNS: 46 * ms, ReqPerSec: 10959.38,
			LatencyMeanNS: 4562000, LatencyP50NS: 5 * ms, LatencyP99NS: 7 * ms, Non2xx: 500}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := parseAB(openTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, nsClose); diff != "" {
				t.Errorf("parseAB (-want +got):\n%s", diff)
			}
		})
	}
}

// A run that could not connect prints no figures: an error, not zeros.
func TestParseLoadFailures(t *testing.T) {
	if _, err := parseAB(openTestdata(t, "ab-refused.txt")); err == nil {
		t.Error("parseAB accepted ab's output for a refused connection")
	}
	for _, in := range []string{"", "unable to connect to 10.99.0.2:80 Connection refused\n"} {
		if _, err := parseWrk(strings.NewReader(in)); err == nil {
			t.Errorf("parseWrk(%q) accepted", in)
		}
	}
	if _, err := parseWrk(strings.NewReader("  64792 requests in 1.00fortnights, 9.58MB read\nRequests/sec:  64656.09\n")); err == nil {
		t.Error("parseWrk accepted a time with an unknown unit")
	}
}

func TestParseSlabinfo(t *testing.T) {
	got, err := parseSlabinfo(openTestdata(t, "slabinfo-6.18.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 100 {
		t.Errorf("%d caches, want the whole file's", len(got))
	}
	want := map[string]slabCache{
		"TCP":              {ActiveObjs: 66, NumObjs: 117, ObjSize: 2368},
		"tw_sock_TCP":      {ActiveObjs: 192, NumObjs: 256, ObjSize: 256},
		"request_sock_TCP": {ActiveObjs: 12, NumObjs: 12, ObjSize: 320},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, got[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if b := got["TCP"].ActiveBytes(); b != 66*2368 {
		t.Errorf("TCP active bytes %d", b)
	}
	for _, bad := range []string{"", "slabinfo - version: 1.1\n", "slabinfo - version: 2.1\nTCP 1 2\n", "slabinfo - version: 2.1\nTCP x 2 3 4 5\n"} {
		if _, err := parseSlabinfo(strings.NewReader(bad)); err == nil {
			t.Errorf("parseSlabinfo(%q) accepted", bad)
		}
	}
}

func TestSlabDelta(t *testing.T) {
	a := map[string]slabCache{"TCP": {ActiveObjs: 10, ObjSize: 2368}, "filp": {ActiveObjs: 100, ObjSize: 192}}
	b := map[string]slabCache{"TCP": {ActiveObjs: 15, ObjSize: 2368}, "filp": {ActiveObjs: 90, ObjSize: 192}, "tw_sock_TCP": {ActiveObjs: 4, ObjSize: 256}}
	got := slabDelta(a, b, []string{"TCP", "filp", "tw_sock_TCP", "request_sock_TCP"})
	want := map[string]int64{"TCP": 5 * 2368, "filp": -10 * 192, "tw_sock_TCP": 4 * 256}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slabDelta (-want +got):\n%s", diff)
	}
}
