package report

import (
	"fmt"
	"math"
	"strings"
)

// GoalStatus is the verdict on one goal.
type GoalStatus string

// Goal verdicts. A goal whose scenarios were not measured is reported as
// such, never left out, and never as a pass.
const (
	GoalPass GoalStatus = "pass"
	GoalMiss GoalStatus = "miss"
	// GoalInfo: a measured figure that is not a target of the benchmark
	// issue (Goal.Informational); Detail says whether its threshold was
	// met.
	GoalInfo GoalStatus = "info"
	// GoalNotRun: a row the goal needs was not in the run, failed, or
	// was interrupted; Detail says which and why.
	GoalNotRun GoalStatus = "not-run"
)

// Goal is one target of the benchmark issue with its measured value.
type Goal struct {
	ID     string     `json:"id"`
	Target string     `json:"target"` // in words, e.g. "rxpath-raw >= 1.00 × xsk-minimal"
	Value  Num        `json:"value"`  // the measured ratio, rate or count
	Need   float64    `json:"need"`   // the threshold the value is compared with
	Status GoalStatus `json:"status"`
	Detail string     `json:"detail"` // how the value was obtained, or why it is missing
	// Informational goals are not targets of the benchmark issue: they
	// are reported beside the others with the status "info".
	Informational bool `json:"informational,omitempty"`
}

// Thresholds of the goals (issue 16's acceptance list).
const (
	needRawVsXSK       = 1.00
	needHandlerVsXSK   = 0.97
	needReadBatch      = 0.90
	needTapFile        = 0.95
	needTapCaptured    = 0.99
	needHandlerKernel  = 1.5
	needMemnicRawMpps  = 30
	needMemnicUDPMpps  = 12
	needMemnicTapMpps  = 8
	needStackVsGVisor  = 5
	needHandlerCeiling = 0.95
	needRawCeiling     = 0.98
)

// Thresholds of issue 17's goals: TCP at kernel speed and below kernel
// memory.
const (
	needTCPVsKernel    = 1.0  // goodput ratio, at least
	needTCPCPUVsKernel = 1.0  // CPU per byte ratio, at most
	needHTTPVsKernel   = 1.0  // req/s ratio, at least
	needIdleConnBytes  = 2048 // bytes per idle established connection, at most
	needTimeWaitBytes  = 256  // bytes per TIME_WAIT entry, at most
)

// ceilingNote is why the ceiling goals are informational.
const ceilingNote = "informational: on veth the sending CPU runs the DUT's XDP program and, for AF_XDP, the copy into UMEM, " +
	"so XDP drop is an upper bound no AF_XDP receiver reaches there; the goals compare with xsk-minimal instead"

// EvaluateGoals checks the goals of the benchmark against r's rows, whose
// summaries must be computed (Finalize does both).
func EvaluateGoals(r *Run) []Goal {
	handlerNoLoss := noLoss(r, "handler-no-loss", HandlerName)
	if r.Settings.BusySpin && handlerNoLoss.Status != GoalNotRun {
		handlerNoLoss = Goal{ID: handlerNoLoss.ID, Target: handlerNoLoss.Target, Value: NaN, Status: GoalNotRun,
			Detail: "the run's pollers spin (--busy-spin); this goal is about rxpath's default options"}
	}
	return []Goal{
		ratioGoal(r, "raw-vs-xsk-minimal", RawName, XSKMinimalName, needRawVsXSK),
		ratioGoal(r, "handler-vs-xsk-minimal", HandlerName, XSKMinimalName, needHandlerVsXSK),
		handlerNoLoss,
		readBatchGoal(r),
		ratioGoal(r, "tap-file-vs-handler", TapFileName, HandlerName, needTapFile),
		tapCaptured(r),
		ratioGoal(r, "handler-vs-kernel", HandlerName, KernelName, needHandlerKernel),
		rate(r, "memnic-raw", MemnicRawName, needMemnicRawMpps),
		rate(r, "memnic-udp-handler", MemnicHandlerName, needMemnicUDPMpps),
		rate(r, "memnic-tap-devnull", MemnicTapName, needMemnicTapMpps),
		beats(r, "raw-vs-asavie", RawName, AsavieName),
		stackCost(r),
		stackCostTCP(r),
		tcpGoodput(r),
		tcpCPUPerByte(r),
		httpGoal(r, "http-keepalive-vs-kernel", "wrk, keep-alive", func(s *Scenario) Stat { return s.Summary.KeepAliveRPS },
			func(s *Scenario) Stat { return s.Summary.KeepAliveP99MS }),
		httpGoal(r, "http-connect-vs-kernel", "ab, a new connection per request", func(s *Scenario) Stat { return s.Summary.ConnectRPS },
			func(s *Scenario) Stat { return s.Summary.ConnectP99MS }),
		memGoal(r, "conn-idle-bytes", "bytes per idle ESTABLISHED connection", needIdleConnBytes,
			func(m Summary) (Stat, Stat) { return m.IdleBytesRxpath, m.IdleBytesKernel }),
		memGoal(r, "timewait-bytes", "bytes per TIME_WAIT entry", needTimeWaitBytes,
			func(m Summary) (Stat, Stat) { return m.TimeWaitBytesRxpath, m.TimeWaitBytesKernel }),
		info(ratioGoal(r, "handler-vs-ceiling", HandlerName, CeilingName, needHandlerCeiling), ceilingNote),
		info(ratioGoal(r, "raw-vs-ceiling", RawName, CeilingName, needRawCeiling), ceilingNote),
	}
}

