package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/driver/channel"
	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
)

func TestStatsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"stats"}, 2, "give the address"},
		{[]string{"stats", "--json", "127.0.0.1:1"}, 2, "--json needs --once"},
		{[]string{"stats", "--interval", "0", "127.0.0.1:1"}, 2, "--interval must be positive"},
		{[]string{"stats", "a:1", "b:2"}, 2, "unexpected argument"},
		{[]string{"stats", "--bogus", "a:1"}, 2, "flag provided but not defined"},
		{[]string{"stats", "--once", "--interval", "0", "127.0.0.1:1"}, 1, "connection refused"},
		{[]string{"stats", "-h"}, 0, "ADDR is what"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := mainCmd(tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Fatalf("exit %d, output %q; want exit %d mentioning %q", code, out.String()+errb.String(), tc.code, tc.want)
			}
		})
	}
}

func TestMetricsURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9464":                 "http://127.0.0.1:9464/metrics",
		"[::1]:9464":                     "http://[::1]:9464/metrics",
		"http://h:1":                     "http://h:1/metrics",
		"http://h:1/":                    "http://h:1/metrics",
		"https://h:1/custom/metrics?x=1": "https://h:1/custom/metrics?x=1",
	} {
		if got, err := metricsURL(in); err != nil || got != want {
			t.Errorf("metricsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := metricsURL("http://"); err == nil {
		t.Error("metricsURL accepted a URL without a host")
	}
}

// udpTo builds a checksummed UDP datagram from the peer to 10.99.0.2:port.
func udpTo(t *testing.T, dst net.HardwareAddr, port uint16, payload []byte) []byte {
	t.Helper()
	src := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 99, 0, 1}, DstIP: net.IP{10, 99, 0, 2}}
	u := &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(port)}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStatsRebuildsRunOutput runs the real stack of `rxpath run --ip`
