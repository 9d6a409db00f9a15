package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/poller"
)

// intervalLines is the live stats for one interval: the totals line, the
// stack's counters when stack is not empty, then one compact line per
// queue.
func intervalLines(prev, cur rxpath.Snapshot, stack string) []string {
	lines := []string{statsLine(prev, cur)}
	if stack != "" {
		lines = append(lines, "  stack "+stack)
	}
	dt := cur.Elapsed - prev.Elapsed
	if dt <= 0 {
		dt = 1
	}
	for i, q := range cur.Queues {
		var p poller.Stats
		if i < len(prev.Queues) && prev.Queues[i].Queue == q.Queue {
			p = prev.Queues[i]
		}
		lines = append(lines, queueLine(p, q, dt))
	}
	return lines
}

// queueLine is one queue's line: rates, drops by place, ring fill levels,
// and how busy the poller was (the share of passes that found frames, and
// rounds cut short by the budget, as in softnet_stat's time_squeeze).
func queueLine(p, q poller.Stats, dt float64) string {
	k, pk := q.Driver.Kernel, p.Driver.Kernel
	pps := float64(q.Processed-p.Processed) / dt
	bps := float64(q.Driver.RxBytes-p.Driver.RxBytes) * 8 / dt
	busy, idle := q.BusyPasses-p.BusyPasses, q.IdlePasses-p.IdlePasses
	busyPct := 0.0
	if busy+idle > 0 {
		busyPct = 100 * float64(busy) / float64(busy+idle)
	}
	rings := "rings -"
	if q.Driver.RxRingSize > 0 {
		rings = fmt.Sprintf("rings rx %d/%d fill %d/%d", q.Driver.RxRingLevel, q.Driver.RxRingSize, q.Driver.FillRingLevel, q.Driver.FillRingSize)
	}
	return fmt.Sprintf("  q%-2d %8.3f Mpps %7.3f Gbit/s | drops fill_empty=%d ring_full=%d xdp_dropped=%d invalid=%d | %s | busy %5.1f%% squeeze=%d",
		q.Queue, pps/1e6, bps/1e9,
		k.RxFillRingEmpty-pk.RxFillRingEmpty, k.RxRingFull+k.RxFrozen-pk.RxRingFull-pk.RxFrozen, k.RxDropped-pk.RxDropped,
		q.Driver.RxInvalid+k.RxInvalidDescs-p.Driver.RxInvalid-pk.RxInvalidDescs,
		rings, busyPct, q.TimeSqueeze-p.TimeSqueeze)
}

// liveView prints the interval lines. On a terminal it redraws them in
// place; otherwise (a pipe, a file, a journal) it prints them as plain
// lines, every interval.
type liveView struct {
	w     io.Writer
	fd    int // the terminal's, or -1
	drawn int // lines drawn by the last show on a terminal
}

func newLiveView(w io.Writer) *liveView {
	v := &liveView{w: w, fd: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.fd = int(f.Fd())
	}
	return v
}

func (v *liveView) show(lines []string) {
	var b strings.Builder
	tty := v.fd >= 0
	width := 0
	if tty {
		// A line wider than the terminal wraps and the redraw would
		// climb too few lines: cut it at the edge.
		if w, _, err := term.GetSize(v.fd); err == nil && w > 1 {
			width = w - 1
		}
	}
	if tty && v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn) // back to the first line
	}
	for _, l := range lines {
		if tty {
			b.WriteString("\x1b[2K") // clear the old line
			if width > 0 && len(l) > width {
				l = l[:width]
			}
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if tty {
		v.drawn = len(lines)
	}
	io.WriteString(v.w, b.String())
}

// forget makes the next show start below whatever was printed since: a
// log line must not be overwritten.
func (v *liveView) forget() { v.drawn = 0 }