// ratioGoal compares the median receive rates of rows a and b.
func ratioGoal(r *Run, id, a, b string, need float64) Goal {
	g := Goal{ID: id, Target: fmt.Sprintf("%s >= %.2f × %s", a, need, b), Need: need, Value: NaN}
	sa, sb := r.Find(a), r.Find(b)
	if !measured(&g, r, a, b) {
		return g
	}
	v := Ratio(sa.Summary.RxMpps, sb.Summary.RxMpps)
	g.Value = Num(v)
	g.Status = verdict(v >= need, v)
	g.Detail = fmt.Sprintf("median rx %.3f Mpps [%.3f–%.3f] / %.3f Mpps [%.3f–%.3f]",
		sa.Summary.RxMpps.Median, sa.Summary.RxMpps.Min, sa.Summary.RxMpps.Max,
		sb.Summary.RxMpps.Median, sb.Summary.RxMpps.Min, sb.Summary.RxMpps.Max) + StealNote(sa, sb)
	if b == XSKMinimalName {
		if sh := SpinShare(sb, r.Settings.Queues); sh < minSpinShare {
			g.Detail += fmt.Sprintf("; xsk-minimal's spinning threads ran only %.0f%% of the send time (other work took their CPU), "+
				"so this floor is low: run with --isolate", 100*sh)
		}
	}
	return g
}

// minSpinShare is the share of the send time below which a spinning
// receiver counts as starved.
const minSpinShare = 0.9

// SpinShare is the median share of the send time that a spinning row's
// receiver threads (one per queue) were on their CPUs: about 1 when
// nothing else wanted those CPUs. NaN without figures.
func SpinShare(s *Scenario, queues int) float64 {
	v := make([]float64, len(s.Reps))
	for i, rep := range s.Reps {
		v[i] = div(float64(rep.RxCPUNS), float64(rep.ElapsedNS)*float64(max(queues, 1)))
	}
	st := Summarize(v)
	if !st.Valid() {
		return math.NaN()
	}
	return st.Median
}

// beats: row a's median rate is above b's; a tie is no win.
func beats(r *Run, id, a, b string) Goal {
	g := ratioGoal(r, id, a, b, 1)
	g.Target = fmt.Sprintf("rxpath beats %s (%s > %s)", b, a, b)
	if g.Status == GoalPass && float64(g.Value) == 1 {
		g.Status = GoalMiss
	}
	return g
}

// info demotes g to an informational figure, with the reason in its
// detail and whether its threshold was met.
func info(g Goal, why string) Goal {
	g.Informational = true
	switch g.Status {
	case GoalPass:
		g.Detail = "threshold met; " + g.Detail
	case GoalMiss:
		g.Detail = "threshold not met; " + g.Detail
	}
	if g.Status != GoalNotRun {
		g.Status = GoalInfo
	}
	g.Detail += "; " + why
	return g
}

// rate: a row's median receive rate reaches need Mpps.
func rate(r *Run, id, name string, need float64) Goal {
	g := Goal{ID: id, Target: fmt.Sprintf("%s >= %g Mpps on one core", name, need), Need: need, Value: NaN}
	if !measured(&g, r, name) {
		return g
	}
	s := r.Find(name)
	v := s.Summary.RxMpps.Median
	if !s.Summary.RxMpps.Valid() {
		v = math.NaN()
	}
	g.Value = Num(v)
	g.Status = verdict(v >= need, v)
	g.Detail = fmt.Sprintf("median rx %.3f Mpps [%.3f–%.3f], %.1f ns/frame, %.1f CPU ns/pkt, %.1f busy ns/pkt",
		s.Summary.RxMpps.Median, s.Summary.RxMpps.Min, s.Summary.RxMpps.Max, 1e3/v,
		s.Summary.CPUNSPkt.Median, s.Summary.BusyNSPkt.Median)
	return g
}

