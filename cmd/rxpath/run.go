package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afpacket"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/driver/faulty"
	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/netdev"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/umem"
)

func runCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	var (
		iface    = fs.String("iface", "", "interface to receive on (required)")
		queues   = fs.String("queues", "", "comma-separated rx queues to bind (default all)")
		drv      = fs.String("driver", "auto", "driver: xdp (AF_XDP), packet (AF_PACKET TPACKET_V3) or auto (AF_XDP, else AF_PACKET)")
		attach   = fs.String("attach", "auto", "XDP attach mode: auto, native or generic")
		fanout   = fs.String("fanout", "hash", "AF_PACKET fanout across sockets: hash, cpu or lb")
		sockets  = fs.Int("sockets", 0, "AF_PACKET sockets (pollers) in the fanout group (default: the interface's rx queue count)")
		cpus     = fs.String("cpus", "", "comma-separated CPUs; queue i's poller is pinned to the i-th (default: the CPU each queue's IRQ is steered to, else round robin; \"none\" leaves pollers unpinned)")
		noCheck  = fs.Bool("no-preflight", false, "skip the checks before binding (privileges, link, MTU, queues, XDP program, RLIMIT_MEMLOCK, RSS)")
		duration = fs.Duration("duration", 0, "stop after this long (default: until SIGINT/SIGTERM)")
		asJSON   = fs.Bool("json", false, "print the summary as one JSON object on stdout")
		unbound  = fs.String("unbound", "pass", "what the XDP program does with frames of unbound queues: pass or drop")
		frameSz  = fs.Int("frame-size", 4096, "UMEM frame size, 2048 or 4096")
		frames   = fs.Int("frames", 4096, "UMEM frames per queue")
		rxRing   = fs.Uint("rx-ring", uint(afxdp.DefaultOptions().RxSize), "rx and fill ring size (power of two)")
		idleSpin = fs.Duration("idle-spin", 0, "spin this long without frames before sleeping in poll(2): 0 adapts it to the traffic (50µs to 2ms), negative never sleeps")
		busyPoll = fs.Int("busy-poll", 0, "SO_BUSY_POLL microseconds (0: off)")
		interval = fs.Duration("interval", time.Second, "stats line interval (0: none)")
		ipAddr   = fs.String("ip", "", "run the stack with this IPv4 address/prefix, e.g. 10.99.0.2/24")
		gateway  = fs.String("gateway-mac", "", "next hop MAC for off-link replies")
		snaplen  = fs.Int("snaplen", 262144, "bytes of each frame the pcap keeps")
		pcapPath = fs.String("pcap", "", "capture every frame (before any filter) to this pcap file")
		pcapng   = fs.Bool("pcapng", false, "write pcapng instead of pcap")
		tapExpr  = fs.String("tap-filter", "", "capture filter in tcpdump syntax")
		portUnr  = fs.Bool("port-unreachable", false, "answer datagrams to closed UDP ports with ICMP port unreachable")
		triage   = fs.String("xdp-triage", "", "drop floods in the XDP program, before the rx ring (AF_XDP): comma-separated guards syn, arp, frag, udp, and rules (the stateless --filter rules), or all (default: off)")
		synRate  = fs.Uint("xdp-syn-rate", 0, "new SYNs a second the XDP SYN guard lets in (default 2000)")
		tapDrops = fs.Bool("tap-xdp-drops", false, "copy the frames the XDP triage stage drops to the --pcap capture (sampled, first 256 bytes)")
		metricsA = fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (host:port; port 0 picks one, printed on stderr)")
		pprofOn  = fs.Bool("pprof", false, "also serve Go's runtime profiles (heap, goroutine, CPU) at http://ADDR/debug/pprof/ on the --metrics address")
		sinks    multiFlag
		filters  multiFlag
		tcpSinks multiFlag
		tcpEchos multiFlag
		httpPort multiFlag
		loss     = fs.Float64("inject-loss", 0, "drop this fraction of received frames (fault injection)")
		reorder  = fs.Float64("inject-reorder", 0, "swap this fraction of received frames with the next (fault injection)")
		reattach = fs.Bool("reattach", false, "when the interface is deleted, wait for it to return and bind it again (default: exit non-zero)")
	)
	fs.Var(&tcpSinks, "tcp-sink", "accept TCP connections on this port, drain them and report bytes and SHA-256 (repeatable)")
	fs.Var(&tcpEchos, "tcp-echo", "echo TCP connections on this port (repeatable)")
	fs.Var(&httpPort, "http", "serve a tiny HTTP page on this TCP port (repeatable)")
	fs.Var(&sinks, "udp-sink", "count datagrams to this UDP port, checking sequence numbers (repeatable)")
	fs.Var(&filters, "filter", "filter rule, e.g. 'drop udp dport 9001' (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *iface == "" {
		return usageError{fmt.Errorf("run: --iface is required")}
	}
	o := rxpath.Config{
		Interface: *iface,
		Driver: auto.Options{
			XDP: afxdp.Options{
				UMEM:     umem.Options{FrameSize: *frameSz, FrameCount: *frames},
				RxSize:   uint32(*rxRing),
				FillSize: uint32(*rxRing),
				BusyPoll: afxdp.BusyPoll{Usec: *busyPoll},
			},
			Packet: afpacket.Options{Queues: *sockets},
		},
		Poller: poller.Options{IdleSpin: *idleSpin},
	}
	var err error
	if o.Driver.Kind, err = driver.ParseKind(*drv); err != nil {
		return usageError{err}
	}
	if o.Driver.XDP.Attach, err = afxdp.ParseAttachMode(*attach); err != nil {
		return usageError{err}
	}
	if o.Driver.Packet.Fanout, err = afpacket.ParseFanout(*fanout); err != nil {
		return usageError{err}
	}
	switch *unbound {
	case "pass":
	case "drop":
		o.Driver.XDP.UnboundAction = afxdp.Drop
	default:
		return usageError{fmt.Errorf("run: --unbound %q: want pass or drop", *unbound)}
	}
	if o.XDPFilter, err = triageGuards(&o.Driver.XDP.Triage, *triage, *synRate); err != nil {
		return usageError{err}
	}
	if o.XDPFilter && len(filters) == 0 {
		return usageError{fmt.Errorf("run: --xdp-triage rules needs --filter rules")}
	}
	o.TapXDPDrops = *tapDrops
	if *tapDrops && (*pcapPath == "" || *triage == "") {
		return usageError{fmt.Errorf("run: --tap-xdp-drops needs --pcap and --xdp-triage")}
	}
	if o.Driver.XDP.Queues, err = intList(*queues); err != nil {
		return usageError{fmt.Errorf("run: --queues: %w", err)}
	}
	if *cpus != "none" {
		if o.CPUs, err = intList(*cpus); err != nil {
			return usageError{fmt.Errorf("run: --cpus: %w", err)}
		}
	}

	if *ipAddr == "" && (len(sinks) > 0 || len(filters) > 0 || *pcapPath != "" || len(tcpSinks) > 0 || len(tcpEchos) > 0 || len(httpPort) > 0) {
		return usageError{fmt.Errorf("run: --udp-sink, --tcp-sink, --tcp-echo, --http, --filter and --pcap need the stack: give --ip")}
	}
	if *loss < 0 || *loss > 1 || *reorder < 0 || *reorder > 1 {
		return usageError{fmt.Errorf("run: --inject-loss and --inject-reorder are fractions in [0, 1]")}
	}
	if *loss > 0 || *reorder > 0 {
		o.WrapQueue = func(q driver.Queue) driver.Queue {
			return faulty.Wrap(q, faulty.Options{Loss: *loss, Reorder: *reorder})
		}
	}
	log := newLogger(stderr)
	if !*noCheck {
		if err := preflightCheck(o, stderr); err != nil {
			return err
		}
	}
	if *cpus == "" {
		if o.CPUs, err = defaultCPUs(o); err != nil {
			return err
		}
	}

	var st *stackRun
	if *ipAddr != "" {
		st, err = newStackRun(stackFlags{ip: *ipAddr, gateway: *gateway, sinks: sinks, filters: filters, pcap: *pcapPath,
			tcpSinks: tcpSinks, tcpEcho: tcpEchos, httpPorts: httpPort,
			pcapng: *pcapng, snaplen: *snaplen, tapFilter: *tapExpr, portUnreachable: *portUnr})
		if err != nil {
			return err
		}
		defer st.close()
		st.configure(&o)
	} else {
		o.Handler = func(*poller.Batch) {} // count only
	}
	o.Logger = log
	if err := o.Validate(); err != nil {
		return usageError{err}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ms, err := listenMetrics(*metricsA, *pprofOn, stderr)
	if err != nil {
		return err
	}
	defer ms.close()
	n, err := rxpath.Open(o)
	if err != nil {
		return err
	}
	snapshot := ms.serve(n.Snapshot, st)
	logStart := func() {
		d := n.Device()
		log.Info("receiving on "+*iface, "queues", len(d.Queues), "driver", d.Kind.String(), "mode", d.Mode, "cpus", fmt.Sprint(o.CPUs))
		if d.Reason != "" {
			log.Warn("fell back to AF_PACKET", "reason", d.Reason)
		}
	}
	logStart()
	view := newLiveView(stderr)

	var tick <-chan time.Time
	if *interval > 0 {
		t := time.NewTicker(*interval)
		defer t.Stop()
		tick = t.C
	}
	var stop <-chan time.Time
	if *duration > 0 {
		stop = time.After(*duration)
	}
	prev := snapshot()
	var runErr error
loop:
	for {
		select {
		case <-tick:
			cur := snapshot()
			stack := ""
			if st != nil {
				stack = st.line()
			}
			view.show(intervalLines(prev, cur, stack))
			prev = cur
		case s := <-sigs:
			view.forget()
			if s == syscall.SIGHUP {
				if n.Tap == nil {
					log.Info("SIGHUP: no pcap to reopen")
					continue
				}
				if err := n.Tap.Reopen(); err != nil {
					log.Error("SIGHUP: reopening the pcap", "file", *pcapPath, "err", err)
				} else {
					log.Info("SIGHUP: reopened the pcap", "file", *pcapPath)
				}
				continue
			}
			log.Info("shutting down", "signal", s.String())
			break loop
		case <-stop:
			break loop
		case runErr = <-n.Err():
			if !*reattach || !errors.Is(runErr, driver.ErrLinkGone) {
				break loop
			}
			view.forget()
			log.Warn("the interface was deleted; waiting for it to return (--reattach)", "iface", *iface, "err", runErr)
			stopped, err := reattachUntil(n, sigs, stop)
			if runErr = err; err != nil || stopped {
				break loop
			}
			logStart()
			prev = snapshot()
		}
	}
	ms.close() // no scrape may take a snapshot while the node closes
	if st != nil {
		st.close()
	}
	closeErr := n.Close()
	final := summary.Summary{Snapshot: n.Final(), Reattached: n.Reattached()}
	if st != nil {
		st.fill(&final, true)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(final); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, snapshotSummary(final.Snapshot))
		if st != nil {
			fmt.Fprintln(stdout, st.summary(final))
		}
	}
	if runErr != nil {
		return runErr
	}
	return closeErr
}

