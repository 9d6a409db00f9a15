package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/internal/cli/metrics"
	"github.com/rxpath/rxpath/internal/cli/summary"
)

// summaryOptions maps the JSON summary of `rxpath run` to Prometheus
// metrics (see package metrics for the naming rules). Every number in
// Summary is exported, named after its JSON path:
//
//	rx_frames                          rxpath_rx_frames_total
//	queues[].processed                 rxpath_queue_processed_total{queue="0"}
//	queues[].driver.kernel.rx_ring_full rxpath_queue_driver_kernel_rx_ring_full_total{queue="0"}
//	queues[].driver.buffers.free       rxpath_queue_driver_buffers_free{queue="0"}
//	ipv4.bad_checksum                  rxpath_ipv4_bad_checksum_total
//	filter[].Packets                   rxpath_filter_rule_packets_total{index="0",rule="drop udp dport 9001",hook="input",verdict="drop"}
//	xdp.syn_dropped.packets            rxpath_xdp_syn_dropped_packets_total
//	xdp.rules[].Packets                rxpath_xdp_filter_rule_packets_total{index="0",rule="drop udp dport 9001",hook="input",verdict="drop"}
//	udp_sinks[].datagrams              rxpath_udp_sink_datagrams_total{port="9000"}
//	tcp_sinks[].accepted               rxpath_tcp_sink_accepted_total{port="5001"} (no per-connection labels)
//
// Strings are the labels of _info gauges: rxpath_info{iface,driver,mode,...}
// and rxpath_queue_driver_buffers_info{queue,unit}.
var summaryOptions = metrics.Options{
	Namespace: "rxpath",
	Slices: map[string]metrics.Slice{
		"queues":    {Name: "queue", Labels: []string{"queue"}},
		"filter":    {Name: "filter_rule", Labels: []string{"rule", "hook", "verdict"}, IndexLabel: "index"},
		"xdp.rules": {Name: "filter_rule", Labels: []string{"rule", "hook", "verdict"}, IndexLabel: "index"},
		"udp_sinks": {Name: "udp_sink", Labels: []string{"port"}},
		"tcp_sinks": {Name: "tcp_sink", Labels: []string{"port"}},
	},
	Gauges: []string{
		"queues.driver.rx_ring_level", "queues.driver.rx_ring_size",
		"queues.driver.fill_ring_level", "queues.driver.fill_ring_size",
		"queues.driver.buffers.total", "queues.driver.buffers.free", "queues.driver.buffers.kernel",
		"queues.driver.buffers.held", "queues.driver.buffers.tx",
		"udp_sinks.first_seq", "udp_sinks.last_seq", "tcp_sinks.open",
	},
	Names: map[string]string{"elapsed_s": "elapsed_seconds"},
	// The queue's index is already its label. A sink's connections would be
	// one label set per connection: unbounded, and the counts say enough.
	Skip: []string{"queues.driver.queue", "tcp_sinks.connections"},
	Help: map[string]string{
		"":                          "rxpath run: engine totals over all queues",
		"elapsed_s":                 "Seconds since the engine started",
		"dropped":                   "Frames dropped by the driver and the kernel, all queues",
		"queues":                    "Poller counters of one rx queue (like /proc/net/softnet_stat)",
		"queues.driver":             "Driver counters of one rx queue",
		"queues.driver.kernel":      "Kernel counters of one rx queue: XDP_STATISTICS (AF_XDP) or PACKET_STATISTICS (AF_PACKET)",
		"queues.driver.buffers":     "Buffer ledger of one rx queue: free+kernel+held+tx = total",
		"stack":                     "Ethernet and ARP layer",
		"ipv4":                      "IPv4 and ICMP layer",
		"ipv4.reassembly":           "IPv4 fragment reassembly",
		"udp":                       "UDP layer",
		"tcp":                       "TCP layer",
		"filter":                    "Filter rule: packets and bytes it matched",
		"xdp":                       "XDP triage stage (--xdp-triage): frames dropped before the rx ring, by reason",
		"xdp.rules":                 "Filter rule run in XDP (--xdp-triage rules): packets and bytes it dropped",
		"tap":                       "Capture tap (--pcap)",
		"udp_sinks":                 "UDP sink (--udp-sink) on one port",
		"tcp_sinks":                 "TCP sink (--tcp-sink) on one port",
		"tcp_sinks.accepted":        "Connections the TCP sink accepted",
		"tcp_sinks.complete":        "Connections that ended with the peer's FIN",
		"tcp_sinks.open":            "Connections still receiving",
		"tcp_sinks.records_evicted": "Ended connections no longer listed in the JSON summary",
	},
}

