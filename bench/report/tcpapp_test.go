package report

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// httpRow is an HTTP row whose reps ran wrk at the given rates and ab at
// a quarter of them.
func httpRow(name string, rates ...float64) Scenario {
	s := Scenario{Name: name, Kind: KindHTTP, Proto: ProtoTCP, Status: StatusOK, FrameLen: 1514}
	for _, v := range rates {
		s.HTTP = append(s.HTTP, HTTPRep{
			Wrk: HTTPLoad{Command: "wrk -t1 -c200 -d8s --latency http://10.99.0.2:9000/", Requests: uint64(v * 8), ElapsedNS: 8e9, ReqPerSec: v,
				LatencyP99NS: 4e6, ServerCPUNS: int64(v * 8 * 20e3), SoftirqNS: int64(v * 8 * 5e3)},
			AB: HTTPLoad{Command: "ab -n 20000 -c 100 http://10.99.0.2:9000/", Requests: 20000, ElapsedNS: int64(20000 / (v / 4) * 1e9), ReqPerSec: v / 4,
				LatencyP99NS: 9e6, ServerCPUNS: 20000 * 80e3},
		})
	}
	return s
}

// memRep is a conn-memory rep of 10,000 connections whose rxpath server
// took rx and tw bytes each, and whose kernel server's slab took kIdle and
// kTW bytes each over a client that took 3,000 bytes per connection
// established and nothing in TIME_WAIT.
func memRep(rx, tw, kIdle, kTW float64) MemRep {
	const n = 10_000
	client := map[string]int64{"TCP": 2368 * n, "sock_inode_cache": 632 * n}
	return MemRep{
		Conns: n, RxpathHeapBase: 5 << 20, RxpathHeapEstab: 5<<20 + uint64(rx*n), RxpathHeapTimeWait: 5<<20 + uint64(tw*n), RxpathTimeWaits: n,
		ClientSlabEstab: client, ClientSlabTimeWait: map[string]int64{"TCP": 0},
		KernelSlabEstab:    map[string]int64{"TCP": 2368 * n, "sock_inode_cache": 632 * n, "filp": int64(kIdle * n)},
		KernelSlabTimeWait: map[string]int64{"tw_sock_TCP": int64(kTW * n)},
		KernelTimeWaits:    n,
	}
}

func appRun(mem []MemRep) *Run {
	r := &Run{Scenarios: []Scenario{
		httpRow(HTTPRxpathName, 70e3, 80e3, 75e3),
		httpRow(HTTPKernelName, 90e3, 100e3, 95e3),
		{Name: ConnMemoryName, Kind: KindConnMemory, Proto: ProtoTCP, Status: StatusOK, Mem: mem},
	}}
	r.Finalize()
	return r
}

func TestAppFigures(t *testing.T) {
	r := appRun([]MemRep{memRep(1500, 200, 3000, 256), memRep(1700, 180, 3100, 256), memRep(1600, 190, 2900, 256)})
	h := r.Find(HTTPRxpathName).Summary
	if h.KeepAliveRPS.Median != 75e3 || h.ConnectRPS.Median != 75e3/4 || h.KeepAliveP99MS.Median != 4 || h.ConnectP99MS.Median != 9 {
		t.Errorf("http-rxpath: wrk %+v p99 %+v, ab %+v p99 %+v", h.KeepAliveRPS, h.KeepAliveP99MS, h.ConnectRPS, h.ConnectP99MS)
	}
	if math.Abs(h.KeepAliveCPUUS.Median-25) > 1e-9 || math.Abs(h.ConnectCPUUS.Median-80) > 1e-9 {
		t.Errorf("CPU per request: wrk %+v, ab %+v µs; want 25 and 80", h.KeepAliveCPUUS, h.ConnectCPUUS)
	}
	if math.Abs(float64(h.VsKernel)-75.0/95) > 1e-9 || math.Abs(float64(h.VsKernelConnect)-75.0/95) > 1e-9 {
		t.Errorf("ratios to http-kernel: %v, %v", h.VsKernel, h.VsKernelConnect)
	}
	m := r.Find(ConnMemoryName).Summary
	want := []float64{1600, 3000, 190, 256}
	got := []float64{m.IdleBytesRxpath.Median, m.IdleBytesKernel.Median, m.TimeWaitBytesRxpath.Median, m.TimeWaitBytesKernel.Median}
	if !cmp.Equal(want, got, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-6 })) {
		t.Errorf("conn-memory medians (idle rxpath, kernel, TIME_WAIT rxpath, kernel) = %v, want %v", got, want)
	}
	// A rep whose kernel run is missing gives no kernel figure.
	if v := (MemRep{Conns: 10, RxpathHeapEstab: 100}).KernelIdleBytes(); !math.IsNaN(v) {
		t.Errorf("kernel bytes without a kernel run = %v", v)
	}
}