// newLogger returns the run's structured logger: slog's text format on
// stderr, without the time (the journal or the terminal has it).
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// defaultCPUs pins each bound queue's poller to the CPU its interrupt is
// steered to, else round robin (affinity.QueueCPUs).
func defaultCPUs(o rxpath.Config) ([]int, error) {
	qs := o.Driver.XDP.Queues
	if qs == nil {
		n := 1
		if info, err := netdev.Lookup(o.Interface); err == nil && info.NumRxQueues > 0 {
			n, _ = netdev.RxQueueCount(info)
		}
		if o.Driver.Kind == driver.Packet && o.Driver.Packet.Queues > 0 {
			n = o.Driver.Packet.Queues
		}
		for q := range n {
			qs = append(qs, q)
		}
	}
	cpus, _, err := affinity.QueueCPUs(o.Interface, qs)
	return cpus, err
}

// triageGuards turns on the guards list names (--xdp-triage) with
// afxdp.DefaultTriage's budgets, and reports whether it names the rules.
func triageGuards(t *afxdp.Triage, list string, synRate uint) (rules bool, err error) {
	if list == "" {
		if synRate != 0 {
			return false, fmt.Errorf("run: --xdp-syn-rate needs --xdp-triage")
		}
		return false, nil
	}
	d := afxdp.DefaultTriage()
	if list == "all" {
		list = "syn,arp,frag,udp,rules"
	}
	for _, g := range strings.Split(list, ",") {
		switch strings.TrimSpace(g) {
		case "syn":
			t.SYN = d.SYN
		case "arp":
			t.ARP = d.ARP
		case "frag":
			t.Fragments, t.FragmentNewSources = d.Fragments, d.FragmentNewSources
		case "udp":
			t.ClosedUDP = d.ClosedUDP
		case "rules":
			rules = true
		default:
			return false, fmt.Errorf("run: --xdp-triage %q: unknown guard %q (want syn, arp, frag, udp, rules or all)", list, g)
		}
	}
	if synRate != 0 {
		if t.SYN.Rate == 0 {
			return false, fmt.Errorf("run: --xdp-syn-rate needs the syn guard")
		}
		if synRate > 1<<30 {
			return false, fmt.Errorf("run: --xdp-syn-rate %d is too large", synRate)
		}
		t.SYN = afxdp.Budget{Rate: uint32(synRate), Burst: uint32(max(synRate/10, 1))}
	}
	return rules, nil
}