// newSummarySchema builds the Summary ↔ metrics mapping. It fails only if
// Summary gained a slice summaryOptions does not describe, or two fields
// collide; TestSummarySchema catches both.
func newSummarySchema() (*metrics.Schema[summary.Summary], error) {
	return metrics.NewSchema[summary.Summary](summaryOptions)
}

// metricsServer serves /metrics for `rxpath run --metrics`. Each scrape
// builds a Summary the way the final JSON summary is built (engine
// snapshot, then the stack's counters), so the two cannot disagree.
//
// Snapshots are serialised by mu: a queue's Stats is not safe for
// concurrent callers (the AF_XDP queue caches the kernel's statistics in a
// plain field), and the run loop's stats line takes snapshots too, through
// the function serve returns. After close, no snapshot is taken any more:
// a scrape still in flight gets the last one.
type metricsServer struct {
	ln     net.Listener
	pprof  bool // serve Go's profiles at /debug/pprof/ too
	schema *metrics.Schema[summary.Summary]
	srv    *http.Server

	mu     sync.Mutex
	closed bool
	last   summary.Summary

	closeOnce sync.Once
}

// listenMetrics binds addr (host:port; port 0 picks a free one) and prints
// the URL on stderr. It returns nil for an empty addr. Binding happens
// before the engine starts so that a bad address fails before anything
// is attached; scrapes wait in the listen backlog until serve.
func listenMetrics(addr string, withPprof bool, stderr io.Writer) (*metricsServer, error) {
	if addr == "" {
		if withPprof {
			return nil, usageError{errors.New("run: --pprof needs --metrics: the profiles are served on that address")}
		}
		return nil, nil
	}
	schema, err := newSummarySchema()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("run: --metrics: %w", err)
	}
	fmt.Fprintf(stderr, "rxpath: metrics on http://%s/metrics\n", ln.Addr())
	if withPprof {
		fmt.Fprintf(stderr, "rxpath: Go profiles on http://%s/debug/pprof/\n", ln.Addr())
	}
	return &metricsServer{ln: ln, schema: schema, pprof: withPprof}, nil
}

// serve starts serving metrics of e and st (nil without --ip) and returns
// the snapshot function the run loop must use from then on. On a nil
// server it returns e.Snapshot.
func (m *metricsServer) serve(snapshot func() rxpath.Snapshot, st *stackRun) func() rxpath.Snapshot {
	if m == nil {
		return snapshot
	}
	current := func() summary.Summary {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed {
			return m.last
		}
		s := summary.Summary{Snapshot: snapshot()}
		if st != nil {
			st.fill(&s, false)
		}
		m.last = s
		return s
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.schema.Collector(current), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "rxpath: metrics are at /metrics\n")
	})
	if m.pprof {
		// Registered by hand: the package's init registers on
		// http.DefaultServeMux, which nothing here serves.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go m.srv.Serve(m.ln)
	return func() rxpath.Snapshot {
		m.mu.Lock()
		defer m.mu.Unlock()
		return snapshot()
	}
}

// close stops taking snapshots and shuts the server down, giving scrapes
// in flight a moment to finish. Call it before closing the engine. It is
// idempotent and a no-op on a nil server.
func (m *metricsServer) close() {
	if m == nil {
		return
	}
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		if m.srv == nil {
			m.ln.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := m.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			m.srv.Close()
		}
	})
}
