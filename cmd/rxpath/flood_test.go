//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	dto "github.com/prometheus/client_model/go"

	"github.com/rxpath/rxpath/internal/cli/metrics"
	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/stack/ipv4/fragment"
)

// The flood tests (issue 8) run `rxpath run --ip` on one queue, poller on
// CPU 1, and flood it from the peer namespace on CPU 0 for a few seconds
// while legitimate kernel clients use it. Throughout, every ~100 ms, they
// sample the process's VmRSS and scrape its --metrics: the Go heap and
// the whole Summary, so the stack's own gauges (reassembly bytes, half-open
// connections) are watched live. Each checks that the state the flood
// builds stays within its documented cap and RSS plateaus, that the state
// that times out (reassembly, half-open connections) drains back to its
// baseline, that every legitimate packet that reached the stack was
// served (what was lost before it, in a full ring, is reported), and ends
// with the UMEM ledger balanced.
//
// The tests run in parallel so that one's wait for state to time out (30 s
// for reassembly, 63 s for a half-open connection) overlaps another's
// flood; floodMu lets only one flood run at a time.
var floodMu sync.Mutex

// Limits of the stack the floods push against, as rxpath run configures
// it (it leaves them at the stack's defaults).
const (
	// icmpErrorRate and icmpErrorBurst: stack/ipv4/ipv4.go, New.
	icmpErrorRate  = 1000
	icmpErrorBurst = 50
	// arpCacheSize: stack/stack.go, New (Options.ARPCacheSize).
	arpCacheSize = 1024
	// synAckLifetime is how long a half-open connection lives: the
	// SYN-ACK is sent at 0 and resent at 1, 3, 7, 15 and 31 s
	// (ListenOptions.SynRetries 5, tcp.Options.InitialRTO 1 s, doubling);
	// the connection is dropped at the sixth timeout, 63 s.
	synAckLifetime = 63 * time.Second
	// plateauSlack is how much more RSS the last third of a flood may
	// reach than the middle third: the heap settling, not a leak, which
	// would grow with every packet (tens of thousands a second).
	plateauSlack = 8 << 20
)

// floodSample is one look at the running process.
type floodSample struct {
	at         time.Duration // since the run started
	phase      string
	rss        int64 // VmRSS
	heap       int64 // go_memstats_heap_inuse_bytes
	goroutines int
	s          summary.Summary // decoded from /metrics
}

// floodRun is `rxpath run --ip 10.99.0.2/24 --cpus 1 --metrics` in a lab
// of its own, and the samples taken of it.
type floodRun struct {
	l       *lab.Lab
	cmd     *exec.Cmd
	stdout  *bytes.Buffer
	stderr  *syncBuffer
	addr    string
	http    *http.Client
	schema  *metrics.Schema[summary.Summary]
	start   time.Time
	samples []floodSample
	final   *summary.Summary
}

func startFlood(t *testing.T, args ...string) *floodRun {
	t.Helper()
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, stdout, stderr := startRun(t, bin, l, append([]string{"--ip", "10.99.0.2/24", "--cpus", "1", "--json", "--interval", "0",
		"--metrics", "127.0.0.1:0"}, args...)...)
	m := metricsAddr.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("rxpath run did not print its metrics address:\n%s", stderr.String())
	}
	schema, err := newSummarySchema()
	if err != nil {
		t.Fatal(err)
	}
	r := &floodRun{l: l, cmd: cmd, stdout: stdout, stderr: stderr, addr: m[1], http: dutHTTP(l), schema: schema, start: time.Now()}
	// Registered after startRun's cleanup, so it runs first: a failed
	// test still reports what the stack counted.
	t.Cleanup(func() {
		if !t.Failed() || r.final != nil || cmd.ProcessState != nil {
			return
		}
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		var s summary.Summary
		if json.Unmarshal(stdout.Bytes(), &s) == nil && s.Stack != nil {
			t.Logf("counters at the failure: stack %+v\nipv4 %+v\nudp %+v\ntcp %+v", *s.Stack, *s.IPv4, *s.UDP, *s.TCP)
		}
	})
	return r
}

// sample takes one look: VmRSS, then a scrape.
func (r *floodRun) sample(t *testing.T, phase string) floodSample {
	t.Helper()
	rss := vmRSS(t, r.cmd.Process.Pid)
	fams := scrapeText(t, r.http, r.addr)
	s, err := decodeSummary(r.schema, fams)
	if err != nil {
		t.Fatalf("decoding the metrics: %v", err)
	}
	x := floodSample{at: time.Since(r.start), phase: phase, rss: rss, s: s,
		heap:       int64(value(t, fams, "go_memstats_heap_inuse_bytes", dto.MetricType_GAUGE, nil)),
		goroutines: int(value(t, fams, "go_goroutines", dto.MetricType_GAUGE, nil))}
	r.samples = append(r.samples, x)
	return x
}

