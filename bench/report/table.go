package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// WriteTable writes the run as text tables: the live scenarios, the stack
// cost rows, the goals and the notes. Every row of the run appears,
// measured or not.
func WriteTable(w io.Writer, r *Run) error {
	var b strings.Builder
	writeHeader(&b, r)
	t := tablesOf(r)
	for _, sec := range []struct {
		rows  []*Scenario
		write func(*strings.Builder, []*Scenario)
	}{{t.live, writeLive}, {t.tcp, writeTCP}, {t.http, writeHTTP}, {t.mem, writeConnMemory}, {t.capacity, writeCapacity}, {t.cost, writeCost}} {
		if len(sec.rows) > 0 {
			b.WriteString("\n")
			sec.write(&b, sec.rows)
		}
	}
	if len(r.Goals) > 0 {
		b.WriteString("\n")
		writeGoals(&b, r.Goals)
	}
	writeNotes(&b, r)
	_, err := io.WriteString(w, b.String())
	return err
}

// tables is a run's rows by the table they go in.
type tables struct {
	live, tcp, capacity, cost, http, mem []*Scenario
}

func tablesOf(r *Run) tables {
	var t tables
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		switch {
		case s.Kind == KindHTTP:
			t.http = append(t.http, s)
		case s.Kind == KindConnMemory:
			t.mem = append(t.mem, s)
		case s.Kind == KindStackCost:
			t.cost = append(t.cost, s)
		case s.Kind == KindCapacity:
			t.capacity = append(t.capacity, s)
		case s.TCP():
			t.tcp = append(t.tcp, s)
		default:
			t.live = append(t.live, s)
		}
	}
	return t
}

