package report

import (
	"fmt"
	"math"
)

// GoalStatus is the verdict on one goal.
type GoalStatus string

// Goal verdicts. A goal whose scenarios were not measured is reported as
// such, never left out.
const (
	GoalPass        GoalStatus = "pass"
	GoalMiss        GoalStatus = "miss"
	GoalNotMeasured GoalStatus = "not measured"
)

// Goal is one target of the benchmark issue with its measured value.
type Goal struct {
	ID     string     `json:"id"`
	Target string     `json:"target"` // in words, e.g. "rxpath-udp-handler >= 0.95 × ceiling"
	Value  Num        `json:"value"`  // the measured ratio or count
	Need   float64    `json:"need"`   // the threshold the value is compared with
	Status GoalStatus `json:"status"`
	Detail string     `json:"detail"` // how the value was obtained, or why it is missing
	// Informational goals are not targets of the benchmark issue: they
	// are reported beside the others, marked "info" in the table.
	Informational bool `json:"informational,omitempty"`
}

// EvaluateGoals checks the goals of the benchmark against r's rows, whose
// summaries must be computed (Finalize does both).
func EvaluateGoals(r *Run) []Goal {
	ratio := func(id, target, a, b string, need float64) Goal {
		g := Goal{ID: id, Target: target, Need: need, Value: NaN}
		sa, sb := r.Find(a), r.Find(b)
		switch {
		case sa == nil || sb == nil:
			g.Status, g.Detail = GoalNotMeasured, missing(r, a, b)
			return g
		case !sa.OK() || !sb.OK():
			g.Status, g.Detail = GoalNotMeasured, notOK(sa, sb)
			return g
		}
		v := Ratio(sa.Summary.RxMpps, sb.Summary.RxMpps)
		g.Value = Num(v)
		g.Status = verdict(v >= need, v)
		g.Detail = fmt.Sprintf("median rx %.3f Mpps [%.3f–%.3f] / %.3f Mpps [%.3f–%.3f]",
			sa.Summary.RxMpps.Median, sa.Summary.RxMpps.Min, sa.Summary.RxMpps.Max,
			sb.Summary.RxMpps.Median, sb.Summary.RxMpps.Min, sb.Summary.RxMpps.Max)
		return g
	}
	goals := []Goal{
		ratio("handler-vs-ceiling", "rxpath-udp-handler >= 0.95 × ceiling", "rxpath-udp-handler", CeilingName, 0.95),
		ratio("handler-vs-kernel", "rxpath-udp-handler >= 1.8 × kernel-recvmmsg", "rxpath-udp-handler", KernelName, 1.8),
		noLoss(r, "rxpath-udp-handler"),
		ratio("raw-vs-ceiling", "rxpath-raw >= 0.98 × ceiling", "rxpath-raw", CeilingName, 0.98),
		ratio("raw-vs-asavie", "rxpath beats asavie (rxpath-raw > asavie)", "rxpath-raw", "asavie", 1.0),
		stackCost(r),
		stackCostTCP(r),
	}
	// "Beats" is strict.
	if g := &goals[4]; g.Status == GoalPass && float64(g.Value) == 1 {
		g.Status = GoalMiss
	}
	return goals
}

func verdict(ok bool, v float64) GoalStatus {
	if math.IsNaN(v) {
		return GoalNotMeasured
	}
	if ok {
		return GoalPass
	}
	return GoalMiss
}

// noLoss: no frame lost in any repetition at the generator's full rate.
func noLoss(r *Run, name string) Goal {
	g := Goal{ID: "handler-no-loss", Target: name + " loses no frame at the generator's full rate", Need: 0, Value: NaN}
	s := r.Find(name)
	switch {
	case s == nil:
		g.Status, g.Detail = GoalNotMeasured, missing(r, name)
		return g
	case !s.OK():
		g.Status, g.Detail = GoalNotMeasured, notOK(s)
		return g
	}
	var worst int64
	var worstRep Rep
	var sent, lost uint64
	for _, rep := range s.Reps {
		sent += rep.Sent
		if l := rep.Lost(); l > 0 {
			lost += uint64(l)
		}
		if l := rep.Lost(); l > worst || worstRep.Sent == 0 {
			worst, worstRep = l, rep
		}
	}
	g.Value = Num(float64(lost))
	g.Status = verdict(lost == 0, 0)
	g.Detail = fmt.Sprintf("%d of %d frames lost over %d reps at a median %.3f Mpps sent; worst rep lost %d (%.3f%%)",
		lost, sent, len(s.Reps), s.Summary.SentMpps.Median, max(worst, 0), max(worstRep.LossPct(), 0))
	return g
}

