package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// TestSummarySchema: every field of Summary maps to a metric (a new slice
// without an entry in summaryOptions would fail here), and the names and
// types are the documented ones.
func TestSummarySchema(t *testing.T) {
	s, err := newSummarySchema()
	if err != nil {
		t.Fatal(err)
	}
	names := s.Names()
	for _, want := range []string{
		"rxpath_info", "rxpath_elapsed_seconds", "rxpath_rx_frames_total", "rxpath_dropped_total",
		"rxpath_queue_processed_total", "rxpath_queue_time_squeeze_total", "rxpath_queue_busy_passes_total",
		"rxpath_queue_idle_passes_total", "rxpath_queue_polls_total", "rxpath_queue_wakeups_total",
		"rxpath_queue_driver_rx_frames_total", "rxpath_queue_driver_kernel_rx_dropped_total",
		"rxpath_queue_driver_kernel_rx_fill_ring_empty_descs_total", "rxpath_queue_driver_buffers_free",
		"rxpath_queue_driver_buffers_kernel", "rxpath_queue_driver_buffers_held", "rxpath_queue_driver_buffers_tx",
		"rxpath_queue_driver_buffers_total", "rxpath_queue_driver_buffers_info",
		"rxpath_stack_arp_requests_total", "rxpath_ipv4_bad_checksum_total", "rxpath_ipv4_reassembly_datagrams",
		"rxpath_udp_in_datagrams_total", "rxpath_tcp_curr_estab", "rxpath_tcp_passive_opens_total",
		"rxpath_filter_rule_packets_total", "rxpath_tap_written_total", "rxpath_udp_sink_datagrams_total",
		"rxpath_udp_sink_last_seq", "rxpath_tcp_sink_bytes_total", "rxpath_tcp_sink_accepted_total", "rxpath_tcp_sink_open",
		"rxpath_xdp_syn_dropped_packets_total", "rxpath_xdp_arp_dropped_packets_total", "rxpath_xdp_fragment_dropped_bytes_total",
		"rxpath_xdp_udp_closed_dropped_packets_total", "rxpath_xdp_rule_dropped_packets_total", "rxpath_xdp_syn_admitted_packets_total",
		"rxpath_xdp_syn_retransmits_passed_packets_total", "rxpath_xdp_samples_total", "rxpath_xdp_filter_rule_packets_total",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no metric %s", want)
		}
	}
	for _, n := range names {
		if strings.Contains(n, "driver_queue") || strings.Contains(n, "remote") || strings.Contains(n, "sha256") {
			t.Errorf("metric %s should not exist", n)
		}
	}
	t.Logf("%d metrics", len(names))
}

// metricsAddr finds the address `rxpath run --metrics` printed.
var metricsAddr = regexp.MustCompile(`metrics on http://(\S+)/metrics`)

// dutHTTP is an HTTP client whose connections are made in the DUT
// namespace, where `rxpath run` (and so its --metrics listener) runs.
func dutHTTP(l *lab.Lab) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := lab.InNS(l.DUTNS, func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

// scrapeText GETs /metrics and parses it with the Prometheus text parser.
func scrapeText(t *testing.T, c *http.Client, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the Prometheus text parser rejects /metrics: %v", err)
	}
	return fams
}

// value returns the one sample of family name whose labels include want,
// checking the family's type.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	if f.GetType() != typ {
		t.Fatalf("%s is a %v, want a %v", name, f.GetType(), typ)
	}
	if f.GetHelp() == "" {
		t.Errorf("%s has no HELP", name)
	}
	var found []float64
	for _, m := range f.GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			ok = ok && ls[k] == v
		}
		if ok {
			found = append(found, m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d samples, want 1", name, want, len(found))
	}
	return found[0]
}

// settled is s without what moves while the run is idle (time, idle
// polling and its yields, and the kernel's tx_ring_empty_descs, which
// each poll(2) of the sleeping poller bumps), with the queues' state as Close leaves it (the
// kernel's frames back on the free list, the rings unmapped: no levels)
// and without what metrics do not carry (each TCP sink connection's
// details; only their number).
func settled(s summary.Summary) summary.Summary {
	s.Elapsed = 0
	s.Queues = slices.Clone(s.Queues)
	for i := range s.Queues {
		q := &s.Queues[i]
		q.IdlePasses, q.Yields, q.Polls, q.Driver.Waits, q.Driver.Kernel.TxRingEmpty = 0, 0, 0, 0, 0
		d := &q.Driver
		d.RxRingLevel, d.RxRingSize, d.FillRingLevel, d.FillRingSize = 0, 0, 0, 0
		b := &q.Driver.Buffers
		b.Free, b.Kernel = b.Free+b.Kernel, 0
	}
	s.TCPSinks = slices.Clone(s.TCPSinks)
	for i := range s.TCPSinks {
		s.TCPSinks[i].Connections = nil // listed in JSON, not in metrics
	}
	return s
}