func intList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a list of non-negative integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// statsLine is the per-interval line: rates since the previous snapshot and
// the drop counters by place.
func statsLine(prev, cur rxpath.Snapshot) string {
	dt := cur.Elapsed - prev.Elapsed
	if dt <= 0 {
		dt = 1
	}
	pps := float64(cur.Frames-prev.Frames) / dt
	bps := float64(cur.Bytes-prev.Bytes) * 8 / dt
	var fillEmpty, ringFull, kdrop, invalid, squeeze, polls, wakeups uint64
	for _, q := range cur.Queues {
		k := q.Driver.Kernel
		fillEmpty += k.RxFillRingEmpty
		ringFull += k.RxRingFull + k.RxFrozen
		kdrop += k.RxDropped
		invalid += q.Driver.RxInvalid + k.RxInvalidDescs
		squeeze += q.TimeSqueeze
		polls += q.Polls
		wakeups += q.Wakeups
	}
	line := fmt.Sprintf("%7.1fs  rx %8.3f Mpps %8.3f Gbit/s  total %d | drops fill_empty=%d ring_full=%d xdp_dropped=%d invalid=%d | squeeze=%d polls=%d wakeups=%d",
		cur.Elapsed, pps/1e6, bps/1e9, cur.Frames, fillEmpty, ringFull, kdrop, invalid, squeeze, polls, wakeups)
	if x := cur.XDP; x != nil {
		line += fmt.Sprintf(" | triage drops syn=%d arp=%d frag=%d udp_closed=%d rules=%d",
			x.SYNDropped.Packets, x.ARPDropped.Packets, x.FragmentDropped.Packets, x.ClosedUDPDropped.Packets, x.RuleDropped.Packets)
	}
	return line
}

