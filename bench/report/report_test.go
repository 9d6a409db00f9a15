package report

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want Stat
	}{
		{"empty", nil, Stat{}},
		{"one", []float64{3}, Stat{Min: 3, Median: 3, Max: 3, N: 1}},
		{"odd", []float64{5, 1, 3}, Stat{Min: 1, Median: 3, Max: 5, N: 3}},
		{"even", []float64{4, 1, 3, 2}, Stat{Min: 1, Median: 2.5, Max: 4, N: 4}},
		{"nan ignored", []float64{math.NaN(), 2, math.NaN(), 8}, Stat{Min: 2, Median: 5, Max: 8, N: 2}},
		{"all nan", []float64{math.NaN()}, Stat{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if diff := cmp.Diff(tc.want, Summarize(tc.in)); diff != "" {
				t.Errorf("Summarize(%v) (-want +got):\n%s", tc.in, diff)
			}
			if !cmp.Equal(in, tc.in, cmpopts.EquateNaNs()) {
				t.Errorf("Summarize modified its input: %v", tc.in)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	a := Summarize([]float64{2, 4, 6})
	b := Summarize([]float64{1, 2, 3})
	if got := Ratio(a, b); got != 2 {
		t.Errorf("Ratio = %v, want 2", got)
	}
	for _, tc := range []struct {
		name string
		a, b Stat
	}{{"missing a", Stat{}, b}, {"missing b", a, Stat{}}, {"zero b", a, Stat{N: 1}}} {
		if got := Ratio(tc.a, tc.b); !math.IsNaN(got) {
			t.Errorf("%s: Ratio = %v, want NaN", tc.name, got)
		}
	}
}

func TestNumJSON(t *testing.T) {
	b, err := json.Marshal([]Num{1.5, NaN, Num(math.Inf(1))})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[1.5,null,null]" {
		t.Errorf("marshal = %s", b)
	}
	var back []Num
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back[0] != 1.5 || back[1].Valid() || back[2].Valid() {
		t.Errorf("unmarshal = %v", back)
	}
}

func TestRepFigures(t *testing.T) {
	r := Rep{Sent: 2_000_000, Received: 1_500_000, ElapsedNS: int64(2 * time.Second), FrameLen: 60,
		Loss: Loss{Veth: 100_000, RingFull: 300_000}, RxCPUNS: 1_000_000_000, SoftirqNS: 500_000_000, IdlePasses: 10_000_000}
	rm := r
	rm.Counters = map[string]int64{LoopBusyCounter: 200_000_000, LoopCPUCounter: 1_000_000_000}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"sent pps", r.SentPPS(), 1e6},
		{"rx pps", r.RxPPS(), 750_000},
		{"gbps", r.Gbps(), 750_000 * 60 * 8 / 1e9},
		{"loss pct", r.LossPct(), 25},
		{"unaccounted", float64(r.Unaccounted()), 100_000},
		{"cpu per packet", r.CPUPerPacketNS(), 1000},
		// 10M idle passes of 50ns: 500ms of the 1.5s were idle.
		{"busy per packet", r.BusyPerPacketNS(50), 1e9 / 1.5e6},
		{"busy, no idle cost", r.BusyPerPacketNS(0), 1000},
		{"busy, idle cost unknown", r.BusyPerPacketNS(math.NaN()), 1000},
		{"busy never below zero", r.BusyPerPacketNS(1e6), 0},
		// Loops that time themselves: 1s of their threads' CPU, 200ms
		// of it busy; the idle-pass model is not used.
		{"busy, measured by the loops", rm.BusyPerPacketNS(50), (1.5e9 - 1e9 + 0.2e9) / 1.5e6},
	} {
		if math.Abs(tc.got-tc.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsNaN(Rep{}.RxPPS()) || !math.IsNaN(Rep{ElapsedNS: 1}.CPUPerPacketNS()) {
		t.Error("figures of an empty rep should be NaN")
	}
	// Every thread but the generator's counts when the process figure is
	// there; older reports fall back to the receiver threads.
	if got := (Rep{Received: 1000, RxCPUNS: 100_000, ProcessCPUNS: 300_000, SoftirqNS: 100_000}).CPUPerPacketNS(); got != 400 {
		t.Errorf("CPU per packet with the process figure = %v, want 400", got)
	}
	for _, tc := range []struct {
		name string
		cal  *IdleCal
		want float64
	}{
		{"none: no idle pass to cost", nil, 0},
		{"spinner", &IdleCal{Windows: []IdleWindow{{RxCPUNS: 1_000_000, Passes: 20_000}}}, 50},
		{"starved", &IdleCal{Windows: []IdleWindow{{RxCPUNS: 0, Passes: 0}}}, math.NaN()},
		// 50ns a pass, 2µs a frame: 10k passes + 100 frames, 8k + 400.
		{"sleeper, two windows", &IdleCal{Windows: []IdleWindow{{RxCPUNS: 700_000, Passes: 10_000, Frames: 100}, {RxCPUNS: 1_200_000, Passes: 8_000, Frames: 400}}}, 50},
		// Noise that would make a cost negative: the sparse window alone.
		{"sleeper, noise", &IdleCal{Windows: []IdleWindow{{RxCPUNS: 700_000, Passes: 10_000, Frames: 100}, {RxCPUNS: 100_000, Passes: 8_000, Frames: 400}}}, 70},
	} {
		if got := tc.cal.PassNS(); !cmp.Equal(got, tc.want, cmpopts.EquateNaNs(), cmpopts.EquateApprox(1e-9, 0)) {
			t.Errorf("%s: idle pass = %v ns, want %v", tc.name, got, tc.want)
		}
	}

	tr := Rep{ElapsedNS: int64(2 * time.Second), TxBytes: 1_000_000_000, RxBytes: 750_000_000, RxCPUNS: 600_000_000, SoftirqNS: 150_000_000}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"goodput", tr.GoodputGbps(), 3},
		{"sent gbps", tr.SentGbps(), 4},
		{"cpu per byte", tr.CPUPerByteNS(), 1},
	} {
		if math.Abs(tc.got-tc.want) > 1e-9 {
			t.Errorf("TCP %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsNaN(Rep{ElapsedNS: 1}.CPUPerByteNS()) {
		t.Error("CPU per byte of a rep with no byte should be NaN")
	}
	c := CostRep{Packets: 1000, ElapsedNS: 100_000, CPUNS: 250_000}
	if c.NSPerPacket() != 100 || c.CPUNSPerPacket() != 250 {
		t.Errorf("cost rep: %v ns/pkt, %v CPU ns/pkt", c.NSPerPacket(), c.CPUNSPerPacket())
	}
	if !math.IsNaN(CostRep{Packets: 1}.CPUNSPerPacket()) {
		t.Error("a cost rep without CPU time should have a NaN CPU figure")
	}
}

// rep makes a repetition received at mpps Mpps over one second.
func rep(frame int, sentMpps, mpps float64) Rep {
	return Rep{Sent: uint64(sentMpps * 1e6), Received: uint64(mpps * 1e6), ElapsedNS: int64(time.Second), FrameLen: frame,
		RxCPUNS: int64(mpps * 1e6 * 100)}
}

func live(name string, frame int, mpps ...float64) Scenario {
	s := Scenario{Name: name, Kind: KindLive, Status: StatusOK, FrameLen: frame}
	for _, m := range mpps {
		s.Reps = append(s.Reps, rep(frame, m, m))
	}
	return s
}

// tapLive is a live row whose tap saw every frame and wrote written of
// them per rep.
func tapLive(name string, written float64, mpps ...float64) Scenario {
	s := live(name, 60, mpps...)
	for i := range s.Reps {
		seen := int64(s.Reps[i].Received)
		s.Reps[i].Counters = map[string]int64{"tap.seen": seen, "tap.written": int64(written * float64(seen)), "tap.dropped": seen - int64(written*float64(seen))}
	}
	return s
}

func cost(name string, ns ...float64) Scenario {
	s := Scenario{Name: name, Kind: KindStackCost, Proto: ProtoUDP, Status: StatusOK, FrameLen: 60}
	for _, n := range ns {
		s.Cost = append(s.Cost, CostRep{Packets: 1000, Delivered: 1000, ElapsedNS: int64(n * 1000)})
	}
	return s
}

// costTCP makes a TCP stack-cost row whose reps take ns of wall time and
// cpu of process CPU time per segment.
func costTCP(name string, ns, cpu float64) Scenario {
	s := Scenario{Name: name, Kind: KindStackCost, Proto: ProtoTCP, Status: StatusOK, FrameLen: 1514}
	for range 3 {
		s.Cost = append(s.Cost, CostRep{Packets: 1000, Delivered: 1000, DeliveredBytes: 1448_000, ElapsedNS: int64(ns * 1000), CPUNS: int64(cpu * 1000)})
	}
	return s
}

// tcpLive makes a TCP row whose reps deliver gbps Gbit/s over one second
// at cpuPerByte ns of CPU per byte.
func tcpLive(name string, cpuPerByte float64, gbps ...float64) Scenario {
	s := Scenario{Name: name, Kind: KindLive, Proto: ProtoTCP, Status: StatusOK, FrameLen: 1514}
	for _, g := range gbps {
		b := uint64(g * 1e9 / 8)
		s.Reps = append(s.Reps, Rep{Sent: b / 1448, Received: b / 1448, ElapsedNS: int64(time.Second), FrameLen: 1514,
			TxBytes: b + 1<<20, RxBytes: b, RxCPUNS: int64(cpuPerByte * float64(b)), Retrans: 7})
	}
	return s
}

func sampleRun() *Run {
	r := &Run{
		Settings: Settings{Mode: "quick", Reps: 3, DurationNS: int64(time.Second), WarmupNS: int64(time.Second / 2),
			Queues: 1, Flows: 1, Generator: "xdp-live-frames", GenCPUs: []int{0}, RxCPUs: []int{1}, Lab: "rxp0"},
		Machine: Machine{Kernel: "6.18", CPUs: 2, GoVersion: "go1.26", LoadAvgStart: "0.10 0.20 0.30"},
		Scenarios: []Scenario{
			live("ceiling", 60, 1.2, 1.3, 1.25),
			live("xsk-minimal", 60, 1.2, 1.22, 1.21),
			live("rxpath-raw", 60, 1.24, 1.25, 1.23),
			live("rxpath-udp-handler", 60, 1.2, 1.21, 1.19),
			live("rxpath-udp-readbatch", 60, 1.1, 1.1, 1.1),
			live("kernel-recvmmsg", 60, 0.6, 0.62, 0.61),
			live("kernel-recvmmsg-spin", 60, 0.7, 0.7, 0.7),
			live("asavie", 60, 1.0, 1.0, 1.0),
			live("xsk-minimal-512", 554, 0.8),
			live("rxpath-udp-handler-512", 554, 1.0),
			live("kernel-recvmmsg-512", 554, 0.5),
			{Name: "tap-devnull", Kind: KindLive, Status: StatusFailed, Reason: "disk full", Notes: []string{"a note"}},
			tapLive("tap-file", 0.995, 1.15, 1.15, 1.15),
			tcpLive("tcp-rxpath", 0.5, 3, 2.9, 3.1),
			tcpLive(TCPKernelName, 1, 1.5, 1.5, 1.5),
			{Name: "tcp-other", Kind: KindLive, Proto: ProtoTCP, Status: StatusFailed, Reason: "connection refused"},
			cost(StackRxpathName, 100, 110, 90),
			cost(StackGVisorName, 1000, 1100, 900),
			costTCP(StackRxpathTCPName, 200, 250),
			costTCP(StackGVisorTCPName, 1500, 5000),
		},
	}
	// The handler spins: half of its receiver CPU went to idle passes.
	h := r.Find("rxpath-udp-handler")
	h.IdleCal = &IdleCal{Windows: []IdleWindow{{ElapsedNS: 1e8, RxCPUNS: 1e8, Passes: 2e6}}}
	for i := range h.Reps {
		h.Reps[i].IdlePasses = uint64(h.Reps[i].RxCPUNS / 2 / 50)
	}
	r.Finalize()
	return r
}

func TestFinalizeRatios(t *testing.T) {
	r := sampleRun()
	for _, tc := range []struct {
		name                 string
		xsk, ceiling, kernel float64 // NaN: none
		gvisor, gvisorCPU    float64
	}{
		{"ceiling", 1.25 / 1.21, 1, 1.25 / 0.61, math.NaN(), math.NaN()},
		{"xsk-minimal", 1, 1.21 / 1.25, 1.21 / 0.61, math.NaN(), math.NaN()},
		{"rxpath-udp-handler", 1.2 / 1.21, 1.2 / 1.25, 1.2 / 0.61, math.NaN(), math.NaN()},
		{"kernel-recvmmsg-spin", 0.7 / 1.21, 0.7 / 1.25, 0.7 / 0.61, math.NaN(), math.NaN()},
		// Other frame sizes: no ceiling of that size, the xsk-minimal
		// and kernel rows of the same size.
		{"rxpath-udp-handler-512", 1.0 / 0.8, math.NaN(), 2, math.NaN(), math.NaN()},
		{"kernel-recvmmsg-512", 0.5 / 0.8, math.NaN(), 1, math.NaN(), math.NaN()},
		// TCP rows: goodput against tcp-kernel's, never a ceiling;
		// the TCP cost rows against gVisor's TCP row, not its UDP one.
		{"tcp-rxpath", math.NaN(), math.NaN(), 2, math.NaN(), math.NaN()},
		{TCPKernelName, math.NaN(), math.NaN(), 1, math.NaN(), math.NaN()},
		{"tcp-other", math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()},
		{StackRxpathName, math.NaN(), math.NaN(), math.NaN(), 10, math.NaN()},
		{StackGVisorName, math.NaN(), math.NaN(), math.NaN(), 1, math.NaN()},
		{StackRxpathTCPName, math.NaN(), math.NaN(), math.NaN(), 7.5, 20},
		{StackGVisorTCPName, math.NaN(), math.NaN(), math.NaN(), 1, 1},
	} {
		s := r.Find(tc.name).Summary
		got := []float64{float64(s.VsXSK), float64(s.VsCeiling), float64(s.VsKernel), float64(s.VsGVisor), float64(s.VsGVisorCPU)}
		want := []float64{tc.xsk, tc.ceiling, tc.kernel, tc.gvisor, tc.gvisorCPU}
		if !cmp.Equal(want, got, cmpopts.EquateNaNs(), cmpopts.EquateApprox(1e-9, 0)) {
			t.Errorf("%s: ratios (xsk, ceiling, kernel, gvisor, gvisor CPU) = %v, want %v", tc.name, got, want)
		}
	}
	// Busy time: the handler's idle passes taken off; a row without a
	// calibration is all busy.
	if h := r.Find("rxpath-udp-handler").Summary; math.Abs(h.BusyNSPkt.Median-50) > 1e-6 || h.CPUNSPkt.Median != 100 {
		t.Errorf("handler: busy %+v, CPU %+v ns/pkt; want 50 and 100", h.BusyNSPkt, h.CPUNSPkt)
	}
	if raw := r.Find("rxpath-raw").Summary; raw.BusyNSPkt != raw.CPUNSPkt {
		t.Errorf("raw: busy %+v != CPU %+v with no idle pass counted", raw.BusyNSPkt, raw.CPUNSPkt)
	}
	tcp := r.Find("tcp-rxpath").Summary
	if tcp.GoodputGbps.Median != 3 || tcp.GoodputGbps.Min != 2.9 || tcp.GoodputGbps.Max != 3.1 ||
		math.Abs(tcp.CPUNSByte.Median-0.5) > 1e-9 || tcp.Retrans.Median != 7 || tcp.CPUNSPkt.Valid() || tcp.Gbps.Valid() {
		t.Errorf("tcp-rxpath summary: goodput %+v, CPU/byte %+v, retrans %+v, CPU/pkt %+v, frame Gbit/s %+v",
			tcp.GoodputGbps, tcp.CPUNSByte, tcp.Retrans, tcp.CPUNSPkt, tcp.Gbps)
	}
	if got := r.Find(StackRxpathTCPName).Summary.CPUNSPkt; got.Median != 250 || got.N != 3 {
		t.Errorf("stack-rxpath-tcp CPU ns/pkt = %+v, want 250 over 3 reps", got)
	}
	if got := r.Find("rxpath-raw").Summary.RxMpps; got.Median != 1.24 || got.Min != 1.23 || got.Max != 1.25 || got.N != 3 {
		t.Errorf("rxpath-raw rx Mpps = %+v", got)
	}
}

func goalMap(r *Run) (status map[string]GoalStatus, detail map[string]string) {
	status, detail = map[string]GoalStatus{}, map[string]string{}
	for _, g := range r.Goals {
		status[g.ID], detail[g.ID] = g.Status, g.Detail
	}
	return status, detail
}

func TestGoals(t *testing.T) {
	r := sampleRun()
	got, detail := goalMap(r)
	want := map[string]GoalStatus{
		"raw-vs-xsk-minimal":         GoalPass, // 1.24/1.21
		"handler-vs-xsk-minimal":     GoalPass, // 0.992
		"handler-no-loss":            GoalPass,
		"readbatch-vs-handler":       GoalPass, // 0.917, nothing lost
		"tap-file-vs-handler":        GoalPass, // 0.958
		"tap-captured":               GoalPass, // 99.5%
		"handler-vs-kernel":          GoalPass, // 1.97
		"memnic-raw":                 GoalNotRun,
		"memnic-udp-handler":         GoalNotRun,
		"memnic-tap-devnull":         GoalNotRun,
		"raw-vs-asavie":              GoalPass,
		"stack-vs-gvisor":            GoalPass, // 10×
		"stack-vs-gvisor-tcp":        GoalInfo, // 20× in CPU time
		"tcp-goodput-vs-kernel":      GoalPass, // 3 / 1.5 Gbit/s
		"tcp-cpu-per-byte-vs-kernel": GoalPass, // 0.5 / 1 ns/B
		"http-keepalive-vs-kernel":   GoalNotRun,
		"http-connect-vs-kernel":     GoalNotRun,
		"conn-idle-bytes":            GoalNotRun,
		"timewait-bytes":             GoalNotRun,
		"handler-vs-ceiling":         GoalInfo, // 0.96
		"raw-vs-ceiling":             GoalInfo, // 0.992
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("goals (-want +got):\n%s", diff)
	}
	if len(r.Goals) != len(want) {
		t.Errorf("%d goals, want %d: an ID appears twice", len(r.Goals), len(want))
	}
	for _, g := range r.Goals {
		if g.Informational != (g.Status == GoalInfo || g.ID == "stack-vs-gvisor-tcp") {
			t.Errorf("goal %s: informational %v, status %s", g.ID, g.Informational, g.Status)
		}
	}
	if !strings.Contains(detail["memnic-raw"], "memnic-raw is not in this run") {
		t.Errorf("memnic-raw detail = %q", detail["memnic-raw"])
	}
	if !strings.Contains(detail["raw-vs-ceiling"], "threshold met") || !strings.Contains(detail["raw-vs-ceiling"], "no AF_XDP receiver") {
		t.Errorf("raw-vs-ceiling does not say why it is informational: %q", detail["raw-vs-ceiling"])
	}
	// sampleRun's xsk-minimal threads used 12% of the send time: a
	// spinner that had its CPU taken makes a low floor, and says so.
	if !strings.Contains(detail["raw-vs-xsk-minimal"], "ran only 12% of the send time") {
		t.Errorf("raw-vs-xsk-minimal detail = %q", detail["raw-vs-xsk-minimal"])
	}
	if sh := SpinShare(&Scenario{Reps: []Rep{{ElapsedNS: 100, RxCPUNS: 190}}}, 2); sh != 0.95 {
		t.Errorf("SpinShare of two threads = %v, want 0.95", sh)
	}

	// The memnic rows, once they exist: a rate goal on each.
	r = sampleRun()
	for _, m := range []struct {
		name string
		mpps float64
	}{{MemnicRawName, 31}, {MemnicHandlerName, 11}, {MemnicTapName, 8}} {
		s := live(m.name, 60, m.mpps)
		s.Kind = KindCapacity
		r.Scenarios = append(r.Scenarios, s)
	}
	r.Finalize()
	got, detail = goalMap(r)
	if got["memnic-raw"] != GoalPass || got["memnic-udp-handler"] != GoalMiss || got["memnic-tap-devnull"] != GoalPass {
		t.Errorf("memnic goals: %v", got)
	}
	if !strings.Contains(detail["memnic-raw"], "32.3 ns/frame") {
		t.Errorf("memnic-raw detail = %q", detail["memnic-raw"])
	}

	// Misses, a loss, a missing row and a failed one.
	r = sampleRun()
	r.Find("rxpath-udp-handler").Reps[1].Received -= 10
	for i := range r.Find("rxpath-udp-handler").Reps {
		w := int64(200) // µs descheduled: 0.2 ms in a clean rep, 7.5 ms in the lossy one
		if i == 1 {
			w = 7500
		}
		rep := &r.Find("rxpath-udp-handler").Reps[i]
		if rep.Counters == nil {
			rep.Counters = map[string]int64{}
		}
		rep.Counters["sched.rx_wait_us"] = w
	}
	r.Find("rxpath-udp-readbatch").Reps[0].Received -= 1
	r.Find("asavie").Reps = []Rep{rep(60, 1.24, 1.24), rep(60, 1.24, 1.24), rep(60, 1.24, 1.24)} // a tie is no win
	r.Find(StackGVisorName).Status, r.Find(StackGVisorName).Reason = StatusFailed, "boom"
	for i := range r.Find(StackGVisorTCPName).Cost { // only 2× dearer than rxpath in CPU time
		r.Find(StackGVisorTCPName).Cost[i].CPUNS = 500_000
	}
	tf := r.Find("tap-file")
	for i := range tf.Reps {
		tf.Reps[i].Counters["tap.written"] = tf.Reps[i].Counters["tap.seen"] / 3
	}
	r.Scenarios = r.Scenarios[2:] // no ceiling, no xsk-minimal
	r.Finalize()
	got, detail = goalMap(r)
	want = map[string]GoalStatus{
		"raw-vs-xsk-minimal":         GoalNotRun,
		"handler-vs-xsk-minimal":     GoalNotRun,
		"handler-no-loss":            GoalMiss,
		"readbatch-vs-handler":       GoalMiss, // fast enough, but it lost a frame
		"tap-file-vs-handler":        GoalPass,
		"tap-captured":               GoalMiss,
		"handler-vs-kernel":          GoalPass,
		"memnic-raw":                 GoalNotRun,
		"memnic-udp-handler":         GoalNotRun,
		"memnic-tap-devnull":         GoalNotRun,
		"raw-vs-asavie":              GoalMiss,
		"stack-vs-gvisor":            GoalNotRun,
		"stack-vs-gvisor-tcp":        GoalInfo,
		"tcp-goodput-vs-kernel":      GoalPass,
		"tcp-cpu-per-byte-vs-kernel": GoalPass,
		"http-keepalive-vs-kernel":   GoalNotRun,
		"http-connect-vs-kernel":     GoalNotRun,
		"conn-idle-bytes":            GoalNotRun,
		"timewait-bytes":             GoalNotRun,
		"handler-vs-ceiling":         GoalNotRun,
		"raw-vs-ceiling":             GoalNotRun,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("goals (-want +got):\n%s", diff)
	}
	if !strings.Contains(detail["raw-vs-xsk-minimal"], "not in this run") || !strings.Contains(detail["stack-vs-gvisor"], "boom") {
		t.Errorf("details do not say why: %q, %q", detail["raw-vs-xsk-minimal"], detail["stack-vs-gvisor"])
	}
	if !strings.Contains(detail["handler-no-loss"], "7.5 in the 1 reps that lost frames, 0.2 in the 2 that lost none") {
		t.Errorf("handler-no-loss detail does not say how long the poller was descheduled: %q", detail["handler-no-loss"])
	}
	if !strings.Contains(detail["handler-no-loss"], "10 of") || !strings.Contains(detail["readbatch-vs-handler"], "lost 1 of") {
		t.Errorf("loss details = %q, %q", detail["handler-no-loss"], detail["readbatch-vs-handler"])
	}
	if !strings.Contains(detail["stack-vs-gvisor-tcp"], "threshold not met") {
		t.Errorf("stack-vs-gvisor-tcp detail = %q", detail["stack-vs-gvisor-tcp"])
	}

	// With spinning pollers the no-loss goal is not about default options.
	r = sampleRun()
	r.Settings.BusySpin = true
	r.Finalize()
	if got, _ := goalMap(r); got["handler-no-loss"] != GoalNotRun {
		t.Errorf("handler-no-loss with --busy-spin: %s", got["handler-no-loss"])
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`rxbench \(quick\): 3 reps × 1s after a 500ms warm-up`,
		`\nceiling +60 +1\.250 +1\.250 \[1\.200 – 1\.300\] +0\.60 +0% .* 1\.03 +1\.00 +2\.05\n`,
		`\nrxpath-udp-handler +60 .* 100 \[100 – 100\] +50 +0\.99 +0\.96 +1\.97\n`,
		`\nrxpath-udp-handler-512 +554 .* 1\.25 +- +2\.00\n`,
		`\ntap-devnull +failed: disk full\n`,
		`\ntcp-other +failed: connection refused\n`,
		`\ntcp-rxpath +1514 +3\.01 +3\.00 \[2\.90 – 3\.10\] +0% +7 .* 0\.500 \[0\.500 – 0\.500\] +2\.00\n`,
		`\ntcp-kernel +1514 .* 1\.000 \[1\.000 – 1\.000\] +1\.00\n`,
		`\nstack-rxpath +60 +udp +100\.0 \[90\.0 – 110\.0\] +- +0\.00 +10\.00 +-\n`,
		`\nstack-rxpath-tcp +1514 +tcp +200\.0 \[200\.0 – 200\.0\] +250\.0 \[250\.0 – 250\.0\] +0\.00 +7\.50 +20\.00\n`,
		`\n  pass  rxpath-raw >= 1\.00 × xsk-minimal +1\.02 `,
		`\n  info  rxpath-udp-handler >= 0\.95 × ceiling +0\.96 +threshold met; `,
		`\n  info  rxpath's TCP >= 5× cheaper per in-order segment than gVisor \(CPU\) +20 `,
		`\n  ----  memnic-raw >= 30 Mpps on one core +- +scenario memnic-raw is not in this run\n`,
		`\n  - tap-devnull: a note\n`,
		`×xsk = rx rate / xsk-minimal's`,
		`upper bound that no AF_XDP receiver reaches`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("table does not match %q:\n%s", want, out)
		}
	}
	// The TCP rows are not in the UDP table, and vice versa.
	udpTable, _, _ := strings.Cut(out, "\nTCP:")
	if strings.Contains(udpTable, "\ntcp-rxpath ") {
		t.Errorf("a TCP row in the UDP table:\n%s", out)
	}
	// Every data row of the live tables lines up with its header.
	lines := strings.Split(out, "\n")
	var header, tcpHeader string
	for _, l := range lines {
		if strings.HasPrefix(l, "scenario ") && strings.Contains(l, "×kernel") {
			if strings.Contains(l, "×ceil") {
				header = l
			} else {
				tcpHeader = l
			}
		}
	}
	if header == "" || tcpHeader == "" {
		t.Fatalf("no header in\n%s", out)
	}
	for _, l := range lines {
		h := header
		switch {
		case strings.HasPrefix(l, "tcp-rxpath ") || strings.HasPrefix(l, "tcp-kernel "):
			h = tcpHeader
		case strings.HasPrefix(l, "ceiling ") || strings.HasPrefix(l, "rxpath-raw "):
			if got := strings.Index(l, "1.00"); strings.HasPrefix(l, "ceiling") && got < 0 {
				t.Errorf("ceiling row has no 1.00 ratio: %q", l)
			}
		default:
			continue
		}
		if len([]rune(l)) != len([]rune(h)) {
			t.Errorf("row width %d != header width %d:\n%s\n%s", len([]rune(l)), len([]rune(h)), h, l)
		}
	}
}

func TestCount(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1.0k", 12345: "12.3k", 4_560_000: "4.56M", math.NaN(): "-"} {
		if got := count(in); got != want {
			t.Errorf("count(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	var back Run
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Scenarios) != 20 || len(back.Goals) != 21 || len(back.Scenarios[0].Reps) != 3 {
		t.Errorf("round trip lost rows: %d scenarios, %d goals", len(back.Scenarios), len(back.Goals))
	}
	if back.Find("tcp-rxpath").Summary.VsCeiling.Valid() {
		t.Error("a row with nothing to compare with should have a null ratio")
	}
	if got := back.Find("tcp-rxpath"); got.Proto != ProtoTCP || got.Reps[0].RxBytes == 0 || !got.Summary.GoodputGbps.Valid() {
		t.Errorf("TCP row lost its transport or bytes in the round trip: %+v", got)
	}
}

func TestWritePlot(t *testing.T) {
	for _, f := range []string{"png", "svg"} {
		var b bytes.Buffer
		if err := WritePlot(&b, sampleRun(), f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		magic := map[string]string{"png": "\x89PNG", "svg": "<?xml"}[f]
		if !strings.HasPrefix(b.String(), magic) {
			t.Errorf("%s output starts with %q", f, b.String()[:min(8, b.Len())])
		}
	}
	if err := WritePlot(&bytes.Buffer{}, &Run{}, "png"); err == nil {
		t.Error("plotting a run with no measured row should fail")
	}
	tcpOnly := &Run{Scenarios: []Scenario{tcpLive("tcp-rxpath", 0.5, 3), tcpLive(TCPKernelName, 1, 1.5)}}
	tcpOnly.Finalize()
	var b bytes.Buffer
	if err := WritePlot(&b, tcpOnly, "svg"); err != nil || !strings.Contains(b.String(), "TCP goodput") || strings.Contains(b.String(), "Mpps") {
		t.Errorf("a run of TCP rows only: %v; want the TCP panels alone", err)
	}
	for path, want := range map[string]string{"a.png": "png", "b.SVG": "svg", "c.pdf": ""} {
		got, err := PlotFormat(path)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("PlotFormat(%q) = %q, %v", path, got, err)
		}
	}
}

func TestStealNote(t *testing.T) {
	rep := func(stealUS int64) Rep { return Rep{Counters: map[string]int64{"host.steal_us": stealUS}} }
	a := &Scenario{Name: "a", Reps: []Rep{rep(0), rep(3000), rep(1000)}}
	b := &Scenario{Name: "b", Reps: []Rep{rep(0), rep(0), rep(0)}}
	if got, want := StealNote(a, b), "; hypervisor steal, ms per rep (median [min–max]): a 1 [0–3], b 0 [0–0]"; got != want {
		t.Errorf("StealNote = %q, want %q", got, want)
	}
	if got := StealNote(b); got != "" {
		t.Errorf("no steal: %q, want nothing", got)
	}
	if got := StealNote(&Scenario{Name: "old", Reps: []Rep{{}}}); got != "" {
		t.Errorf("reps without the counter: %q, want nothing", got)
	}
	h := &Scenario{Name: "h", HTTP: []HTTPRep{{Wrk: HTTPLoad{StealNS: 2e6}, AB: HTTPLoad{StealNS: 1e6}}}}
	if got, want := StealNote(h), "; hypervisor steal, ms per rep (median [min–max]): h 3 [3–3]"; got != want {
		t.Errorf("HTTP: %q, want %q", got, want)
	}
}