// measured reports whether every named row was measured; if not, it
// marks g not run and says why.
func measured(g *Goal, r *Run, names ...string) bool {
	for _, n := range names {
		s := r.Find(n)
		switch {
		case s == nil:
			g.Status, g.Detail = GoalNotRun, fmt.Sprintf("scenario %s is not in this run", n)
			return false
		case !s.OK():
			g.Status = GoalNotRun
			g.Detail = fmt.Sprintf("%s %s", s.Name, s.Status)
			if s.Reason != "" {
				g.Detail += ": " + s.Reason
			}
			return false
		}
	}
	return true
}

func verdict(ok bool, v float64) GoalStatus {
	if math.IsNaN(v) {
		return GoalNotRun
	}
	if ok {
		return GoalPass
	}
	return GoalMiss
}

// lossOf sums a row's frames lost over its reps, and the worst rep.
func lossOf(s *Scenario) (lost, sent uint64, worst int64, worstPct float64) {
	first := true
	for _, rep := range s.Reps {
		sent += rep.Sent
		l := rep.Lost()
		if l > 0 {
			lost += uint64(l)
		}
		if first || l > worst {
			worst, worstPct, first = l, rep.LossPct(), false
		}
	}
	return lost, sent, max(worst, 0), max(worstPct, 0)
}

// waitNote says how long the receiver's threads waited on a run queue
// (runnable, their CPU held by other work) in the reps that lost frames
// and in those that lost none: for a spinning poller, whether the losses
// came with being descheduled. Empty when the reps did not record it.
func waitNote(s *Scenario) string {
	var lossy, clean []float64
	for _, rep := range s.Reps {
		w, ok := rep.Counters["sched.rx_wait_us"]
		if !ok {
			return ""
		}
		if rep.Lost() > 0 {
			lossy = append(lossy, float64(w)/1e3)
		} else {
			clean = append(clean, float64(w)/1e3)
		}
	}
	note := "; receiver threads descheduled while runnable (median ms per rep):"
	if len(lossy) > 0 {
		note += fmt.Sprintf(" %.1f in the %d reps that lost frames", Summarize(lossy).Median, len(lossy))
	}
	if len(clean) > 0 {
		if len(lossy) > 0 {
			note += ","
		}
		note += fmt.Sprintf(" %.1f in the %d that lost none", Summarize(clean).Median, len(clean))
	}
	return note
}

// StealNote says how much CPU time the hypervisor took from the VM
// (steal, all CPUs) during the scenarios' reps (live rows; HTTP rows: wrk
// and ab together), when it took any: on a shared host that, not the
// code, can set a row's rate.
func StealNote(ss ...*Scenario) string {
	var parts []string
	some := false
	for _, s := range ss {
		var v []float64
		for _, rep := range s.Reps {
			if us, ok := rep.Counters["host.steal_us"]; ok {
				v = append(v, float64(us)/1e3)
			}
		}
		for _, rep := range s.HTTP {
			v = append(v, float64(rep.Wrk.StealNS+rep.AB.StealNS)/1e6)
		}
		if len(v) == 0 {
			return ""
		}
		st := Summarize(v)
		some = some || st.Max > 0
		parts = append(parts, fmt.Sprintf("%s %.0f [%.0f–%.0f]", s.Name, st.Median, st.Min, st.Max))
	}
	if !some {
		return ""
	}
	return "; hypervisor steal, ms per rep (median [min–max]): " + strings.Join(parts, ", ")
}

// noLoss: no frame lost in any repetition at the generator's full rate.
func noLoss(r *Run, id, name string) Goal {
	g := Goal{ID: id, Target: name + " loses no frame at the generator's full rate", Need: 0, Value: NaN}
	if !measured(&g, r, name) {
		return g
	}
	s := r.Find(name)
	lost, sent, worst, worstPct := lossOf(s)
	g.Value = Num(float64(lost))
	g.Status = verdict(lost == 0, 0)
	g.Detail = fmt.Sprintf("%d of %d frames lost over %d reps at a median %.3f Mpps sent; worst rep lost %d (%.3f%%)",
		lost, sent, len(s.Reps), s.Summary.SentMpps.Median, worst, worstPct) + waitNote(s) + StealNote(s)
	return g
}