// metricsRun starts `rxpath run` with the stack, sinks on UDP 9000 and TCP
// 5001, a drop rule for UDP 9001 and --metrics on a port the kernel picks
// in the DUT namespace. The per-interval stats line is on, so the run
// loop takes snapshots while scrapes do.
type metricsRun struct {
	l      *lab.Lab
	bin    string
	cmd    *exec.Cmd
	stdout fmt.Stringer
	stderr fmt.Stringer
	addr   string
	http   *http.Client
}

func startMetricsRun(t *testing.T) *metricsRun {
	t.Helper()
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, stdout, stderr := startRun(t, bin, l, "--ip", "10.99.0.2/24", "--udp-sink", "9000", "--tcp-sink", "5001",
		"--filter", "drop udp dport 9001", "--metrics", "127.0.0.1:0", "--json", "--interval", "50ms")
	m := metricsAddr.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("rxpath run did not print its metrics address:\n%s", stderr.String())
	}
	return &metricsRun{l: l, bin: bin, cmd: cmd, stdout: stdout, stderr: stderr, addr: m[1], http: dutHTTP(l)}
}

// traffic sends a bounded mix from the peer: ping, n sequenced datagrams
// to the UDP sink, n/4 to the filtered port, and conns TCP streams of
// 256 KiB each to the TCP sink. It returns when the TCP streams are done.
func (r *metricsRun) traffic(t *testing.T, n, conns int, during func()) {
	t.Helper()
	if out, err := lab.Exec(r.l.PeerNS, "ping", "-c", "2", "-i", "0.2", "-W", "2", "10.99.0.2"); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	tcp := dialPeer(t, r.l, 5001, conns)
	errc := make(chan error, conns)
	for i, c := range tcp {
		go func() {
			_, err := stream(c, 256<<10, uint64(i+1))
			errc <- err
		}()
	}
	sink, filtered := labtest.UDPSender(t, r.l, 9000), labtest.UDPSender(t, r.l, 9001)
	buf := make([]byte, 64)
	for i := range n {
		sink.Write(labtest.Payload(buf, uint64(i)))
		if i%4 == 0 {
			filtered.Write(buf)
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
		if i == n/2 && during != nil {
			during()
		}
	}
	for range conns {
		if err := <-errc; err != nil {
			t.Fatalf("tcp stream: %v", err)
		}
	}
	waitSink(t, tcp)
}

// quiesce scrapes until two scrapes 300ms apart agree on every counter
// that does not move while idle, and returns the last one.
func (r *metricsRun) quiesce(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	s, err := newSummarySchema()
	if err != nil {
		t.Fatal(err)
	}
	prev := scrapeText(t, r.http, r.addr)
	for deadline := time.Now().Add(30 * time.Second); ; {
		time.Sleep(300 * time.Millisecond)
		cur := scrapeText(t, r.http, r.addr)
		a, err := decodeSummary(s, prev)
		if err != nil {
			t.Fatal(err)
		}
		b, err := decodeSummary(s, cur)
		if err != nil {
			t.Fatal(err)
		}
		diff := cmp.Diff(settled(a), settled(b))
		if diff == "" {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters still moving 30s after the traffic stopped:\n%s", diff)
		}
		prev = cur
	}
}

// TestMetricsMatchSummary: `rxpath run --metrics` serves metrics that the
// Prometheus text parser accepts, during traffic and after; once traffic
// is quiescent, they equal the JSON summary the run prints when stopped:
// spot checks of named metrics (frames, per-queue processed, the ledger,
// IPv4, UDP, TCP, the filter rule, the sinks) and then every field, the
// metrics decoded back into a Summary and compared with the JSON's.
func TestMetricsMatchSummary(t *testing.T) {
	r := startMetricsRun(t)
	var during map[string]*dto.MetricFamily
	r.traffic(t, 2000, 2, func() { during = scrapeText(t, r.http, r.addr) })
	if v := value(t, during, "rxpath_rx_frames_total", dto.MetricType_COUNTER, nil); v == 0 {
		t.Fatalf("mid-traffic scrape: rxpath_rx_frames_total %v", v)
	}
	fams := r.quiesce(t)
	schema, err := newSummarySchema()
	if err != nil {
		t.Fatal(err)
	}
	fromMetrics, err := decodeSummary(schema, fams)
	if err != nil {
		t.Fatal(err)
	}
	s := runSummary(t, r.cmd, r.stdout, r.stderr)

	if len(s.Queues) != 1 || s.Stack == nil || len(s.UDPSinks) != 1 || len(s.TCPSinks) != 1 || len(s.Filter) != 1 {
		t.Fatalf("summary shape: %d queues, stack %v, %d udp sinks, %d tcp sinks, %d filter rules",
			len(s.Queues), s.Stack != nil, len(s.UDPSinks), len(s.TCPSinks), len(s.Filter))
	}
	q, q0 := s.Queues[0], map[string]string{"queue": "0"}
	led := q.Driver.Buffers
	rule := s.Filter[0]
	counter, gauge := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	for _, c := range []struct {
		name   string
		typ    dto.MetricType
		labels map[string]string
		want   uint64
	}{
		{"rxpath_rx_frames_total", counter, nil, s.Frames},
		{"rxpath_rx_bytes_total", counter, nil, s.Bytes},
		{"rxpath_dropped_total", counter, nil, s.Dropped},
		{"rxpath_queue_processed_total", counter, q0, q.Processed},
		{"rxpath_queue_busy_passes_total", counter, q0, q.BusyPasses},
		{"rxpath_queue_time_squeeze_total", counter, q0, q.TimeSqueeze},
		{"rxpath_queue_driver_rx_frames_total", counter, q0, q.Driver.RxFrames},
		{"rxpath_queue_driver_kernel_rx_dropped_total", counter, q0, q.Driver.Kernel.RxDropped},
		{"rxpath_queue_driver_kernel_rx_ring_full_total", counter, q0, q.Driver.Kernel.RxRingFull},
		{"rxpath_queue_driver_kernel_rx_fill_ring_empty_descs_total", counter, q0, q.Driver.Kernel.RxFillRingEmpty},
		{"rxpath_queue_driver_buffers_total", gauge, q0, led.Total},
		{"rxpath_queue_driver_buffers_held", gauge, q0, led.Held},
		{"rxpath_queue_driver_buffers_tx", gauge, q0, led.Tx},
		{"rxpath_stack_frames_total", counter, nil, s.Stack.Frames},
		{"rxpath_stack_arp_requests_total", counter, nil, s.Stack.ARPRequests},
		{"rxpath_ipv4_received_total", counter, nil, s.IPv4.Received},
		{"rxpath_ipv4_delivered_total", counter, nil, s.IPv4.Delivered},
		{"rxpath_ipv4_filter_input_dropped_total", counter, nil, s.IPv4.FilterIn},
		{"rxpath_ipv4_icmp_echo_replies_total", counter, nil, s.IPv4.ICMPEchoReplies},
		{"rxpath_udp_in_datagrams_total", counter, nil, s.UDP.InDatagrams},
		{"rxpath_tcp_passive_opens_total", counter, nil, s.TCP.PassiveOpens},
		{"rxpath_tcp_in_segs_total", counter, nil, s.TCP.InSegs},
		{"rxpath_tcp_out_segs_total", counter, nil, s.TCP.OutSegs},
		{"rxpath_filter_rule_packets_total", counter, map[string]string{"index": "0", "rule": rule.Rule, "hook": rule.Hook, "verdict": rule.Verdict}, rule.Packets},
		{"rxpath_udp_sink_datagrams_total", counter, map[string]string{"port": "9000"}, s.UDPSinks[0].Datagrams},
		{"rxpath_udp_sink_last_seq", gauge, map[string]string{"port": "9000"}, s.UDPSinks[0].LastSeq},
		{"rxpath_tcp_sink_bytes_total", counter, map[string]string{"port": "5001"}, s.TCPSinks[0].Bytes},
		{"rxpath_tcp_sink_accepted_total", counter, map[string]string{"port": "5001"}, s.TCPSinks[0].Accepted},
		{"rxpath_tcp_sink_complete_total", counter, map[string]string{"port": "5001"}, s.TCPSinks[0].Complete},
		{"rxpath_tcp_sink_open", gauge, map[string]string{"port": "5001"}, s.TCPSinks[0].Open},
	} {
		if got := value(t, fams, c.name, c.typ, c.labels); got != float64(c.want) {
			t.Errorf("%s%v = %v, JSON summary says %d", c.name, c.labels, got, c.want)
		}
	}
	// Close gives the kernel's frames back: the JSON ledger has them free.
	free := value(t, fams, "rxpath_queue_driver_buffers_free", gauge, q0)
	kernel := value(t, fams, "rxpath_queue_driver_buffers_kernel", gauge, q0)
	if free+kernel != float64(led.Free+led.Kernel) || led.Free+led.Held+led.Kernel+led.Tx != led.Total {
		t.Errorf("ledger: metrics free %v + kernel %v; JSON %+v", free, kernel, led)
	}
	info := value(t, fams, "rxpath_info", gauge, map[string]string{"iface": s.Iface, "driver": s.Driver, "mode": s.Mode})
	if info != 1 {
		t.Errorf("rxpath_info = %v", info)
	}
	// The traffic really went through: the checks above are not 0 == 0.
	if s.UDPSinks[0].Datagrams == 0 || s.TCPSinks[0].Bytes != 2*256<<10 || rule.Packets == 0 || s.IPv4.ICMPEchoReplies < 2 {
		t.Fatalf("traffic did not arrive: udp sink %+v, tcp sink %d bytes, rule %+v, echo replies %d",
			s.UDPSinks[0], s.TCPSinks[0].Bytes, rule, s.IPv4.ICMPEchoReplies)
	}

	// Every field: the metrics, decoded, are the JSON summary.
	if diff := cmp.Diff(settled(s), settled(fromMetrics)); diff != "" {
		t.Errorf("JSON summary vs metrics (-json +metrics):\n%s", diff)
	}
	t.Logf("%d frames, %d metric families; udp sink %d datagrams, tcp sink %d bytes over %d connections, rule %q %d packets",
		s.Frames, len(fams), s.UDPSinks[0].Datagrams, s.TCPSinks[0].Bytes, len(s.TCPSinks[0].Connections), rule.Rule, rule.Packets)
}