func stackCost(r *Run) Goal {
	g := Goal{ID: "stack-vs-gvisor", Target: "rxpath's stack >= 5× cheaper per packet than gVisor netstack", Need: 5, Value: NaN}
	a, b := r.Find(StackRxpathName), r.Find(StackGVisorName)
	switch {
	case a == nil || b == nil:
		g.Status, g.Detail = GoalNotMeasured, missing(r, StackRxpathName, StackGVisorName)
		return g
	case !a.OK() || !b.OK():
		g.Status, g.Detail = GoalNotMeasured, notOK(a, b)
		return g
	}
	v := Ratio(b.Summary.NSPerPacket, a.Summary.NSPerPacket)
	g.Value = Num(v)
	g.Status = verdict(v >= 5, v)
	g.Detail = fmt.Sprintf("gVisor %.1f ns/pkt (%.2f allocs) / rxpath %.1f ns/pkt (%.2f allocs), UDP delivery",
		b.Summary.NSPerPacket.Median, b.Summary.AllocsPerPacket.Median,
		a.Summary.NSPerPacket.Median, a.Summary.AllocsPerPacket.Median)
	return g
}

// stackCostTCP compares the stacks on in-order TCP segments. gVisor
// processes TCP segments on goroutines of its own, so the comparison is
// of process CPU time, not of the measuring thread's wall time.
func stackCostTCP(r *Run) Goal {
	g := Goal{ID: "stack-vs-gvisor-tcp", Target: "rxpath's TCP >= 5× cheaper per in-order segment than gVisor (CPU)", Need: 5, Value: NaN,
		Informational: true}
	a, b := r.Find(StackRxpathTCPName), r.Find(StackGVisorTCPName)
	switch {
	case a == nil || b == nil:
		g.Status, g.Detail = GoalNotMeasured, missing(r, StackRxpathTCPName, StackGVisorTCPName)
		return g
	case !a.OK() || !b.OK():
		g.Status, g.Detail = GoalNotMeasured, notOK(a, b)
		return g
	}
	v := Ratio(b.Summary.CPUNSPkt, a.Summary.CPUNSPkt)
	g.Value = Num(v)
	g.Status = verdict(v >= 5, v)
	if math.IsNaN(v) {
		g.Detail = "no process CPU time measured (needs Linux)"
		return g
	}
	g.Detail = fmt.Sprintf("gVisor %.1f CPU ns/seg (%.1f wall, %.2f allocs) / rxpath %.1f CPU ns/seg (%.1f wall, %.2f allocs); informational, not an issue goal",
		b.Summary.CPUNSPkt.Median, b.Summary.NSPerPacket.Median, b.Summary.AllocsPerPacket.Median,
		a.Summary.CPUNSPkt.Median, a.Summary.NSPerPacket.Median, a.Summary.AllocsPerPacket.Median)
	return g
}

func missing(r *Run, names ...string) string {
	var out []string
	for _, n := range names {
		if r.Find(n) == nil {
			out = append(out, n)
		}
	}
	return fmt.Sprintf("scenario %v not selected in this run", out)
}

func notOK(rows ...*Scenario) string {
	for _, s := range rows {
		if !s.OK() {
			if s.Reason != "" {
				return fmt.Sprintf("%s %s: %s", s.Name, s.Status, s.Reason)
			}
			return fmt.Sprintf("%s %s", s.Name, s.Status)
		}
	}
	return ""
}