func writeHeader(b *strings.Builder, r *Run) {
	st := r.Settings
	fmt.Fprintf(b, "rxbench (%s): %d reps × %v after a %v warm-up per scenario; generator %s on CPU %s, receiver on CPU %s, nice %d\n",
		st.Mode, st.Reps, time.Duration(st.DurationNS), time.Duration(st.WarmupNS), st.Generator, ints(st.GenCPUs), ints(st.RxCPUs), st.Nice)
	for _, r := range st.GeneratorRefused {
		fmt.Fprintf(b, "  passed over: %s\n", r)
	}
	q := "queue"
	if st.Queues != 1 {
		q = "queues"
	}
	fl := "flow"
	if st.Flows != 1 {
		fl = "flows"
	}
	poll := "rxpath pollers: default (adaptive: spin while traffic flows, sleep in poll(2) after real idleness)"
	if st.BusySpin {
		poll = "rxpath pollers: spin, never sleep"
	}
	fmt.Fprintf(b, "lab %s: veth pair, %d %s, %d %s; %s; kernel %s, %d CPUs, %s\n",
		st.Lab, st.Queues, q, st.Flows, fl, poll, r.Machine.Kernel, r.Machine.CPUs, r.Machine.GoVersion)
	if st.Isolated {
		fmt.Fprintf(b, "isolated: own scheduling group at nice -20; load average at start %s, at end %s\n",
			orDash(r.Machine.LoadAvgStart), orDash(r.Machine.LoadAvgEnd))
	} else {
		fmt.Fprintf(b, "load average at start %s, at end %s: other work on the machine shares the CPUs and shows up as noise\n"+
			"  and softirq time (rxbench --isolate gives the run its own scheduling group at nice -20)\n",
			orDash(r.Machine.LoadAvgStart), orDash(r.Machine.LoadAvgEnd))
	}
	b.WriteString("figures: median [min – max] over reps; rates over the generator's send time; loss columns are frames per rep (median)\n")
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nameWidth(rows []*Scenario, min int) int {
	w := min
	for _, s := range rows {
		w = max(w, len(s.Name))
	}
	return w
}

func writeLive(b *strings.Builder, rows []*Scenario) {
	nw := nameWidth(rows, 20)
	fmt.Fprintf(b, "%-*s %5s %6s  %-23s %6s %7s  %6s %6s %6s %6s %6s %6s  %-21s %6s  %5s %5s %7s\n",
		nw, "scenario", "frame", "sent", "rx Mpps", "Gbit/s", "loss",
		"veth", "ring", "fill", "stack", "sock", "other", "CPU ns/pkt", "busy", "×xsk", "×ceil", "×kernel")
	fmt.Fprintf(b, "%-*s %5s %6s  %-23s %6s %7s  %-41s  %-21s %6s  %5s %5s %7s\n",
		nw, "", "B", "Mpps", "", "", "", "-- lost where (frames/rep) --", "all threads+softirq", "ns/pkt", "", "", "")
	for _, s := range rows {
		if !s.OK() {
			writeUnmeasured(b, nw, s)
			continue
		}
		m := s.Summary
		fmt.Fprintf(b, "%-*s %5d %6.3f  %-23s %6.2f %7s  %6s %6s %6s %6s %6s %6s  %-21s %6s  %5s %5s %7s\n",
			nw, s.Name, s.FrameLen, m.SentMpps.Median, spread(m.RxMpps, "%.3f"), m.Gbps.Median, pct(m.LossPct.Median),
			count(m.LossVeth.Median), count(m.LossRingFull.Median), count(m.LossFillEmpty.Median),
			count(m.LossStack.Median), count(m.LossSocket.Median), count(m.LossUnaccounted.Median),
			spread(m.CPUNSPkt, "%.0f"), median(m.BusyNSPkt, "%.0f"), ratio(m.VsXSK), ratio(m.VsCeiling), ratio(m.VsKernel))
	}
	b.WriteString("lost where: veth = dropped by the veth (ring overflow, XDP drop, failed redirect); ring = AF_XDP rx ring or AF_PACKET ring full;\n" +
		"  fill = AF_XDP fill ring empty; stack = dropped by the stack; sock = socket queue overflow; other = lost with no counter to say where\n" +
		"CPU ns/pkt = (CPU time of every thread of the process but the generator's: receiver threads, readers, the tap's writer,\n" +
		"  timers, GC, runtime; + softirq time on all CPUs) / packets received. busy ns/pkt = the same less the receiver's idle\n" +
		"  passes (loop passes that found no frame, each at the CPU cost of one idle pass of that receiver, measured after its\n" +
		"  warm-up with no traffic, or for a poller that would sleep, with frames trickling in every 40µs then 15µs and their own\n" +
		"  cost fitted out): a spinner's CPU is its whole core whatever the rate, its busy time is what the packets cost, so a\n" +
		"  spinner and a sleeper compare on busy; for a receiver that sleeps in the kernel when idle (blocking recvmmsg,\n" +
		"  asavie's poll), busy = CPU. rxpath's pollers time their own rounds (from a round's first frames to its refill):\n" +
		"  for them busy = CPU with the pollers' threads' CPU replaced by that time, measured rather than modelled.\n" +
		"  Softirq time is read from /proc/stat, which the kernel's tick samples (10 ms units): over a short rep a cheap path may read 0\n" +
		"×xsk = rx rate / xsk-minimal's (the smallest correct AF_XDP receiver, spinning, no stack) at the same frame size: the fair\n" +
		"  ratio for an AF_XDP receiver. ×ceil = rx rate / the ceiling's (XDP drop): an upper bound that no AF_XDP receiver reaches\n" +
		"  on veth, where the sending CPU runs the DUT's XDP program and the copy into UMEM, so redirecting to a socket costs the\n" +
		"  sender more than dropping. ×kernel = rx rate / kernel-recvmmsg's at the same frame size\n")
}

// writeCapacity writes the rows that measure one poller core fed from
// memory: no generator, no kernel, so no loss split or ratio.
func writeCapacity(b *strings.Builder, rows []*Scenario) {
	b.WriteString("capacity: one poller core fed by a NIC in memory (a producer thread on another CPU plays the NIC), no kernel\n")
	nw := nameWidth(rows, 20)
	fmt.Fprintf(b, "%-*s %5s %6s  %-23s %8s %7s  %-21s %6s\n", nw, "scenario", "frame", "sent", "rx Mpps", "ns/frame", "loss", "CPU ns/pkt", "busy")
	for _, s := range rows {
		if !s.OK() {
			writeUnmeasured(b, nw, s)
			continue
		}
		m := s.Summary
		perFrame := "-"
		if m.RxMpps.Valid() && m.RxMpps.Median > 0 {
			perFrame = fmt.Sprintf("%.1f", 1e3/m.RxMpps.Median)
		}
		fmt.Fprintf(b, "%-*s %5d %6.3f  %-23s %8s %7s  %-21s %6s\n", nw, s.Name, s.FrameLen, m.SentMpps.Median,
			spread(m.RxMpps, "%.3f"), perFrame, pct(m.LossPct.Median), spread(m.CPUNSPkt, "%.1f"), median(m.BusyNSPkt, "%.1f"))
	}
	b.WriteString("ns/frame = 1000 / rx Mpps: the poller's time per frame at its full rate; CPU and busy ns/pkt as above, the\n" +
		"  producer thread (the NIC) left out\n")
}

func writeTCP(b *strings.Builder, rows []*Scenario) {
	b.WriteString("TCP: one kernel TCP client in the peer namespace streams to the receiver for the send time\n")
	nw := nameWidth(rows, 20)
	fmt.Fprintf(b, "%-*s %5s %6s  %-23s %7s %6s  %6s %6s %6s %6s %6s %6s  %-23s %7s\n",
		nw, "scenario", "frame", "sent", "goodput Gbit/s", "loss", "retx",
		"veth", "ring", "fill", "stack", "sock", "other", "CPU ns/byte", "×kernel")
	fmt.Fprintf(b, "%-*s %5s %6s  %-23s %7s %6s  %-41s  %-23s\n",
		nw, "", "B", "Gbit/s", "(bytes the app got)", "segs", "segs", "-- lost where (segments/rep) --", "all threads+softirq")
	for _, s := range rows {
		if !s.OK() {
			writeUnmeasured(b, nw, s)
			continue
		}
		m := s.Summary
		fmt.Fprintf(b, "%-*s %5d %6.2f  %-23s %7s %6s  %6s %6s %6s %6s %6s %6s  %-23s %7s\n",
			nw, s.Name, s.FrameLen, m.SentGbps.Median, spread(m.GoodputGbps, "%.2f"), pct(m.LossPct.Median), count(m.Retrans.Median),
			count(m.LossVeth.Median), count(m.LossRingFull.Median), count(m.LossFillEmpty.Median),
			count(m.LossStack.Median), count(m.LossSocket.Median), count(m.LossUnaccounted.Median),
			spread(m.CPUNSByte, "%.3f"), ratio(m.VsKernel))
	}
	b.WriteString("sent = what the client's writes handed to its socket; goodput = stream bytes delivered to the receiving application,\n" +
		"  both over the send time; loss = segments sent (retransmissions included) that never reached the receiver's TCP;\n" +
		"  retx = segments the client retransmitted (per rep); CPU ns/byte = (CPU time of every thread of the process but the\n" +
		"  client's + softirq time on all CPUs) over the send time / bytes delivered in it (on veth, sending an ACK runs the\n" +
		"  client's ACK processing, and the data it releases, in the sending context: both rows' CPU includes some of the\n" +
		"  sender's work); ×kernel compares median goodput with tcp-kernel. A stream has no ceiling row: its sender is the\n" +
		"  kernel's TCP, not the frame generator\n")
}

// writeHTTP writes the HTTP rows: wrk (keep-alive) and ab (a new
// connection per request) against the same net/http handler.
func writeHTTP(b *strings.Builder, rows []*Scenario) {
	b.WriteString("HTTP: net/http, the same handler, on rxpath's TCP listener or a kernel socket; wrk and ab in the peer namespace\n")
	nw := nameWidth(rows, 20)
	fmt.Fprintf(b, "%-*s  %-26s %8s %9s %7s  %-26s %8s %9s %7s\n", nw, "scenario",
		"keep-alive req/s (wrk)", "p99 ms", "CPU µs/req", "×kernel", "new conn req/s (ab)", "p99 ms", "CPU µs/req", "×kernel")
	for _, s := range rows {
		if !s.OK() {
			writeUnmeasured(b, nw, s)
			continue
		}
		m := s.Summary
		fmt.Fprintf(b, "%-*s  %-26s %8s %9s %7s  %-26s %8s %9s %7s\n", nw, s.Name,
			spread(m.KeepAliveRPS, "%.0f"), median(m.KeepAliveP99MS, "%.2f"), median(m.KeepAliveCPUUS, "%.1f"), ratio(m.VsKernel),
			spread(m.ConnectRPS, "%.0f"), median(m.ConnectP99MS, "%.0f"), median(m.ConnectCPUUS, "%.1f"), ratio(m.VsKernelConnect))
	}
	if len(rows) > 0 && len(rows[0].HTTP) > 0 {
		h := rows[0].HTTP[0]
		fmt.Fprintf(b, "wrk: %s; ab: %s (client on the generator CPU, server on the receiver CPU)\n", h.Wrk.Command, h.AB.Command)
	}
	b.WriteString("req/s = the tool's own rate; p99 = its 99th percentile latency (ab's includes the connect, in whole ms);\n" +
		"  CPU µs/req = (the server process's CPU + softirq time on all CPUs) / requests; ×kernel compares with http-kernel\n")
}

// writeConnMemory writes the conn-memory row: bytes per idle connection
// and per TIME_WAIT entry, rxpath's and the kernel's.
func writeConnMemory(b *strings.Builder, rows []*Scenario) {
	b.WriteString("connection memory: bytes per idle ESTABLISHED connection and per TIME_WAIT entry, server side\n")
	nw := nameWidth(rows, 20)
	fmt.Fprintf(b, "%-*s %6s  %-22s %-22s  %-22s %-22s\n", nw, "scenario", "conns",
		"idle B/conn rxpath", "idle B/conn kernel", "TIME_WAIT B rxpath", "TIME_WAIT B kernel")
	for _, s := range rows {
		if !s.OK() {
			writeUnmeasured(b, nw, s)
			continue
		}
		m := s.Summary
		conns := 0
		if len(s.Mem) > 0 {
			conns = s.Mem[0].Conns
		}
		fmt.Fprintf(b, "%-*s %6d  %-22s %-22s  %-22s %-22s\n", nw, s.Name, conns,
			spread(m.IdleBytesRxpath, "%.0f"), spread(m.IdleBytesKernel, "%.0f"),
			spread(m.TimeWaitBytesRxpath, "%.0f"), spread(m.TimeWaitBytesKernel, "%.0f"))
	}
	b.WriteString("rxpath = Go heap live bytes (runtime/metrics /gc/heap/live:bytes after runtime.GC) over the connections, from\n" +
		"  before the first; kernel = /proc/slabinfo bytes (Δ active objects × object size) of TCP, tw_sock_TCP,\n" +
		"  request_sock_TCP, sock_inode_cache, filp and dentry with a kernel server, less the same delta with the rxpath\n" +
		"  server (the client's sockets alone); slabinfo is machine-wide, so other work on the machine is noise here\n")
}

func writeUnmeasured(b *strings.Builder, nw int, s *Scenario) {
	fmt.Fprintf(b, "%-*s %s\n", nw, s.Name, unmeasured(s))
}

// unmeasured says why a row has no figures: its status and reason.
func unmeasured(s *Scenario) string {
	if s.Reason != "" {
		return string(s.Status) + ": " + s.Reason
	}
	return string(s.Status)
}

func writeCost(b *strings.Builder, rows []*Scenario) {
	b.WriteString("stack cost: the same frames fed to each stack through a poller (no kernel), drained by the app after every round;\n" +
		"  UDP: replayed datagrams to one bound socket; TCP: one connection's in-order segments after a handshake, read with Read\n")
	nw := nameWidth(rows, 20)
	fmt.Fprintf(b, "%-*s %5s %5s  %-27s %-27s %10s %8s %8s\n", nw, "scenario", "frame", "proto", "ns/pkt (wall)", "CPU ns/pkt (process)", "allocs/pkt", "×gVisor", "×gV CPU")
	for _, s := range rows {
		if !s.OK() {
			writeUnmeasured(b, nw, s)
			continue
		}
		m := s.Summary
		fmt.Fprintf(b, "%-*s %5d %5s  %-27s %-27s %10.2f %8s %8s\n", nw, s.Name, s.FrameLen, protoName(s.Proto), spread(m.NSPerPacket, "%.1f"),
			spread(m.CPUNSPkt, "%.1f"), m.AllocsPerPacket.Median, ratio(m.VsGVisor), ratio(m.VsGVisorCPU))
	}
	b.WriteString("ns/pkt = wall time of the measuring thread; CPU ns/pkt = CPU time of every thread of the process (the stacks' own\n" +
		"  goroutines, the GC) over the same sections: gVisor hands TCP segments to processor goroutines, which the wall time on\n" +
		"  a multi-core machine does not fully see; ×gVisor compares with the gVisor row of the same transport\n")
}

func protoName(p Proto) string {
	if p == "" {
		return string(ProtoUDP)
	}
	return string(p)
}

func writeGoals(b *strings.Builder, goals []Goal) {
	b.WriteString("goals\n")
	tw := 0
	for _, g := range goals {
		tw = max(tw, len([]rune(g.Target)))
	}
	for _, g := range goals {
		mark := map[GoalStatus]string{GoalPass: "pass", GoalMiss: "MISS", GoalInfo: "info", GoalNotRun: "----"}[g.Status]
		val := "-"
		if g.Value.Valid() {
			val = fmt.Sprintf("%.3g", float64(g.Value))
		}
		pad := tw - len([]rune(g.Target))
		fmt.Fprintf(b, "  %-4s  %s%s  %7s  %s\n", mark, g.Target, strings.Repeat(" ", pad), val, g.Detail)
	}
}

func writeNotes(b *strings.Builder, r *Run) {
	var notes []string
	for _, s := range r.Scenarios {
		for _, n := range s.Notes {
			notes = append(notes, s.Name+": "+n)
		}
	}
	notes = append(notes, r.Notes...)
	if len(notes) == 0 {
		return
	}
	b.WriteString("\nnotes\n")
	for _, n := range notes {
		fmt.Fprintf(b, "  - %s\n", n)
	}
}

// spread formats a Stat as "median [min – max]".
func spread(s Stat, f string) string { return spreadSep(s, f, " – ") }

// spreadSep is spread with sep between min and max.
func spreadSep(s Stat, f, sep string) string {
	if !s.Valid() {
		return "-"
	}
	return fmt.Sprintf(f+" ["+f+sep+f+"]", s.Median, s.Min, s.Max)
}

// median formats a Stat's median alone.
func median(s Stat, f string) string {
	if !s.Valid() {
		return "-"
	}
	return fmt.Sprintf(f, s.Median)
}

func pct(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == 0:
		return "0%"
	case math.Abs(v) < 0.01:
		return fmt.Sprintf("%.3f%%", v)
	}
	return fmt.Sprintf("%.2f%%", v)
}

// count formats a frame count briefly: 0, 950, 12.3k, 4.56M.
func count(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "-"
	case a < 1000:
		return fmt.Sprintf("%.0f", v)
	case a < 1e6:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.2fM", v/1e6)
}

func ratio(v Num) string {
	if !v.Valid() {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(v))
}