func TestAppGoals(t *testing.T) {
	for _, tc := range []struct {
		name string
		mem  []MemRep
		want map[string]GoalStatus
	}{
		{"under both", []MemRep{memRep(1600, 190, 3000, 256)}, map[string]GoalStatus{
			"http-keepalive-vs-kernel": GoalMiss, "http-connect-vs-kernel": GoalMiss,
			"conn-idle-bytes": GoalPass, "timewait-bytes": GoalPass,
		}},
		// Under the fixed threshold but above the kernel: a miss.
		{"above the kernel", []MemRep{memRep(1600, 250, 1500, 200)}, map[string]GoalStatus{
			"http-keepalive-vs-kernel": GoalMiss, "http-connect-vs-kernel": GoalMiss,
			"conn-idle-bytes": GoalMiss, "timewait-bytes": GoalMiss,
		}},
		// Above the fixed threshold, under the kernel: a miss.
		{"above the threshold", []MemRep{memRep(5000, 300, 6000, 400)}, map[string]GoalStatus{
			"http-keepalive-vs-kernel": GoalMiss, "http-connect-vs-kernel": GoalMiss,
			"conn-idle-bytes": GoalMiss, "timewait-bytes": GoalMiss,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, detail := goalMap(appRun(tc.mem))
			for id, w := range tc.want {
				if got[id] != w {
					t.Errorf("%s: %s, want %s (%s)", id, got[id], w, detail[id])
				}
			}
			if !strings.Contains(detail["conn-idle-bytes"], "1 reps of 10000 connections") {
				t.Errorf("conn-idle-bytes detail = %q", detail["conn-idle-bytes"])
			}
		})
	}
	// The rxpath rows faster than the kernel's: both HTTP goals pass.
	r := &Run{Scenarios: []Scenario{httpRow(HTTPRxpathName, 100e3), httpRow(HTTPKernelName, 90e3)}}
	r.Finalize()
	got, detail := goalMap(r)
	if got["http-keepalive-vs-kernel"] != GoalPass || got["http-connect-vs-kernel"] != GoalPass {
		t.Errorf("HTTP goals: %v", got)
	}
	if !strings.Contains(detail["http-keepalive-vs-kernel"], "median 100000 req/s") || got["conn-idle-bytes"] != GoalNotRun {
		t.Errorf("details: %q; conn-idle-bytes %s", detail["http-keepalive-vs-kernel"], got["conn-idle-bytes"])
	}
	// A failed HTTP row: not run, with its reason.
	r.Scenarios[1].Status, r.Scenarios[1].Reason = StatusFailed, "wrk not found"
	r.Finalize()
	got, detail = goalMap(r)
	if got["http-connect-vs-kernel"] != GoalNotRun || !strings.Contains(detail["http-connect-vs-kernel"], "wrk not found") {
		t.Errorf("http-connect-vs-kernel with a failed row: %s %q", got["http-connect-vs-kernel"], detail["http-connect-vs-kernel"])
	}
}

func TestAppTableAndJSON(t *testing.T) {
	r := appRun([]MemRep{memRep(1600, 190, 3000, 256)})
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`\nHTTP: net/http, the same handler`,
		`\nhttp-rxpath +75000 \[70000 – 80000\] +4\.00 +25\.0 +0\.79 +18750 \[17500 – 20000\] +9 +80\.0 +0\.79\n`,
		`\nhttp-kernel +95000 .* 1\.00\n`,
		`\nwrk: wrk -t1 -c200 -d8s --latency http://10\.99\.0\.2:9000/; ab: ab -n 20000 -c 100`,
		`\nconn-memory +10000 +1600 \[1600 – 1600\] +3000 \[3000 – 3000\] +190 \[190 – 190\] +256 \[256 – 256\]`,
		`\n  pass  rxpath bytes per idle ESTABLISHED connection <= 2048 and <= the kernel's +1\.6e\+03 `,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("table does not match %q:\n%s", want, out)
		}
	}
	var j bytes.Buffer
	if err := WriteJSON(&j, r); err != nil {
		t.Fatal(err)
	}
	var back Run
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Find(ConnMemoryName); len(got.Mem) != 1 || got.Mem[0].KernelSlabEstab["filp"] != 3000*10_000 {
		t.Errorf("conn-memory lost its reps in the round trip: %+v", got.Mem)
	}
	if got := back.Find(HTTPRxpathName); len(got.HTTP) != 3 || got.HTTP[0].AB.Requests != 20000 || !got.Summary.VsKernelConnect.Valid() {
		t.Errorf("http-rxpath lost its reps in the round trip: %+v", got)
	}
}

// The HTTP rows alone make a chart; the conn-memory row has no bars.
func TestAppPlot(t *testing.T) {
	var b bytes.Buffer
	if err := WritePlot(&b, appRun([]MemRep{memRep(1600, 190, 3000, 256)}), "svg"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP keep-alive (wrk)", "http-kernel"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("chart has no %q", want)
		}
	}
}