func snapshotSummary(s rxpath.Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d frames, %d bytes in %.1fs (%.3f Mpps), %s (%s), dropped %d\n",
		s.Iface, s.Frames, s.Bytes, s.Elapsed, float64(s.Frames)/s.Elapsed/1e6, s.Driver, s.Mode, s.Dropped)
	for _, q := range s.Queues {
		k := q.Driver.Kernel
		l := q.Driver.Buffers
		fmt.Fprintf(&b, "  queue %d: processed %d, squeeze %d, busy %d, idle %d, polls %d, wakeups %d, yields %d; drops: fill_empty %d, ring_full %d, frozen %d, kernel_dropped %d, invalid %d; %ss: free %d kernel %d held %d tx %d of %d\n",
			q.Queue, q.Processed, q.TimeSqueeze, q.BusyPasses, q.IdlePasses, q.Polls, q.Wakeups, q.Yields,
			k.RxFillRingEmpty, k.RxRingFull, k.RxFrozen, k.RxDropped, q.Driver.RxInvalid+k.RxInvalidDescs,
			l.Unit, l.Free, l.Kernel, l.Held, l.Tx, l.Total)
	}
	if l := s.Link; l.Downs > 0 || l.Deleted {
		fmt.Fprintf(&b, "  link: down %d time(s) for %.1fs in all", l.Downs, l.DownTime)
		if l.Deleted {
			b.WriteString(", deleted")
		}
		b.WriteString("\n")
	}
	if x := s.XDP; x != nil {
		fmt.Fprintf(&b, "  xdp triage (dropped before the rx ring, never seen by the tap or the stack): syn %d, arp %d, fragment %d, udp to closed ports %d, rules %d; "+
			"syns let in %d, of them retransmissions %d; drops sampled to the tap %d (lost %d)\n",
			x.SYNDropped.Packets, x.ARPDropped.Packets, x.FragmentDropped.Packets, x.ClosedUDPDropped.Packets, x.RuleDropped.Packets,
			x.SYNAdmitted.Packets+x.SYNRetransmits.Packets, x.SYNRetransmits.Packets, x.Samples, x.SamplesLost)
		for _, r := range x.Rules {
			fmt.Fprintf(&b, "  xdp filter %q: %d packets, %d bytes\n", r.Rule, r.Packets, r.Bytes)
		}
	}
	if s.LedgerErr != "" {
		fmt.Fprintf(&b, "  LEDGER ERROR: %s\n", s.LedgerErr)
	}
	return strings.TrimRight(b.String(), "\n")
}

// reattachUntil runs n.Reattach until it binds the interface again or a
// signal (SIGHUP aside, which is ignored meanwhile) or the end of
// --duration comes first; stopped says which.
func reattachUntil(n *rxpath.Node, sigs <-chan os.Signal, stop <-chan time.Time) (stopped bool, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var halted atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					continue
				}
			case <-stop:
			case <-done:
				return
			}
			halted.Store(true)
			cancel()
			return
		}
	}()
	err = n.Reattach(ctx)
	if halted.Load() {
		return true, nil
	}
	return false, err
}
