package soak

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// The legitimate traffic, bounded in rate.
const (
	udpPort       = 9000
	udpRate       = 2000 // datagrams per second
	udpSize       = 100  // payload bytes
	tcpPort       = 5001
	numTCPClients = 2
	tcpRate       = 2 << 20 // bytes per second per client
	tcpMinSize    = 1 << 20
	tcpMaxSize    = 4 << 20
	// hping3's gap between SYNs: -i u1000 asks for 1000 a second (it
	// manages 600 to 800 here).
	synInterval = "u1000"
)

// The slack Flat allows a peak to grow by, from the first third of the
// run after warm-up to the last.
var (
	memSlackMiB    = Slack{Frac: 0.10, Abs: 8}
	goroutineSlack = Slack{Frac: 0.10, Abs: 16}
	// The trend over a long soak (Flat, TrendMinSpan) may add up to no
	// more than this: a run creeping 0.4 MiB a minute rose 9.8 MiB in 25
	// minutes, within memSlackMiB; a flat one trends 0.02-0.03 MiB a
	// minute, under 1 MiB.
	memRiseMiB       = Slack{Frac: 0.05, Abs: 2}
	goroutineRiseAbs = Slack{Abs: 2}
)

type soakConfig struct {
	duration, interval, warmup time.Duration
	out                        string
	gogc                       string // for the rxpath process; "" leaves Go's default
}

