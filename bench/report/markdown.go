package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// WriteMarkdown writes the run's figures as Markdown tables, the form
// README.md's Performance section quotes: the live UDP rows, the memnic
// capacity rows, TCP, the stack cost, HTTP, connection memory and the
// goals. The text tables (WriteTable) explain the columns; a row that
// was not measured says why.
func WriteMarkdown(w io.Writer, r *Run) error {
	var b strings.Builder
	t := tablesOf(r)
	sections := []struct {
		rows   []*Scenario
		header []string
		cells  func(*Scenario) []string
	}{
		{t.live, []string{"scenario", "frame", "rx Mpps [min–max]", "loss", "CPU ns/pkt", "busy ns/pkt", "×xsk", "×ceiling", "×kernel"},
			func(s *Scenario) []string {
				m := s.Summary
				return []string{fmt.Sprint(s.FrameLen), mdSpread(m.RxMpps, "%.3f"), pct(m.LossPct.Median), median(m.CPUNSPkt, "%.0f"),
					median(m.BusyNSPkt, "%.0f"), ratio(m.VsXSK), ratio(m.VsCeiling), ratio(m.VsKernel)}
			}},
		{t.capacity, []string{"capacity, driver/memnic (a NIC in memory, poller on one core)", "Mpps [min–max]", "CPU ns/pkt", "loss"},
			func(s *Scenario) []string {
				m := s.Summary
				return []string{mdSpread(m.RxMpps, "%.2f"), median(m.CPUNSPkt, "%.1f"), pct(m.LossPct.Median)}
			}},
		{t.tcp, []string{"TCP, one kernel client streaming", "goodput Gbit/s [min–max]", "loss", "CPU ns/byte", "×kernel"},
			func(s *Scenario) []string {
				m := s.Summary
				return []string{mdSpread(m.GoodputGbps, "%.2f"), pct(m.LossPct.Median), median(m.CPUNSByte, "%.3f"), ratio(m.VsKernel)}
			}},
		{t.cost, []string{"stack cost (replay, no kernel)", "ns/pkt wall", "CPU ns/pkt", "allocs/pkt", "×gVisor (CPU)"},
			func(s *Scenario) []string {
				m := s.Summary
				return []string{median(m.NSPerPacket, "%.1f"), median(m.CPUNSPkt, "%.1f"), median(m.AllocsPerPacket, "%.2f"),
					ratio(m.VsGVisor) + " (" + ratio(m.VsGVisorCPU) + ")"}
			}},
		{t.http, []string{"HTTP (net/http, one handler)", "keep-alive req/s, wrk [min–max]", "p99 ms", "CPU µs/req", "×kernel",
			"new connection req/s, ab [min–max]", "p99 ms", "CPU µs/req", "×kernel"},
			func(s *Scenario) []string {
				m := s.Summary
				return []string{mdCount(m.KeepAliveRPS), median(m.KeepAliveP99MS, "%.2f"), median(m.KeepAliveCPUUS, "%.1f"), ratio(m.VsKernel),
					mdCount(m.ConnectRPS), median(m.ConnectP99MS, "%.0f"), median(m.ConnectCPUUS, "%.1f"), ratio(m.VsKernelConnect)}
			}},
	}
	for _, sec := range sections {
		if len(sec.rows) == 0 {
			continue
		}
		mdRow(&b, sec.header)
		mdRow(&b, slices.Repeat([]string{"---"}, len(sec.header)))
		for _, s := range sec.rows {
			if !s.OK() {
				cells := slices.Repeat([]string{"-"}, len(sec.header))
				cells[0], cells[1] = s.Name, unmeasured(s)
				mdRow(&b, cells)
				continue
			}
			mdRow(&b, append([]string{s.Name}, sec.cells(s)...))
		}
		b.WriteString("\n")
	}
	for _, s := range t.mem {
		mdRow(&b, []string{s.Name + " (server side)", "rxpath (Go heap)", "kernel (slab)"})
		mdRow(&b, slices.Repeat([]string{"---"}, 3))
		if !s.OK() {
			mdRow(&b, []string{"-", unmeasured(s), "-"})
		} else {
			m := s.Summary
			mdRow(&b, []string{"bytes per idle ESTABLISHED connection", mdCount(m.IdleBytesRxpath), mdCount(m.IdleBytesKernel)})
			mdRow(&b, []string{"bytes per TIME_WAIT entry", mdCount(m.TimeWaitBytesRxpath), mdCount(m.TimeWaitBytesKernel)})
		}
		b.WriteString("\n")
	}
	if len(r.Goals) > 0 {
		mdRow(&b, []string{"goal", "status", "measured", "detail"})
		mdRow(&b, slices.Repeat([]string{"---"}, 4))
		for _, g := range r.Goals {
			val := "-"
			if g.Value.Valid() {
				val = fmt.Sprintf("%.3g", float64(g.Value))
			}
			mdRow(&b, []string{"`" + g.ID + "`", goalMark(g.Status), val, g.Detail})
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func goalMark(s GoalStatus) string {
	return map[GoalStatus]string{GoalPass: "pass", GoalMiss: "MISS", GoalInfo: "info", GoalNotRun: "not run"}[s]
}

// mdRow writes one table row; a "|" inside a cell is escaped.
func mdRow(b *strings.Builder, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
	}
	b.WriteString("\n")
}

// mdSpread formats a Stat as "median [min–max]".
func mdSpread(s Stat, f string) string { return spreadSep(s, f, "–") }

// mdCount formats a Stat of whole numbers as "12,345 [12,001–13,020]".
func mdCount(s Stat) string {
	if !s.Valid() {
		return "-"
	}
	return thousands(s.Median) + " [" + thousands(s.Min) + "–" + thousands(s.Max) + "]"
}

// thousands formats v rounded to a whole number with comma separators.
func thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