// watch samples every 100 ms until done is closed (nil: never) or limit
// has passed, and returns the last sample.
func (r *floodRun) watch(t *testing.T, phase string, done <-chan struct{}, limit time.Duration) floodSample {
	t.Helper()
	timeout := time.After(limit)
	for {
		x := r.sample(t, phase)
		select {
		case <-done:
			return r.sample(t, phase)
		case <-timeout:
			return x
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitFor samples every 500 ms (calling poke first, if set, once a
// second) until cond holds, and fails after limit.
func (r *floodRun) waitFor(t *testing.T, what string, limit time.Duration, poke func(), cond func(summary.Summary) bool) floodSample {
	t.Helper()
	deadline := time.Now().Add(limit)
	var poked time.Time
	for {
		if poke != nil && time.Since(poked) >= time.Second {
			poke()
			poked = time.Now()
		}
		x := r.sample(t, "drain")
		if cond(x.s) {
			return x
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; connections %d, reassembly %+v", what, limit, x.s.TCP.CurrEstab, x.s.IPv4.Reassembly)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// phase returns the samples of one phase.
func (r *floodRun) phase(name string) []floodSample {
	var out []floodSample
	for _, x := range r.samples {
		if x.phase == name {
			out = append(out, x)
		}
	}
	return out
}

// checkMemory checks RSS over the samples: the flood's peak at most
// maxGrowth above the baseline (the median before the flood), and a
// plateau: the last third of the flood peaks at most plateauSlack above
// the middle third, and nothing after the flood above its peak. The first
// third is the ramp: the caps fill and the Go heap grows, over a few GC
// cycles, to its working size (its goal is twice the live heap). It logs
// RSS, heap and goroutines.
func (r *floodRun) checkMemory(t *testing.T, maxGrowth int64) {
	t.Helper()
	base, flood := r.phase("base"), r.phase("flood")
	if len(base) == 0 || len(flood) < 6 {
		t.Fatalf("%d samples before the flood and %d during it: too few", len(base), len(flood))
	}
	median := func(xs []floodSample, f func(floodSample) int64) int64 {
		v := make([]int64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	peak := func(xs []floodSample, f func(floodSample) int64) int64 {
		var m int64
		for _, x := range xs {
			m = max(m, f(x))
		}
		return m
	}
	rss := func(x floodSample) int64 { return x.rss }
	heap := func(x floodSample) int64 { return x.heap }
	gor := func(x floodSample) int64 { return int64(x.goroutines) }
	third := len(flood) / 3
	baseRSS, peakRSS := median(base, rss), peak(flood, rss)
	middle, end := peak(flood[third:2*third], rss), peak(flood[2*third:], rss)
	last := r.samples[len(r.samples)-1]
	t.Logf("memory: RSS baseline %.1f MiB, flood peak %.1f MiB (middle third %.1f, last third %.1f), last %.1f MiB; "+
		"Go heap in use baseline %.1f MiB, peak %.1f MiB, last %.1f MiB; goroutines %d, peak %d, last %d; %d samples",
		mib(baseRSS), mib(peakRSS), mib(middle), mib(end), mib(last.rss),
		mib(median(base, heap)), mib(peak(r.samples, heap)), mib(last.heap),
		median(base, gor), peak(r.samples, gor), last.goroutines, len(r.samples))
	if peakRSS-baseRSS > maxGrowth {
		t.Errorf("RSS grew by %.1f MiB during the flood, more than %.1f MiB", mib(peakRSS-baseRSS), mib(maxGrowth))
	}
	if end > middle+plateauSlack {
		t.Errorf("RSS still growing: %.1f MiB in the flood's middle third, %.1f MiB in its last", mib(middle), mib(end))
	}
	var after []floodSample
	for _, x := range r.samples {
		if x.at > flood[len(flood)-1].at {
			after = append(after, x)
		}
	}
	if after := peak(after, rss); after > peakRSS+plateauSlack {
		t.Errorf("RSS grew after the flood: %.1f MiB, flood peak %.1f MiB", mib(after), mib(peakRSS))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// legitTap returns the flags that make rxpath run's tap capture the
// legitimate traffic only (filter, tcpdump syntax), headers only: it shows
// what of that traffic reached the stack. A short snaplen keeps the tap's
// slot pool (queue size × snaplen) from adding its pages to RSS as the
// slots are used. The file is read with tapFrames after the run.
func legitTap(t *testing.T, filter string) (path string, args []string) {
	path = filepath.Join(t.TempDir(), "legit.pcap")
	return path, []string{"--pcap", path, "--tap-filter", filter, "--snaplen", "64"}
}

// tapFrames reads the legitimate frames the tap captured, failing if it
// dropped any (the count would be short).
func tapFrames(t *testing.T, s summary.Summary, path string) [][]byte {
	t.Helper()
	if s.Tap == nil || s.Tap.Dropped != 0 {
		t.Fatalf("the tap dropped frames: %+v", s.Tap)
	}
	frames, err := labtest.ReadPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// stop stops the run and returns its JSON summary, checking that every
// UMEM frame is back on the free list.
func (r *floodRun) stop(t *testing.T) summary.Summary {
	t.Helper()
	s := runSummary(t, r.cmd, r.stdout, r.stderr)
	r.final = &s
	for _, q := range s.Queues {
		if b := q.Driver.Buffers; b.Free != b.Total {
			t.Fatalf("queue %d ledger after the run: %+v", q.Queue, b)
		}
	}
	return s
}

// vethDrops returns the frames the peer's veth end dropped on transmit:
// the DUT end's queue was full, and XDP never saw them. That loss is the
// machine's, not the stack's; frames XDP could not place in the AF_XDP
// rx ring are the driver's drops (Summary.Dropped).
func (r *floodRun) vethDrops(t *testing.T) uint64 {
	t.Helper()
	st, err := lab.LinkStats(r.l.PeerNS, r.l.PeerIf)
	if err != nil {
		t.Fatal(err)
	}
	return st.TxDropped
}

// flood runs fn holding floodMu: one flood on the machine at a time.
func flood(fn func()) {
	floodMu.Lock()
	defer floodMu.Unlock()
	fn()
}

// peerProc is a command running in the peer namespace.
type peerProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr
	done chan struct{}
}

// peerCmd starts a command in the peer namespace in a process group of
// its own, which t.Cleanup kills if the command is still running.
func peerCmd(t *testing.T, l *lab.Lab, args ...string) *peerProc {
	t.Helper()
	p := &peerProc{cmd: exec.Command("ip", append([]string{"netns", "exec", l.PeerNS}, args...)...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

// hping3 floods from the peer for d, pinned to CPU 0. The function it
// returns waits for the end and returns how many packets hping3 sent.
func hping3(t *testing.T, l *lab.Lab, d time.Duration, args ...string) (done <-chan struct{}, sent func() int) {
	t.Helper()
	if _, err := exec.LookPath("hping3"); err != nil {
		t.Fatalf("hping3 is required (installed by .ci/run): %v", err)
	}
	secs := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	p := peerCmd(t, l, append([]string{"timeout", "-k", "5", "-s", "INT", secs, "taskset", "-c", "0", "hping3", "--flood", "-q"}, args...)...)
	return p.done, func() int {
		t.Helper()
		<-p.done
		m := regexp.MustCompile(`(\d+) packets transmitted`).FindStringSubmatch(p.out.String())
		if m == nil {
			t.Fatalf("hping3 %v: no statistics:\n%s", args, p.out.String())
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

// peerCapture runs tcpdump on the peer's veth end for frames arriving
// from the DUT that match filter. The function it returns stops it and
// returns the frames, failing if tcpdump lost any. The filter must
// exclude the flood the peer sends: -Q in is applied after the kernel's
// filter, too late to keep the flood out of tcpdump's buffer.
func peerCapture(t *testing.T, l *lab.Lab, filter string) func() [][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "peer.pcap")
	p := peerCmd(t, l, "tcpdump", "-i", l.PeerIf, "-Q", "in", "-U", "-n", "-w", path, filter)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.out.String(), "listening on"); {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump did not start: %s", p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() [][]byte {
		t.Helper()
		p.cmd.Process.Signal(syscall.SIGINT)
		<-p.done
		if !p.cmd.ProcessState.Success() {
			t.Fatalf("tcpdump: %v\n%s", p.cmd.ProcessState, p.out.String())
		}
		if m := regexp.MustCompile(`(\d+) packets dropped by kernel`).FindStringSubmatch(p.out.String()); m == nil || m[1] != "0" {
			t.Fatalf("tcpdump lost frames, counts would be wrong:\n%s", p.out.String())
		}
		frames, err := labtest.ReadPcap(path)
		if err != nil {
			t.Fatalf("reading the capture: %v", err)
		}
		return frames
	}
}

// randomSource is a random unicast address that is neither ours, nor in
// the lab's prefix, nor martian.
func randomSource(r *rand.Rand) net.IP {
	for {
		a := r.Uint32()
		if o := a >> 24; o != 0 && o != 10 && o != 127 && o < 224 {
			return net.IP{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
		}
	}
}

// TestFloodSYN: hping3 -S --flood --rand-source against a TCP sink for
// 4 s. The SYN queue fills at once and stays at its bound (half-open
// connections are counted in curr_estab), every later SYN gets a cookie
// (to an off-link source the SYN-ACK has no route and is counted), four
// legitimate kernel clients connect during the flood and deliver 1 MiB
// each intact, memory plateaus, and the half-open connections time out
// after the SYN-ACK retries (63 s), back to none.
func TestFloodSYN(t *testing.T) {
	t.Parallel()
	const clients, size = 4, 1 << 20
	const floodFor = 4 * time.Second
	synq := (&tcpSink{}).options().SynQueue
	r := startFlood(t, "--tcp-sink", "5001")
	want := map[string]string{}
	var floodStart, floodEnd time.Time
	var synsSent int
	var veth uint64
	flood(func() {
		r.watch(t, "base", nil, time.Second)
		veth = r.vethDrops(t)
		floodStart = time.Now()
		floodDone, sent := hping3(t, r.l, floodFor, "-S", "--rand-source", "-p", "5001", r.l.DUTAddr.String())
		r.watch(t, "flood", nil, 500*time.Millisecond)
		conns := dialPeer(t, r.l, 5001, clients)
		type result struct {
			remote, sum string
			err         error
		}
		results := make(chan result, clients)
		for i, c := range conns {
			go func() {
				sum, err := stream(c, size, uint64(100+i))
				results <- result{c.LocalAddr().String(), sum, err}
			}()
		}
		streamsDone := make(chan struct{})
		var errs []error
		go func() {
			for range clients {
				res := <-results
				if res.err != nil {
					errs = append(errs, fmt.Errorf("legitimate client %s: %w", res.remote, res.err))
				}
				want[res.remote] = res.sum
			}
			close(streamsDone)
		}()
		r.watch(t, "flood", streamsDone, floodFor)
		<-streamsDone
		for _, err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
		waitSink(t, conns)
		r.watch(t, "flood", floodDone, floodFor+5*time.Second)
		synsSent = sent()
		floodEnd = time.Now()
		veth = r.vethDrops(t) - veth
	})
	during := r.phase("flood")
	var peakConns int64
	var cookies uint64
	for _, x := range during {
		peakConns = max(peakConns, x.s.TCP.CurrEstab)
		cookies = x.s.TCP.SyncookiesSent
	}
	if peakConns > int64(synq+clients) {
		t.Errorf("%d connections (half-open included) during the flood: the SYN queue holds %d, plus %d clients", peakConns, synq, clients)
	}
	if peakConns < int64(synq) {
		t.Errorf("the SYN queue never filled during the flood: at most %d connections, queue %d", peakConns, synq)
	}
	r.checkMemory(t, 32<<20)
	// No new half-open connection is made while the queue is full; the
	// ones made at the start of the flood time out together.
	drained := r.waitFor(t, "half-open connections timing out", synAckLifetime-time.Since(floodStart)+15*time.Second, nil,
		func(s summary.Summary) bool { return s.TCP.CurrEstab == 0 })
	s := r.stop(t)
	intact := 0
	for _, c := range s.TCPSinks[0].Connections {
		if sum, ok := want[c.Remote]; ok && c.SHA256 == sum && c.Bytes == size && c.Done {
			intact++
		}
	}
	if intact != clients {
		t.Errorf("%d of %d legitimate streams arrived intact during the flood: %+v", intact, clients, s.TCPSinks[0].Connections)
	}
	if s.TCP.SyncookiesSent == 0 || s.TCP.AttemptFails < uint64(synq) {
		t.Errorf("cookies sent %d, half-open connections timed out %d (want at least the %d of a full SYN queue)",
			s.TCP.SyncookiesSent, s.TCP.AttemptFails, synq)
	}
	t.Logf("SYN flood %v: hping3 sent %d SYNs, the stack saw %d segments (veth drops %d, driver drops %d); SYN queue %d, peak connections %d, "+
		"cookies sent %d during the flood, %d in all, returned %d, failed %d; SYN-ACKs with no route %d; "+
		"half-open timed out %d, all gone %v after the flood began; legitimate: %d of %d streams of 1 MiB intact (tcp retrans %d)",
		floodEnd.Sub(floodStart).Round(time.Millisecond), synsSent, s.TCP.InSegs, veth, s.Dropped, synq, peakConns,
		cookies, s.TCP.SyncookiesSent, s.TCP.SyncookiesRecv, s.TCP.SyncookiesFailed, s.Stack.TxNoRoute,
		s.TCP.AttemptFails, (drained.at - floodStart.Sub(r.start)).Round(time.Second), intact, clients, s.TCP.RetransSegs)
}

// fragFrames makes fragments of UDP datagrams that never complete, from
// random sources with random IDs: half first fragments (offset 0, more
// fragments) of random length, half later fragments at random offsets,
// some of them final. Every one starts a datagram of its own.
func fragFrames(l *lab.Lab, seed uint64) func(i int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	buf := gopacket.NewSerializeBuffer()
	payload := make([]byte, 1480)
	for i := range payload {
		payload[i] = byte(i)
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	eth := &layers.Ethernet{SrcMAC: l.PeerMAC, DstMAC: l.DUTMAC, EthernetType: layers.EthernetTypeIPv4}
	return func(int) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Id: uint16(r.Uint32()),
			SrcIP: randomSource(r), DstIP: l.DUTAddr.AsSlice(), Flags: layers.IPv4MoreFragments}
		n := 8 * (1 + r.IntN(185)) // 8..1480 bytes, a multiple of 8
		p := payload[:n]
		if r.IntN(2) == 0 {
			// A first fragment: the UDP header, to port 9000.
			binary.BigEndian.PutUint16(p[0:], uint16(r.Uint32()))
			binary.BigEndian.PutUint16(p[2:], 9000)
			binary.BigEndian.PutUint16(p[4:], uint16(8+n+r.IntN(60000)))
			binary.BigEndian.PutUint16(p[6:], 0)
		} else {
			ip.FragOffset = uint16(1 + r.IntN((fragment.MaxPayload-n)/8-1))
			if r.IntN(4) == 0 {
				ip.Flags = 0 // a final fragment: sets the end, still incomplete
			}
		}
		buf.Clear()
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, gopacket.Payload(p)); err != nil {
			panic(err) // fixed layers: cannot fail
		}
		return buf.Bytes()
	}
}

// TestFloodFragments: a crafted flood of fragments that never complete,
// random sources and IDs, for 6 s, while a kernel client sends fragmented
// 3000-byte datagrams (three fragments each) to a UDP sink. The
// reassembly memory (ipv4.reassembly.bytes) never exceeds its cap
// (fragment.DefaultHighBytes: rxpath run keeps the defaults), the oldest
// datagrams are evicted, RSS plateaus, every legitimate datagram whose
// three fragments reached the stack is delivered whole (the tap, filtered
// to the client's address, shows which did), and once the timeout (30 s)
// has passed the next fragment finds the reassembly empty: the held
// memory drains to 0.
func TestFloodFragments(t *testing.T) {
	t.Parallel()
	const size = 3000
	const floodFor = 6 * time.Second
	pcap, tapArgs := legitTap(t, "src host 10.99.0.1") // the flood comes from random sources outside 10/8
	r := startFlood(t, append([]string{"--udp-sink", "9000"}, tapArgs...)...)
	legit := labtest.UDPSender(t, r.l, 9000)
	buf := make([]byte, size)
	var seq uint64
	send := func() error {
		_, err := legit.Write(labtest.Payload(buf, seq))
		if err == nil {
			seq++
		}
		return err
	}
	var fs labtest.FloodStats
	var legitSent uint64
	var afterFlood floodSample
	var floodEnd time.Time
	var veth uint64
	flood(func() {
		r.watch(t, "base", nil, time.Second)
		veth = r.vethDrops(t)
		floodDone, legitDone := make(chan struct{}), make(chan error, 1)
		var ferr error
		go func() {
			fs, ferr = labtest.Flood(r.l, 0, floodFor, fragFrames(r.l, 8))
			close(floodDone)
		}()
		go func() {
			// One legitimate datagram every 5 ms for as long as the flood runs.
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-floodDone:
					legitDone <- nil
					return
				case <-tick.C:
					if err := send(); err != nil {
						legitDone <- err
						return
					}
				}
			}
		}()
		r.watch(t, "flood", floodDone, floodFor+10*time.Second)
		<-floodDone
		floodEnd = time.Now()
		if ferr != nil {
			t.Fatal(ferr)
		}
		if err := <-legitDone; err != nil {
			t.Fatalf("legitimate sender: %v", err)
		}
		legitSent = seq
		// What was in the rings has been processed once the counters stop.
		time.Sleep(300 * time.Millisecond)
		afterFlood = r.sample(t, "after")
		veth = r.vethDrops(t) - veth
	})
	var peakBytes int64
	var peakDatagrams int
	for _, x := range r.samples {
		peakBytes = max(peakBytes, x.s.IPv4.Reassembly.Bytes)
		peakDatagrams = max(peakDatagrams, x.s.IPv4.Reassembly.Datagrams)
	}
	ra := afterFlood.s.IPv4.Reassembly
	if peakBytes > fragment.DefaultHighBytes {
		t.Errorf("reassembly held %d bytes, above its cap of %d", peakBytes, fragment.DefaultHighBytes)
	}
	if ra.Evicted == 0 {
		t.Errorf("nothing evicted: the flood never reached the cap (%+v)", ra)
	}
	// The Go heap holds more than the bytes reassembly charges: garbage
	// up to the GC goal (twice the live heap) and size-class rounding.
	r.checkMemory(t, 16*fragment.DefaultHighBytes)
	// Expiry is lazy: the next fragment after the timeout drops what
	// timed out. A legitimate datagram a second carries it.
	drained := r.waitFor(t, "reassembly memory draining", fragment.DefaultTimeout+15*time.Second,
		func() {
			if err := send(); err != nil {
				t.Fatalf("legitimate sender: %v", err)
			}
		},
		func(s summary.Summary) bool { return s.IPv4.Reassembly.Bytes == 0 && s.IPv4.Reassembly.Datagrams == 0 })
	s := r.stop(t)
	fin := s.IPv4.Reassembly
	if fin.Timeouts == 0 || fin.Bytes != 0 {
		t.Errorf("after the timeout: %+v", fin)
	}
	// Which legitimate datagrams reached the stack whole: the tap sees
	// every frame the stack does, before reassembly.
	// Fragments by IP ID and offset (0, 1480 and 2960 bytes): an ID
	// reused by the client would count twice at each offset.
	frags := map[uint16]*[3]int{}
	for _, f := range tapFrames(t, s, pcap) {
		if len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 17 {
			continue
		}
		id, off := binary.BigEndian.Uint16(f[18:]), int(binary.BigEndian.Uint16(f[20:])&0x1fff)*8
		if off%1480 != 0 || off/1480 > 2 {
			t.Fatalf("a legitimate fragment at offset %d: the client fragments differently than expected", off)
		}
		if frags[id] == nil {
			frags[id] = new([3]int)
		}
		frags[id][off/1480]++
	}
	whole := 0
	for _, n := range frags {
		whole += min(n[0], n[1], n[2])
	}
	sink := s.UDPSinks[0]
	if sink.Bytes != sink.Datagrams*size {
		t.Errorf("the sink got %d datagrams of %d bytes in all, not %d bytes each", sink.Datagrams, sink.Bytes, size)
	}
	if int(sink.Datagrams) != whole {
		t.Errorf("%d legitimate datagrams reached the stack whole, %d were delivered (of %d sent): reassembly lost some under the flood",
			whole, sink.Datagrams, seq)
	}
	got := afterFlood.s.UDPSinks[0].Datagrams
	t.Logf("fragment flood %v: %d fragments sent (%d refused by the sender's kernel), %d seen by IPv4 (veth drops %d, driver drops %d); "+
		"reassembly cap %d bytes (low %d), peak %d bytes in %d datagrams, at the flood's end %d bytes in %d; "+
		"evicted %d, bad offset %d, overlap %d, conflicting end %d; drained to 0 %v after the flood (timeout %v), %d timed out; "+
		"legitimate: %d of %d fragmented datagrams arrived during the flood (%.2f%% lost, all of it before the stack: "+
		"it delivered all %d that reached it whole)",
		fs.Elapsed.Round(time.Millisecond), fs.Sent, fs.Refused, ra.Fragments, veth, afterFlood.s.Dropped,
		fragment.DefaultHighBytes, fragment.DefaultLowBytes, peakBytes, peakDatagrams, ra.Bytes, ra.Datagrams,
		ra.Evicted, ra.BadOffset, ra.Overlap, ra.ConflictingEnd, (drained.at - floodEnd.Sub(r.start)).Round(time.Second),
		fragment.DefaultTimeout, fin.Timeouts, got, legitSent, 100*float64(legitSent-got)/float64(max(legitSent, 1)), whole)
}

// TestFloodPortUnreachable: hping3 --udp --flood to a closed port for 3 s
// against rxpath run --port-unreachable, while a kernel client sends
// sequenced datagrams to a UDP sink. The ICMP port unreachables the peer
// captures stay within the token bucket (1000/s, burst 50) over the
// capture's window, the stack counts the rest as rate limited, and
// nothing accumulates.
func TestFloodPortUnreachable(t *testing.T) {
	t.Parallel()
	const floodFor = 3 * time.Second
	pcap, tapArgs := legitTap(t, "udp dst port 9000")
	r := startFlood(t, append([]string{"--port-unreachable", "--udp-sink", "9000"}, tapArgs...)...)
	legit := labtest.UDPSender(t, r.l, 9000)
	var replies [][]byte
	var window, floodTook time.Duration
	var legitSent uint64
	var hpingSent int
	var at floodSample
	var veth uint64
	flood(func() {
		base := r.watch(t, "base", nil, time.Second)
		veth = r.vethDrops(t)
		if base.s.IPv4.ICMPErrorsSent != 0 {
			t.Fatalf("ICMP errors before the flood: %d", base.s.IPv4.ICMPErrorsSent)
		}
		stopCapture := peerCapture(t, r.l, "icmp and src host "+r.l.DUTAddr.String())
		start := time.Now()
		floodDone, sent := hping3(t, r.l, floodFor, "--udp", "-p", "7777", "-d", "32", r.l.DUTAddr.String())
		legitDone := make(chan error, 1)
		go func() {
			buf := make([]byte, 64)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-floodDone:
					legitDone <- nil
					return
				case <-tick.C:
					if _, err := legit.Write(labtest.Payload(buf, legitSent)); err != nil {
						legitDone <- err
						return
					}
					legitSent++
				}
			}
		}()
		r.watch(t, "flood", floodDone, floodFor+5*time.Second)
		hpingSent = sent()
		floodTook = time.Since(start)
		if err := <-legitDone; err != nil {
			t.Fatalf("legitimate sender: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		replies = stopCapture()
		at = r.sample(t, "after") // after the capture: counts what it could have seen
		window = time.Since(start)
		veth = r.vethDrops(t) - veth
	})
	n := 0
	for _, f := range replies {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ip == nil || icmp == nil || !ip.SrcIP.Equal(r.l.DUTAddr.AsSlice()) ||
			icmp.TypeCode != layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort) {
			t.Errorf("unexpected ICMP from the DUT: %v", p)
			continue
		}
		// The quote: the offending IP header and the UDP header to 7777.
		q := icmp.Payload
		if len(q) < 28 || binary.BigEndian.Uint16(q[int(q[0]&0xf)*4+2:]) != 7777 {
			t.Errorf("port unreachable quoting something else: % x", q)
			continue
		}
		n++
	}
	ip := at.s.IPv4
	bound := int(icmpErrorRate*window.Seconds()) + icmpErrorBurst
	if n > bound || int(ip.ICMPErrorsSent) > bound {
		t.Errorf("%d port unreachables captured, %d sent, in %v: the bucket allows at most %d (%d/s, burst %d)",
			n, ip.ICMPErrorsSent, window, bound, icmpErrorRate, icmpErrorBurst)
	}
	if uint64(n) > ip.ICMPErrorsSent {
		t.Errorf("captured %d port unreachables, the stack counts %d sent", n, ip.ICMPErrorsSent)
	}
	// The bucket must not be stuck shut either. It is refilled by the
	// time the poller processes datagrams, not by when they arrived: a
	// poller preempted on a busy machine drains a full ring in a few
	// milliseconds and answers only a burst's worth. So the only sure
	// floor is the burst the bucket starts with.
	if floor := min(int(at.s.UDP.NoPorts), icmpErrorBurst); n < floor {
		t.Errorf("only %d port unreachables for %d datagrams to a closed port (burst %d)", n, at.s.UDP.NoPorts, icmpErrorBurst)
	}
	u := at.s.UDP
	if ip.ICMPRateLimited == 0 || ip.ICMPErrorsSent+ip.ICMPRateLimited > u.NoPorts || u.NoPorts-ip.ICMPErrorsSent-ip.ICMPRateLimited > ip.SendErrors {
		t.Errorf("closed-port datagrams %d: errors sent %d + rate limited %d (+ send errors %d) do not add up",
			u.NoPorts, ip.ICMPErrorsSent, ip.ICMPRateLimited, ip.SendErrors)
	}
	r.checkMemory(t, 32<<20)
	s := r.stop(t)
	// Legitimate datagrams are lost only where the flood's are, before
	// the stack (a full ring): every one that reached it was delivered.
	reached, got := len(tapFrames(t, s, pcap)), s.UDPSinks[0].Datagrams
	if uint64(reached) != got {
		t.Errorf("%d legitimate datagrams reached the stack, %d were delivered", reached, got)
	}
	t.Logf("UDP flood %v to a closed port: hping3 sent %d, the stack saw %d to closed ports (veth drops %d, driver drops %d); "+
		"ICMP port unreachable: %d captured at the peer, %d sent, %d rate limited, %d send errors, in a %v window: bound %d (%d/s, burst %d); "+
		"legitimate: %d of %d datagrams arrived (%.2f%% lost before the stack; it delivered all %d that reached it)",
		floodTook.Round(time.Millisecond), hpingSent, u.NoPorts, veth, at.s.Dropped, n, ip.ICMPErrorsSent, ip.ICMPRateLimited, ip.SendErrors,
		window.Round(time.Millisecond), bound, icmpErrorRate, icmpErrorBurst, got, legitSent, 100*float64(legitSent-got)/float64(max(legitSent, 1)), reached)
}

// arpFrames makes ARP requests, each from a sender IP and MAC of its own:
// 11.0.0.0 + i at 02:00:<i>. Seven in eight ask for our address, which
// the stack answers and learns; the eighth ask for a neighbour of ours,
// which it must ignore.
func arpFrames(l *lab.Lab, other net.IP) func(i int) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true}
	return func(i int) []byte {
		mac := net.HardwareAddr{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		target := l.DUTAddr.AsSlice()
		if i%8 == 7 {
			target = other
		}
		buf.Clear()
		err := gopacket.SerializeLayers(buf, opts,
			&layers.Ethernet{SrcMAC: mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPRequest, SourceHwAddress: mac, SourceProtAddress: arpSender(i),
				DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: target})
		if err != nil {
			panic(err) // fixed layers: cannot fail
		}
		return buf.Bytes()
	}
}

func arpSender(i int) net.IP { return net.IP{11, byte(i >> 16), byte(i >> 8), byte(i)} }

// TestFloodARP: ARP requests from a new sender IP and MAC each, as fast as
// the peer sends them for 3 s, while the peer pings. The stack answers
// only the requests for its own address (tcpdump at the peer sees replies
// for nothing else, each from our address and MAC to its asker), the
// neighbour cache stays at its bound by evicting or refusing the flood's
// senders (arp_cache_full, arp_cache_refused) but never the peer it
// answers pings to, memory plateaus, and the ping's loss is reported.
func TestFloodARP(t *testing.T) {
	t.Parallel()
	const floodFor = 3 * time.Second
	pcap, tapArgs := legitTap(t, "icmp")
	r := startFlood(t, tapArgs...)
	// The peer knows our MAC statically, so every request the stack
	// answers is one of the flood's, each from a new sender.
	if err := r.l.AddStaticNeighbor(r.l.DUTAddr, r.l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	other := net.IP{10, 99, 0, 77}
	var fs labtest.FloodStats
	var replies [][]byte
	var pingOut string
	var at, base floodSample
	var veth uint64
	flood(func() {
		if out, err := lab.Exec(r.l.PeerNS, "ping", "-c", "1", "-W", "2", r.l.DUTAddr.String()); err != nil {
			t.Fatalf("ping before the flood: %v\n%s", err, out)
		}
		base = r.watch(t, "base", nil, time.Second)
		veth = r.vethDrops(t)
		stopCapture := peerCapture(t, r.l, "arp and ether src "+r.l.DUTMAC.String())
		ping := peerCmd(t, r.l, "ping", "-q", "-i", "0.01", "-c", strconv.Itoa(int(floodFor/(10*time.Millisecond))), "-W", "1",
			r.l.DUTAddr.String())
		floodDone := make(chan struct{})
		var ferr error
		go func() {
			fs, ferr = labtest.Flood(r.l, 0, floodFor, arpFrames(r.l, other))
			close(floodDone)
		}()
		r.watch(t, "flood", floodDone, floodFor+10*time.Second)
		<-floodDone
		if ferr != nil {
			t.Fatal(ferr)
		}
		<-ping.done
		pingOut = ping.out.String()
		time.Sleep(300 * time.Millisecond)
		replies = stopCapture()
		at = r.sample(t, "after")
		veth = r.vethDrops(t) - veth
	})
	// Replies: ours only, each to the sender that asked.
	answered, asked := 0, 0
	for _, f := range replies {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		if a == nil {
			continue
		}
		if a.Operation != layers.ARPReply {
			asked++ // the stack's own request, resolving the peer again
			continue
		}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !net.IP(a.SourceProtAddress).Equal(r.l.DUTAddr.AsSlice()) || !bytes.Equal(a.SourceHwAddress, r.l.DUTMAC) ||
			!bytes.Equal(eth.SrcMAC, r.l.DUTMAC) || !bytes.Equal(eth.DstMAC, a.DstHwAddress) {
			t.Errorf("reply not from our address or not to its asker: %v", p)
			continue
		}
		if tpa := net.IP(a.DstProtAddress).To4(); tpa[0] == 11 {
			i := int(tpa[1])<<16 | int(tpa[2])<<8 | int(tpa[3])
			if i%8 == 7 || !bytes.Equal(a.DstHwAddress, net.HardwareAddr{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}) {
				t.Errorf("a reply to sender %d, which asked for %s or has another MAC: %v", i, other, p)
				continue
			}
			answered++
		}
	}
	st := at.s.Stack
	learned := st.ARPRequests - base.s.Stack.ARPRequests // one new sender each
	if uint64(answered) > learned || answered == 0 {
		t.Errorf("captured %d replies to flood senders; the stack answered %d requests", answered, learned)
	}
	if st.ARPSent-base.s.Stack.ARPSent < learned {
		t.Errorf("the stack answered %d requests but sent %d ARP frames", learned, st.ARPSent-base.s.Stack.ARPSent)
	}
	if st.ARPIgnored == 0 {
		t.Errorf("no request for %s ignored: %+v", other, *st)
	}
	// Every sender beyond the cache's size evicted an entry or was not
	// learned: the cache holds at most arpCacheSize of them.
	if learned > arpCacheSize && st.ARPCacheFull+st.ARPCacheRefused < learned-arpCacheSize {
		t.Errorf("%d senders learned but only %d entries evicted and %d refused: the cache (size %d) grew past its bound",
			learned, st.ARPCacheFull, st.ARPCacheRefused, arpCacheSize)
	}
	// The peer we answer pings to was resolved just before the flood
	// (an entry lives 60 s): no request from made-up senders may push it
	// out, so the stack never had to ask for it again.
	if asked != 0 || st.TxPendingDrop != base.s.Stack.TxPendingDrop {
		t.Errorf("the flood evicted the peer's entry: the stack asked for it %d times, %d replies dropped waiting",
			asked, st.TxPendingDrop-base.s.Stack.TxPendingDrop)
	}
	if learned <= arpCacheSize {
		t.Errorf("only %d senders learned: the flood did not reach the cache's bound of %d", learned, arpCacheSize)
	}
	r.checkMemory(t, 32<<20)
	s := r.stop(t)
	loss := regexp.MustCompile(`\d+ packets transmitted, \d+ received.*`).FindString(pingOut)
	if loss == "" {
		t.Errorf("ping output:\n%s", pingOut)
	}
	// Pings lost now are frames the flood crowded out of the rx ring.
	t.Logf("ARP flood %v: %d requests from distinct senders sent (%d refused by the sender's kernel), %d reached the stack "+
		"(veth drops %d, driver drops %d); answered %d (captured %d replies at the peer), ignored %d (for %s, and unsolicited replies), "+
		"cache bound %d, evicted %d, refused %d; arp sent %d, tx ring full %d; legitimate ping (the pre-flood one included): %d echo requests reached the stack, "+
		"%d replies sent or queued for resolution, %d dropped waiting; ping during the flood: %s",
		fs.Elapsed.Round(time.Millisecond), fs.Sent, fs.Refused, st.Frames-base.s.Stack.Frames, veth, at.s.Dropped, learned, answered,
		st.ARPIgnored, other, arpCacheSize, st.ARPCacheFull, st.ARPCacheRefused, st.ARPSent, st.TxRingFull, len(tapFrames(t, s, pcap)),
		s.IPv4.ICMPEchoReplies, s.Stack.TxPendingDrop, loss)
}