// readBatchGoal: ReadBatch keeps up with the handler, and loses nothing.
func readBatchGoal(r *Run) Goal {
	g := ratioGoal(r, "readbatch-vs-handler", ReadBatchName, HandlerName, needReadBatch)
	g.Target += ", with no loss"
	if g.Status == GoalNotRun {
		return g
	}
	lost, sent, _, _ := lossOf(r.Find(ReadBatchName))
	if lost > 0 {
		g.Status = GoalMiss
	}
	g.Detail += fmt.Sprintf("; %s lost %d of %d frames", ReadBatchName, lost, sent) + waitNote(r.Find(ReadBatchName))
	return g
}

// tapCaptured: the tap of the tap-file row wrote to the file at least
// 99% of the frames it saw (and its expression let through), over every
// rep. Each rep waits for the tap's writer to catch up before it reads
// the counters.
func tapCaptured(r *Run) Goal {
	g := Goal{ID: "tap-captured", Target: fmt.Sprintf("%s: the tap writes >= %.0f%% of the frames it saw to the file", TapFileName, 100*needTapCaptured),
		Need: needTapCaptured, Value: NaN}
	if !measured(&g, r, TapFileName) {
		return g
	}
	var seen, filtered, written, dropped int64
	for _, rep := range r.Find(TapFileName).Reps {
		seen += max(rep.Counters["tap.seen"], 0)
		filtered += max(rep.Counters["tap.filtered"], 0)
		written += max(rep.Counters["tap.written"], 0)
		dropped += max(rep.Counters["tap.dropped"], 0)
	}
	if seen-filtered <= 0 {
		g.Status, g.Detail = GoalNotRun, "the tap saw no frame (no tap counters in the reps)"
		return g
	}
	v := float64(written) / float64(seen-filtered)
	g.Value = Num(v)
	g.Status = verdict(v >= needTapCaptured, v)
	g.Detail = fmt.Sprintf("%d of %d frames written over the reps (%.2f%%); %d found the tap's queue full",
		written, seen-filtered, 100*v, dropped)
	return g
}

func stackCost(r *Run) Goal {
	g := Goal{ID: "stack-vs-gvisor", Target: "rxpath's stack >= 5× cheaper per packet than gVisor netstack", Need: needStackVsGVisor, Value: NaN}
	if !measured(&g, r, StackRxpathName, StackGVisorName) {
		return g
	}
	a, b := r.Find(StackRxpathName), r.Find(StackGVisorName)
	v := Ratio(b.Summary.NSPerPacket, a.Summary.NSPerPacket)
	g.Value = Num(v)
	g.Status = verdict(v >= needStackVsGVisor, v)
	g.Detail = fmt.Sprintf("gVisor %.1f ns/pkt (%.2f allocs) / rxpath %.1f ns/pkt (%.2f allocs), UDP delivery",
		b.Summary.NSPerPacket.Median, b.Summary.AllocsPerPacket.Median,
		a.Summary.NSPerPacket.Median, a.Summary.AllocsPerPacket.Median)
	return g
}

// stackCostTCP compares the stacks on in-order TCP segments. gVisor
// processes TCP segments on goroutines of its own, so the comparison is
// of process CPU time, not of the measuring thread's wall time.
func stackCostTCP(r *Run) Goal {
	g := Goal{ID: "stack-vs-gvisor-tcp", Target: "rxpath's TCP >= 5× cheaper per in-order segment than gVisor (CPU)", Need: needStackVsGVisor, Value: NaN}
	if !measured(&g, r, StackRxpathTCPName, StackGVisorTCPName) {
		g.Informational = true
		return g
	}
	a, b := r.Find(StackRxpathTCPName), r.Find(StackGVisorTCPName)
	v := Ratio(b.Summary.CPUNSPkt, a.Summary.CPUNSPkt)
	g.Value = Num(v)
	g.Status = verdict(v >= needStackVsGVisor, v)
	if math.IsNaN(v) {
		g.Detail = "no process CPU time measured (needs Linux)"
		g.Informational = true
		return g
	}
	g.Detail = fmt.Sprintf("gVisor %.1f CPU ns/seg (%.1f wall, %.2f allocs) / rxpath %.1f CPU ns/seg (%.1f wall, %.2f allocs)",
		b.Summary.CPUNSPkt.Median, b.Summary.NSPerPacket.Median, b.Summary.AllocsPerPacket.Median,
		a.Summary.CPUNSPkt.Median, a.Summary.NSPerPacket.Median, a.Summary.AllocsPerPacket.Median)
	return info(g, "not an issue goal")
}