// (sinks, filter) on an in-memory queue with a real poller, serves its
// Summary through the --metrics collector and checks that `rxpath stats`
// rebuilds that Summary exactly and prints what run prints: its summary
// lines, and its stack stats line.
func TestStatsRebuildsRunOutput(t *testing.T) {
	st, err := newStackRun(stackFlags{ip: "10.99.0.2/24", sinks: []string{"9000"}, filters: []string{"drop udp dport 9001"},
		tcpSinks: []string{"5001"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	q := channel.New(0, 256, 1024)
	q.DiscardTx(true)
	cfg := rxpath.Config{Interface: "chan0", OpenDevice: func(string, auto.Options) (*driver.Device, error) {
		return &driver.Device{Name: "chan0", MAC: mac, Queues: []driver.Queue{q}}, nil
	}}
	st.configure(&cfg)
	node, err := rxpath.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	p := node.Pollers()[0]
	const n = 100
	payload := make([]byte, 32)
	for i := range n {
		for !q.Inject(udpTo(t, mac, 9000, labtest.Payload(payload, uint64(i)))) {
			time.Sleep(time.Millisecond)
		}
		if i%10 == 0 {
			q.Inject(udpTo(t, mac, 9001, payload))
			q.Inject(udpTo(t, mac, 7, payload)) // no socket
		}
	}
	labtest.WaitFor(t, "the sink", func() bool { return st.sinks[0].datagrams.Load() == n && p.Stats().Processed == n+2*n/10 })
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	ps := p.Stats()
	want := summary.Summary{Snapshot: rxpath.Snapshot{Iface: "chan0", Driver: "channel", Mode: "test", Elapsed: 2.5,
		Frames: ps.Processed, Bytes: ps.Driver.RxBytes, Dropped: ps.Dropped(), Queues: []poller.Stats{ps}}}
	st.fill(&want, false)

	schema, err := newSummarySchema()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(schema.Collector(func() summary.Summary { return want }))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	var out, errb bytes.Buffer
	if code := mainCmd([]string{"stats", "--once", "--interval", "0", "--json", srv.URL}, &out, &errb); code != 0 {
		t.Fatalf("stats --json: exit %d: %s", code, errb.String())
	}
	var got summary.Summary
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("stats --json vs the served summary (-want +got):\n%s", diff)
	}
	if want.UDPSinks[0].Datagrams != n || want.Filter[0].Packets != n/10 || want.UDP.NoPorts != n/10 {
		t.Fatalf("traffic did not go where it should: %+v %+v %+v", want.UDPSinks, want.Filter, *want.UDP)
	}

	out.Reset()
	if code := mainCmd([]string{"stats", "--once", "--interval", "0", srv.URL}, &out, &errb); code != 0 {
		t.Fatalf("stats: exit %d: %s", code, errb.String())
	}
	if runs := snapshotSummary(want.Snapshot) + "\n" + st.summary(want) + "\n"; out.String() != runs {
		t.Fatalf("stats prints\n%s\nrun prints\n%s", out.String(), runs)
	}
	if got, runs := stackLine(want), st.line(); got != runs {
		t.Fatalf("stats line %q\nrun line   %q", got, runs)
	}
}

// TestStatsCommand runs `rxpath stats` against `rxpath run --metrics` on
// the lab: --once --json rebuilds the summary run prints at exit, --once
// prints run's per-queue and stack lines with those numbers, and the
// default mode prints run's stats line every interval until SIGINT.
func TestStatsCommand(t *testing.T) {
	r := startMetricsRun(t)
	r.traffic(t, 1000, 1, nil)
	r.quiesce(t)
	stats := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", r.l.DUTNS, r.bin, "stats"}, args...)...).Output()
		if err != nil {
			t.Fatalf("rxpath stats %v: %v", args, err)
		}
		return string(out)
	}
	js := stats("--once", "--interval", "0", "--json", r.addr)
	text := stats("--once", "--interval", "200ms", r.addr)

	// The default mode: a line per interval, until SIGINT.
	stream := exec.Command("ip", "netns", "exec", r.l.DUTNS, r.bin, "stats", "--interval", "100ms", r.addr)
	lines := &syncBuffer{}
	stream.Stdout, stream.Stderr = lines, lines
	if err := stream.Start(); err != nil {
		t.Fatal(err)
	}
	labtest.WaitFor(t, "two intervals of stats", func() bool { return strings.Count(lines.String(), "\n") >= 6 })
	stream.Process.Signal(syscall.SIGINT)
	if err := stream.Wait(); err != nil {
		t.Fatalf("stats stream: %v\n%s", err, lines.String())
	}

	s := runSummary(t, r.cmd, r.stdout, r.stderr)
	var fromStats summary.Summary
	if err := json.Unmarshal([]byte(js), &fromStats); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, js)
	}
	if diff := cmp.Diff(settled(s), settled(fromStats)); diff != "" {
		t.Errorf("run's JSON summary vs stats --json (-run +stats):\n%s", diff)
	}

	// --once: run's stats line over the interval, then run's summary.
	tl := strings.Split(strings.TrimSpace(text), "\n")
	if len(tl) < 3 || !regexp.MustCompile(`^\s*[0-9.]+s  rx +0\.000 Mpps .* total `+strconv.FormatUint(s.Frames, 10)+` \| drops .* \| squeeze=\d+ polls=\d+ wakeups=\d+$`).MatchString(tl[0]) || !strings.HasPrefix(tl[1], "  stack eth not_for_us=") {
		t.Fatalf("stats --once: first line is not run's stats line at rest with %d frames:\n%s", s.Frames, text)
	}
	q, b := s.Queues[0], s.Queues[0].Driver.Buffers
	for _, want := range []string{
		s.Iface + ": " + strconv.FormatUint(s.Frames, 10) + " frames, " + strconv.FormatUint(s.Bytes, 10) + " bytes in ",
		"  queue 0: processed " + strconv.FormatUint(q.Processed, 10) + ", squeeze " + strconv.FormatUint(q.TimeSqueeze, 10) +
			", busy " + strconv.FormatUint(q.BusyPasses, 10) + ", idle ",
		" of " + strconv.FormatUint(b.Total, 10) + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stats --once lacks %q:\n%s", want, text)
		}
	}
	// The stack part is run's, line for line, except each TCP
	// connection's line (metrics carry only their number).
	runs := (*stackRun)(nil).summary(s)
	for _, l := range tl {
		if strings.HasPrefix(l, "stack:") || strings.HasPrefix(l, "ipv4:") || strings.HasPrefix(l, "udp") ||
			strings.HasPrefix(l, "tcp") || strings.HasPrefix(l, "filter") {
			if !strings.Contains(runs+"\n", l+"\n") {
				t.Errorf("stats line %q is not in run's summary:\n%s", l, runs)
			}
		}
	}
	if !strings.Contains(text, "tcp sink 5001: 1 connections (1 complete, 0 open), 262144 bytes") {
		t.Errorf("stats --once lacks the TCP sink's connection count:\n%s", text)
	}
	// Each interval is run's totals line, its stack line, then a line
	// per queue.
	queueLine := regexp.MustCompile(`^  q0 +[0-9.]+ Mpps +[0-9.]+ Gbit/s \| drops fill_empty=\d+ ring_full=\d+ xdp_dropped=\d+ invalid=\d+ \| rings rx \d+/\d+ fill \d+/\d+ \| busy +[0-9.]+% squeeze=\d+$`)
	sl := strings.Split(strings.TrimSpace(lines.String()), "\n")
	for i, l := range sl {
		switch i % 3 {
		case 0:
			if !strings.Contains(l, " Mpps ") || !strings.Contains(l, "total "+strconv.FormatUint(s.Frames, 10)+" ") {
				t.Errorf("stats stream line %q: want run's stats line with total %d", l, s.Frames)
			}
		case 1:
			if !strings.HasPrefix(l, "  stack eth not_for_us=") {
				t.Errorf("stats stream line %q: want the stack line", l)
			}
		case 2:
			if !queueLine.MatchString(l) {
				t.Errorf("stats stream line %q: want queue 0's line", l)
			}
		}
	}
	t.Logf("stats --once:\n%s\nstream:\n%s", text, lines.String())
}