// soakConfigFromEnv reads RXPATH_SOAK_DURATION (default 2m),
// RXPATH_SOAK_INTERVAL (default 5s up to a 5-minute soak, else 10s),
// RXPATH_SOAK_WARMUP (default a sixth of the duration, at least 35s: past
// the 30 s reassembly timeout, so the fragments held have levelled off),
// RXPATH_SOAK_OUT (default a temporary directory) and RXPATH_SOAK_GOGC.
//
// GOGC: with Go's default of 100, rxpath's heap in use saws from its live
// size up to twice that, and at the soak's allocation rate (connections,
// SYN queue entries, fragments, scrapes) one tooth takes about two
// minutes: a short soak would compare one rising edge with itself. So up
// to a 10-minute soak rxpath runs with GOGC=25 (a collection every few
// seconds, peaks close to the live heap); longer ones keep Go's default
// and see a dozen cycles or more. RXPATH_SOAK_GOGC overrides
// ("default" for Go's).
func soakConfigFromEnv(t *testing.T) soakConfig {
	t.Helper()
	dur := func(name string, def time.Duration) time.Duration {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration such as 30m", name, v)
		}
		return d
	}
	c := soakConfig{duration: dur("RXPATH_SOAK_DURATION", 2*time.Minute)}
	c.interval = 10 * time.Second
	if c.duration <= 5*time.Minute {
		c.interval = 5 * time.Second
	}
	c.interval = dur("RXPATH_SOAK_INTERVAL", c.interval)
	c.warmup = dur("RXPATH_SOAK_WARMUP", max(35*time.Second, c.duration/6))
	if n := (c.duration - c.warmup) / c.interval; n < 6 {
		t.Fatalf("a %v soak sampled every %v after a %v warm-up has %d samples to judge; want at least 6", c.duration, c.interval, c.warmup, max(n, 0))
	}
	if c.duration <= 10*time.Minute {
		c.gogc = "25"
	}
	switch v := os.Getenv("RXPATH_SOAK_GOGC"); v {
	case "":
	case "default":
		c.gogc = ""
	default:
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("RXPATH_SOAK_GOGC=%q: want a positive number or \"default\"", v)
		}
		c.gogc = v
	}
	c.out = os.Getenv("RXPATH_SOAK_OUT")
	if c.out == "" {
		c.out = t.TempDir()
	} else if err := os.MkdirAll(c.out, 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// process is a helper command (hping3) whose early exit the soak notices.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

func startProcess(t *testing.T, logPath string, name string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p := &process{cmd: exec.Command(name, args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop interrupts the process and waits for it, killing it after 10 s.
func (p *process) stop() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// vethDrops returns the kernel's rx and tx drop counters of a veth end.
func vethDrops(t *testing.T, ns, ifname string) (rx, tx uint64) {
	t.Helper()
	st, err := lab.LinkStats(ns, ifname)
	if err != nil {
		t.Fatal(err)
	}
	return st.RxDropped, st.TxDropped
}

// tcpRetransSegs returns RetransSegs from /proc/net/snmp in namespace ns:
// the segments the kernel's TCP there sent again.
func tcpRetransSegs(t *testing.T, ns string) uint64 {
	t.Helper()
	out, err := lab.Exec(ns, "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RetransSegs" && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					t.Fatalf("/proc/net/snmp: RetransSegs %q", f[i])
				}
				return v
			}
		}
	}
	t.Fatalf("/proc/net/snmp has no Tcp RetransSegs:\n%s", out)
	return 0
}

// drainTime bounds how long a half-open connection outlives the flood
// that made it: rxpath resends its SYN-ACK SynRetries (5) times from a
// 1 s RTO doubling, 1+2+4+8+16+32 = 63 s, and then drops it.
const drainTime = 90 * time.Second

// quiesce waits, after the generators stopped, until the sinks' counters
// stop moving and no connection is left (the flood's half-open ones
// included: a SYN queue that never drains is a leak), and returns the
// sample taken then.
func quiesce(t *testing.T, r *rxpathRun, start time.Time) Sample {
	t.Helper()
	var prev [2]float64
	stable := 0
	for deadline := time.Now().Add(drainTime); ; {
		m, err := r.scrape()
		if err != nil {
			t.Fatal(err)
		}
		cur := [2]float64{m["rxpath_udp_sink_datagrams_total"], m["rxpath_tcp_sink_bytes_total"]}
		if cur == prev && m["rxpath_tcp_curr_estab"] == 0 {
			stable++
		} else {
			stable = 0
		}
		if stable == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("still moving %v after the traffic stopped: udp sink %v, tcp sink bytes %v, connections %v",
				drainTime, cur[0], cur[1], m["rxpath_tcp_curr_estab"])
			break
		}
		prev = cur
		// Each scrape builds the whole summary: do not add much load.
		time.Sleep(2 * time.Second)
	}
	s, err := r.sample(time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSoak runs `rxpath run` with the stack under mixed legitimate and
// hostile traffic for RXPATH_SOAK_DURATION (see the package
// documentation) and fails on memory growth, an unbalanced or leaking
// ledger, a TCP stream that is not exact, or UDP loss nobody counted.
func TestSoak(t *testing.T) {
	cfg := soakConfigFromEnv(t)
	// Building, starting, draining (drainTime) and stopping take a few
	// minutes on top of the traffic.
	if dl, ok := t.Deadline(); ok && time.Until(dl) < cfg.duration+5*time.Minute {
		t.Fatalf("a %v soak needs -timeout of at least %v more than that; %v are left (make soak sets it)",
			cfg.duration, 5*time.Minute, time.Until(dl).Round(time.Second))
	}
	if _, err := exec.LookPath("hping3"); err != nil {
		t.Fatalf("hping3 is required (installed by .ci/run): %v", err)
	}
	l := labtest.New(t, lab.Config{})
	bin := buildRxpath(t)
	out := func(name string) string { return filepath.Join(cfg.out, name) }
	dut := l.DUTAddr.String()
	var env []string
	if cfg.gogc != "" {
		env = append(env, "GOGC="+cfg.gogc)
	}
	r := startRxpath(t, bin, l, out("rxpath.log"), env, "--driver", "xdp",
		"--ip", fmt.Sprintf("%s/%d", dut, l.PeerAddr.Bits()), "--udp-sink", fmt.Sprint(udpPort), "--tcp-sink", fmt.Sprint(tcpPort),
		"--port-unreachable", "--metrics", "127.0.0.1:0", "--pprof", "--json", "--cpus", "1", "--interval", cfg.interval.String())
	if o, err := lab.Exec(l.PeerNS, "ping", "-c", "1", "-W", "2", dut); err != nil {
		t.Fatalf("ping: %v\n%s", err, o)
	}
	csvf, err := os.Create(out("soak.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer csvf.Close()
	csvw, err := NewCSVWriter(csvf)
	if err != nil {
		t.Fatal(err)
	}

	// The generators: cleanups run in reverse, so they stop before the
	// lab goes down.
	ctx, cancel := context.WithCancel(context.Background())
	ug := startUDP(ctx, labtest.UDPSender(t, l, udpPort), udpRate, udpSize)
	tc := &tcpClients{l: l, port: tcpPort, rate: tcpRate, minSize: tcpMinSize, maxSize: tcpMaxSize}
	tc.start(ctx, numTCPClients)
	var stopOnce sync.Once
	stopGenerators := func() {
		stopOnce.Do(func() {
			cancel()
			<-ug.done
			tc.wg.Wait()
		})
	}
	t.Cleanup(stopGenerators)
	hping := startProcess(t, out("hping3.log"), "ip", "netns", "exec", l.PeerNS, "taskset", "-c", fmt.Sprint(generatorCPU),
		"hping3", "-S", "-p", fmt.Sprint(tcpPort), "--rand-source", "-i", synInterval, "-q", dut)
	start := time.Now()

	// The test goroutine sends the hostile frames and samples.
	restore, err := pinGenerator()
	if err != nil {
		t.Fatal(err)
	}
	h := newHostile(t, l)
	rep := &report{t: t}
	var samples []Sample
	// Whatever ends the test, what was measured is written out.
	defer func() { rep.write(out, samples, cfg.warmup) }()
	record := func(s Sample) {
		samples = append(samples, s)
		if err := csvw.Write(s); err != nil {
			t.Fatal(err)
		}
		if !s.Ledger.Balanced() {
			t.Errorf("sample at %v: ledger %v, still after %d re-reads", s.At.Round(time.Second), s.Ledger, s.Rereads)
		}
	}
	// Heap profiles of live objects once warm and once drained: if memory
	// creeps, `go tool pprof -diff_base heap-warm.pb.gz heap-end.pb.gz`
	// names what holds it.
	warmHeap := false
	tick := time.NewTicker(5 * time.Millisecond)
	for next := time.Duration(0); ; {
		now := time.Now()
		h.sendDue(t, now)
		el := now.Sub(start)
		if el >= next {
			s, err := r.sample(el)
			if err != nil {
				t.Fatalf("sample at %v: %v", el, err)
			}
			record(s)
			next += cfg.interval
			if !warmHeap && el >= cfg.warmup {
				warmHeap = true
				if err := r.saveHeap(out("heap-warm.pb.gz")); err != nil {
					t.Errorf("heap profile: %v", err)
				}
			}
		}
		if el >= cfg.duration {
			break
		}
		select {
		case <-r.exited:
			t.Fatalf("rxpath run exited during the soak: %v\n%s", r.waitErr, r.log())
		case <-hping.exited:
			o, _ := os.ReadFile(out("hping3.log"))
			t.Fatalf("hping3 exited during the soak:\n%s", o)
		case <-ug.done:
			t.Fatalf("the UDP generator stopped: %v", ug.err)
		case <-tick.C:
		}
	}
	tick.Stop()
	restore()
	traffic := time.Since(start)
	hping.stop()
	stopGenerators()
	record(quiesce(t, r, start))
	if err := r.saveHeap(out("heap-end.pb.gz")); err != nil {
		t.Errorf("heap profile: %v", err)
	}
	sum := r.stop(t)
	if err := os.WriteFile(out("rxpath-summary.json"), r.stdout.Bytes(), 0o644); err != nil {
		t.Error(err)
	}
	if len(sum.Queues) != 1 || len(sum.UDPSinks) != 1 || len(sum.TCPSinks) != 1 || sum.Stack == nil || sum.IPv4 == nil || sum.UDP == nil || sum.TCP == nil {
		t.Fatalf("summary: %d queues, %d udp sinks, %d tcp sinks, stack sections %v %v %v %v", len(sum.Queues), len(sum.UDPSinks),
			len(sum.TCPSinks), sum.Stack != nil, sum.IPv4 != nil, sum.UDP != nil, sum.TCP != nil)
	}

	gogc := cfg.gogc
	if gogc == "" {
		gogc = "Go's default"
	}
	rep.title = fmt.Sprintf("rxpath soak, %v", traffic.Round(time.Second))
	rep.say("rxpath soak: %v of traffic, %s (%s), GOGC %s, %d samples every %v (the last once the traffic stopped), warm-up %v; output in %s",
		traffic.Round(time.Second), sum.Driver, sum.Mode, gogc, len(samples), cfg.interval, cfg.warmup, cfg.out)
	judgeMemory(rep, samples[:len(samples)-1], cfg.warmup)
	judgeLedger(rep, samples, sum)
	tc.mu.Lock()
	streams, errs := tc.streams, tc.errs
	tc.mu.Unlock()
	judgeTCP(rep, streams, errs, sum, tcpRetransSegs(t, l.PeerNS))
	peerRx, peerTx := vethDrops(t, l.PeerNS, l.PeerIf)
	dutRx, dutTx := vethDrops(t, l.DUTNS, l.DUTIf)
	judgeUDP(rep, ug.sent.Load(), sum, [4]uint64{peerRx, peerTx, dutRx, dutTx})
	hp, _ := os.ReadFile(out("hping3.log"))
	judgeHostile(rep, h.counts(), hpingStats(string(hp)), sum)
}

// report collects the verdicts: the lines of summary.txt, failures
// marked and reported to t.
type report struct {
	t     *testing.T
	title string
	lines []string
}

func (r *report) say(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *report) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Errorf(format, args...)
	r.say("FAIL: "+format, args...)
}

// write writes soak.png and summary.txt and logs the summary.
func (r *report) write(out func(string) string, samples []Sample, warmup time.Duration) {
	if len(samples) > 0 {
		f, err := os.Create(out("soak.png"))
		if err != nil {
			r.t.Error(err)
			return
		}
		if err := WritePlot(f, samples, warmup, cmp.Or(r.title, "rxpath soak")); err != nil {
			r.t.Errorf("plot: %v", err)
		}
		if err := f.Close(); err != nil {
			r.t.Error(err)
		}
	}
	text := strings.Join(r.lines, "\n") + "\n"
	if err := os.WriteFile(out("summary.txt"), []byte(text), 0o644); err != nil {
		r.t.Error(err)
	}
	r.t.Log("\n" + text)
}

// judgeMemory: RSS, Go heap and goroutines flat after the warm-up, on the
// samples taken under traffic. (Held frames are not judged this way: a
// sample may land on a batch in the handler; judgeLedger checks them once
// the traffic has stopped.)
func judgeMemory(r *report, samples []Sample, warmup time.Duration) {
	const mib = 1 << 20
	for _, c := range []struct {
		name        string
		slack, rise Slack
		f           func(Sample) float64
	}{
		{"RSS (MiB)", memSlackMiB, memRiseMiB, func(s Sample) float64 { return float64(s.RSS) / mib }},
		{"Go heap in use (MiB)", memSlackMiB, memRiseMiB, func(s Sample) float64 { return float64(s.Heap) / mib }},
		{"goroutines", goroutineSlack, goroutineRiseAbs, func(s Sample) float64 { return float64(s.Goroutines) }},
	} {
		f, err := Flat(c.name, samples, warmup, c.f, c.slack, c.rise)
		switch {
		case err != nil:
			r.fail("%v", err)
		case !f.OK():
			r.fail("%v", f)
		default:
			r.say("%v", f)
		}
	}
}

// judgeLedger: balanced at every sample, nothing held once the traffic
// has stopped (the last sample), every frame free after exit.
func judgeLedger(r *report, samples []Sample, sum runSummary) {
	unbalanced, rereads := 0, 0
	for _, s := range samples {
		rereads += s.Rereads
		if !s.Ledger.Balanced() {
			unbalanced++
		}
	}
	b := sum.Queues[0].Driver.Buffers
	r.say("ledger: balanced at %d of %d samples (%d re-reads of a torn read); after exit %s: free %d of %d, held %d, tx %d, bad releases %d, foreign %d, ledger_error %q",
		len(samples)-unbalanced, len(samples), rereads, b.Unit, b.Free, b.Total, b.Held, b.Tx, b.BadRelease, b.Foreign, sum.LedgerErr)
	if unbalanced > 0 || sum.LedgerErr != "" || b.Free != b.Total || b.Held != 0 || b.Tx != 0 || b.BadRelease != 0 || b.Foreign != 0 {
		r.fail("the ledger does not balance or leaks")
	}
	if last := samples[len(samples)-1]; last.Ledger.Held != 0 {
		r.fail("%d frames held with no traffic: %v", last.Ledger.Held, last.Ledger)
	}
}

// judgeTCP: every stream the clients sent arrived exact, and nothing else.
func judgeTCP(r *report, streams []Stream, errs []error, sum runSummary, peerRetrans uint64) {
	var sent uint64
	for _, s := range streams {
		sent += s.Bytes
	}
	k := sum.TCPSinks[0]
	r.say("tcp: %d streams, %.1f MiB, from %d clients; the sink saw %d connections, %.1f MiB; %d passive opens; the clients' kernel retransmitted %d segments; rxpath resent %d (SYN-ACKs to half-open connections, most of them the flood's)",
		len(streams), float64(sent)/(1<<20), numTCPClients, k.Accepted, float64(k.Bytes)/(1<<20),
		sum.TCP.PassiveOpens, peerRetrans, sum.TCP.RetransSegs)
	for _, err := range errs {
		r.fail("tcp client: %v", err)
	}
	// The sink lists only its newest ended connections: every one it
	// accepted must still be listed, or "nothing else" cannot be checked.
	if k.RecordsEvicted != 0 || k.Accepted != uint64(len(k.Connections)) {
		r.fail("tcp: the sink accepted %d connections but lists %d (%d records evicted): run a shorter soak",
			k.Accepted, len(k.Connections), k.RecordsEvicted)
	}
	bad := MatchStreams(streams, k.Connections)
	for i, m := range bad {
		if i == 10 {
			r.fail("... %d more stream mismatches", len(bad)-10)
			break
		}
		r.fail("tcp: %s", m)
	}
	if len(streams) == 0 {
		r.fail("tcp: no stream completed")
	} else if len(bad) == 0 && len(errs) == 0 {
		r.say("tcp: all %d streams exact (length and SHA-256, complete)", len(streams))
	}
}

// judgeUDP: every datagram sent is received or counted missing by the
// sink, and the missing ones are no more than the drops counted by
// rxpath and the veth ends (veth: peer rx, peer tx, DUT rx, DUT tx).
func judgeUDP(r *report, sent uint64, sum runSummary, veth [4]uint64) {
	k, u := sum.UDPSinks[0], sum.UDP
	a := AccountUDP(sent, k.Datagrams, k.FirstSeq, k.LastSeq, k.SeqGaps, k.OutOfOrder)
	// The DUT's veth end counts as rx_dropped the frames its XDP program
	// could not redirect: the same frames XDP_STATISTICS counts, so the
	// larger of the two. The peer's tx_dropped are frames that never got
	// that far.
	peerTx, dutRx := veth[1], veth[2]
	udpErrs := u.CsumErrors + u.InErrors + u.RcvbufErrors
	counted := max(sum.Dropped, dutRx) + peerTx + udpErrs
	q := sum.Queues[0]
	kd := q.Driver.Kernel
	r.say("udp: %v", a)
	r.say("drops counted: rxpath %d (fill ring empty %d, rx ring full %d, kernel rx_dropped %d, invalid %d), udp errors %d; veth peer tx %d, DUT rx %d (peer rx %d, DUT tx %d)",
		sum.Dropped, kd.RxFillRingEmpty, kd.RxRingFull, kd.RxDropped, q.Driver.RxInvalid+kd.RxInvalidDescs,
		udpErrs, peerTx, dutRx, veth[0], veth[3])
	if a.Received == 0 || !a.Balanced {
		r.fail("udp: the sink's sequence check does not account for the datagrams sent: %v", a)
	}
	if a.Missing > counted {
		r.fail("udp: %d datagrams missing, but only %d drops counted anywhere", a.Missing, counted)
	}
}

// judgeHostile: the background reached the stack and was dealt with.
func judgeHostile(r *report, sent map[string]uint64, hping string, sum runSummary) {
	kinds := make([]string, 0, len(sent))
	for name := range sent {
		kinds = append(kinds, name)
	}
	sort.Strings(kinds)
	var parts []string
	for _, name := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", name, sent[name]))
	}
	ip, st, tcp, u := sum.IPv4, sum.Stack, sum.TCP, sum.UDP
	r.say("hostile sent: %s; hping3: %s", strings.Join(parts, ", "), hping)
	r.say("syn cookies: sent %d, returned %d, failed %d; syn queue drops %d, listen drops %d, resets sent %d",
		tcp.SyncookiesSent, tcp.SyncookiesRecv, tcp.SyncookiesFailed, tcp.SynQueueDrops, tcp.ListenDrops, tcp.OutRsts)
	r.say("reassembly: %d fragments, %d reassembled, %d timeouts, %d evicted, %d datagrams / %d bytes held at the end",
		ip.Fragments, ip.Reassembled, ip.Reassembly.Timeouts, ip.Reassembly.Evicted, ip.Reassembly.Datagrams, ip.Reassembly.Bytes)
	r.say("icmp: %d errors sent, %d suppressed by the rate limit; udp to no port %d; arp requests answered %d, ignored %d, malformed %d; eth unknown type %d, too short %d, not for us %d; ipv4 bad checksum %d, martian %d",
		ip.ICMPErrorsSent, ip.ICMPRateLimited, u.NoPorts, st.ARPRequests, st.ARPIgnored, st.ARPMalformed, st.UnknownType, st.TooShort, st.NotForUs, ip.BadChecksum, ip.Martian)
	r.say("rx: %d frames, %.0f a second", sum.Frames, float64(sum.Frames)/sum.Elapsed)
	if ip.Fragments == 0 || ip.ICMPErrorsSent+ip.ICMPRateLimited == 0 || st.ARPRequests == 0 || u.NoPorts == 0 || tcp.SyncookiesSent+tcp.SynQueueDrops == 0 {
		r.fail("part of the hostile traffic never reached the stack (see the counters above)")
	}
}

// hpingStats is hping3's closing statistics line, if it printed one.
func hpingStats(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "packets transmitted") {
			return strings.TrimSpace(line)
		}
	}
	return "no statistics printed"
}