// tcpGoodput: tcp-rxpath's median goodput over tcp-kernel's.
func tcpGoodput(r *Run) Goal {
	return tcpGoal(r, "tcp-goodput-vs-kernel", "goodput", ">=", needTCPVsKernel,
		func(s Summary) Stat { return s.GoodputGbps }, "median goodput %.2f Gbit/s [%.2f–%.2f] / %.2f Gbit/s [%.2f–%.2f]")
}

// tcpCPUPerByte: tcp-rxpath's median CPU per byte over tcp-kernel's; lower
// is better.
func tcpCPUPerByte(r *Run) Goal {
	return tcpGoal(r, "tcp-cpu-per-byte-vs-kernel", "CPU per byte", "<=", needTCPCPUVsKernel,
		func(s Summary) Stat { return s.CPUNSByte },
		"median %.3f CPU ns/byte [%.3f–%.3f] / %.3f [%.3f–%.3f] (every thread but the client's + softirq)")
}

// tcpGoal: tcp-rxpath's median figure (pick) over tcp-kernel's, at least
// need (cmp ">=") or at most need (cmp "<="); detail formats the two
// medians with their ranges.
func tcpGoal(r *Run, id, what, cmp string, need float64, pick func(Summary) Stat, detail string) Goal {
	g := Goal{ID: id, Target: fmt.Sprintf("%s %s %s %.2f × %s", TCPRxpathName, what, cmp, need, TCPKernelName), Need: need, Value: NaN}
	if !measured(&g, r, TCPRxpathName, TCPKernelName) {
		return g
	}
	sa, sb := r.Find(TCPRxpathName), r.Find(TCPKernelName)
	a, b := pick(sa.Summary), pick(sb.Summary)
	v := Ratio(a, b)
	g.Value = Num(v)
	ok := v >= need
	if cmp == "<=" {
		ok = v <= need
	}
	g.Status = verdict(ok, v)
	g.Detail = fmt.Sprintf(detail, a.Median, a.Min, a.Max, b.Median, b.Min, b.Max) + StealNote(sa, sb)
	return g
}

// httpGoal: http-rxpath's median rate from one tool over http-kernel's.
func httpGoal(r *Run, id, tool string, rate, p99 func(*Scenario) Stat) Goal {
	g := Goal{ID: id, Target: fmt.Sprintf("%s req/s >= %.2f × %s (%s)", HTTPRxpathName, needHTTPVsKernel, HTTPKernelName, tool),
		Need: needHTTPVsKernel, Value: NaN}
	if !measured(&g, r, HTTPRxpathName, HTTPKernelName) {
		return g
	}
	a, b := r.Find(HTTPRxpathName), r.Find(HTTPKernelName)
	ra, rb := rate(a), rate(b)
	v := Ratio(ra, rb)
	g.Value = Num(v)
	g.Status = verdict(v >= needHTTPVsKernel, v)
	g.Detail = fmt.Sprintf("median %.0f req/s [%.0f–%.0f] / %.0f req/s [%.0f–%.0f]; p99 %.2f ms / %.2f ms",
		ra.Median, ra.Min, ra.Max, rb.Median, rb.Min, rb.Max, p99(a).Median, p99(b).Median) + StealNote(a, b)
	return g
}

// memGoal: rxpath's median bytes per connection (or entry) of the
// conn-memory row are at most need and at most the kernel's.
func memGoal(r *Run, id, what string, need float64, pick func(Summary) (rx, kernel Stat)) Goal {
	g := Goal{ID: id, Target: fmt.Sprintf("rxpath %s <= %.0f and <= the kernel's", what, need), Need: need, Value: NaN}
	if !measured(&g, r, ConnMemoryName) {
		return g
	}
	s := r.Find(ConnMemoryName)
	rx, k := pick(s.Summary)
	if !rx.Valid() {
		g.Status, g.Detail = GoalNotRun, "no rxpath figure in the row's repetitions"
		return g
	}
	v := rx.Median
	g.Value = Num(v)
	conns := 0
	if len(s.Mem) > 0 {
		conns = s.Mem[0].Conns
	}
	g.Detail = fmt.Sprintf("rxpath %.0f B [%.0f–%.0f] (Go heap)", rx.Median, rx.Min, rx.Max)
	if !k.Valid() {
		g.Status = GoalMiss
		if v <= need {
			g.Status = GoalNotRun
		}
		g.Detail += fmt.Sprintf(", no kernel figure to compare with; %d reps of %d connections", len(s.Mem), conns)
		return g
	}
	g.Status = verdict(v <= need && v <= k.Median, v)
	g.Detail += fmt.Sprintf(" vs kernel %.0f B [%.0f–%.0f] (server's slab); %d reps of %d connections", k.Median, k.Min, k.Max, len(s.Mem), conns)
	return g
}
