package soak

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of `rxpath run --metrics`: each metric family's
// samples summed over their labels (the soak runs one queue, one UDP sink
// and one TCP sink, so the sum is the one value).
type Metrics map[string]float64

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	m := make(Metrics, len(fams))
	for name, f := range fams {
		var v float64
		for _, s := range f.GetMetric() {
			// A summary (go_gc_duration_seconds) counts its observations.
			v += s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue() + float64(s.GetSummary().GetSampleCount())
		}
		m[name] = v
	}
	return m, nil
}

// sum adds the named families, failing on one the scrape does not have:
// a renamed metric must not turn into a column of zeros.
func (m Metrics) sum(names ...string) (float64, error) {
	var v float64
	for _, n := range names {
		x, ok := m[n]
		if !ok {
			return 0, fmt.Errorf("no metric %s", n)
		}
		v += x
	}
	return v, nil
}

// Ledger is a queue's frame ledger as the metrics show it.
type Ledger struct {
	Free, Kernel, Held, Tx, Total uint64
}

// Balanced reports whether every frame is in exactly one place.
func (l Ledger) Balanced() bool { return l.Free+l.Kernel+l.Held+l.Tx == l.Total }

func (l Ledger) String() string {
	return fmt.Sprintf("free %d + kernel %d + held %d + tx %d = %d of %d", l.Free, l.Kernel, l.Held, l.Tx,
		l.Free+l.Kernel+l.Held+l.Tx, l.Total)
}

// LedgerOf reads the ledger from a scrape.
func LedgerOf(m Metrics) (Ledger, error) {
	var l Ledger
	for _, f := range []struct {
		dst  *uint64
		name string
	}{
		{&l.Free, "rxpath_queue_driver_buffers_free"},
		{&l.Kernel, "rxpath_queue_driver_buffers_kernel"},
		{&l.Held, "rxpath_queue_driver_buffers_held"},
		{&l.Tx, "rxpath_queue_driver_buffers_tx"},
		{&l.Total, "rxpath_queue_driver_buffers_total"},
	} {
		v, err := m.sum(f.name)
		if err != nil {
			return Ledger{}, err
		}
		*f.dst = uint64(v)
	}
	return l, nil
}

// MaxLedgerRereads bounds how often a sampler reads the metrics again when
// the ledger does not add up (see the package documentation).
const MaxLedgerRereads = 3

// Counter is one column of the CSV after the memory and the ledger: the
// sum of some metric families, counters or gauges.
type Counter struct {
	Column  string
	Metrics []string
}

// Counters are those columns of every Sample, in CSV order.
var Counters = []Counter{
	{"rx_frames", []string{"rxpath_rx_frames_total"}},
	// Drops by place: the kernel's XDP_STATISTICS, the driver, then each
	// layer of the stack.
	{"drop_fill_empty", []string{"rxpath_queue_driver_kernel_rx_fill_ring_empty_descs_total"}},
	{"drop_ring_full", []string{"rxpath_queue_driver_kernel_rx_ring_full_total"}},
	{"drop_kernel", []string{"rxpath_queue_driver_kernel_rx_dropped_total"}},
	{"drop_invalid", []string{"rxpath_queue_driver_rx_invalid_total", "rxpath_queue_driver_kernel_rx_invalid_descs_total"}},
	{"eth_not_for_us", []string{"rxpath_stack_not_for_us_total"}},
	{"eth_malformed", []string{"rxpath_stack_too_short_total", "rxpath_stack_unknown_type_total", "rxpath_stack_arp_malformed_total"}},
	{"arp_requests", []string{"rxpath_stack_arp_requests_total"}},
	{"arp_ignored", []string{"rxpath_stack_arp_ignored_total"}},
	{"arp_cache_full", []string{"rxpath_stack_arp_cache_full_total"}},
	{"tx_no_route", []string{"rxpath_stack_tx_no_route_total"}},
	{"ipv4_received", []string{"rxpath_ipv4_received_total"}},
	{"ipv4_header_drops", []string{"rxpath_ipv4_too_short_total", "rxpath_ipv4_bad_version_total", "rxpath_ipv4_bad_ihl_total",
		"rxpath_ipv4_bad_total_length_total", "rxpath_ipv4_total_length_beyond_frame_total", "rxpath_ipv4_bad_checksum_total",
		"rxpath_ipv4_bad_options_total", "rxpath_ipv4_source_route_total", "rxpath_ipv4_martian_source_total",
		"rxpath_ipv4_ttl_zero_total", "rxpath_ipv4_not_for_us_total", "rxpath_ipv4_unknown_protocol_total"}},
	{"ipv4_fragments", []string{"rxpath_ipv4_fragments_total"}},
	{"reasm_bytes", []string{"rxpath_ipv4_reassembly_bytes"}},
	{"reasm_datagrams", []string{"rxpath_ipv4_reassembly_datagrams"}},
	{"reasm_timeouts", []string{"rxpath_ipv4_reassembly_timeouts_total"}},
	{"reasm_evicted", []string{"rxpath_ipv4_reassembly_evicted_total"}},
	{"icmp_errors_sent", []string{"rxpath_ipv4_icmp_errors_sent_total"}},
	{"icmp_suppressed", []string{"rxpath_ipv4_icmp_rate_limited_total"}},
	{"udp_in", []string{"rxpath_udp_in_datagrams_total"}},
	{"udp_no_port", []string{"rxpath_udp_no_ports_total"}},
	{"udp_errors", []string{"rxpath_udp_csum_errors_total", "rxpath_udp_in_errors_total", "rxpath_udp_rcvbuf_errors_total",
		"rxpath_udp_bad_length_total"}},
	{"udp_sink_datagrams", []string{"rxpath_udp_sink_datagrams_total"}},
	{"udp_sink_seq_gaps", []string{"rxpath_udp_sink_seq_gaps_total"}},
	{"udp_sink_out_of_order", []string{"rxpath_udp_sink_out_of_order_total"}},
	{"tcp_passive_opens", []string{"rxpath_tcp_passive_opens_total"}},
	{"tcp_curr_estab", []string{"rxpath_tcp_curr_estab"}},
	{"tcp_sink_conns", []string{"rxpath_tcp_sink_accepted_total"}},
	{"tcp_sink_bytes", []string{"rxpath_tcp_sink_bytes_total"}},
	{"tcp_in_segs", []string{"rxpath_tcp_in_segs_total"}},
	{"tcp_retrans_segs", []string{"rxpath_tcp_retrans_segs_total"}},
	{"tcp_out_rsts", []string{"rxpath_tcp_out_rsts_total"}},
	{"tcp_syncookies_sent", []string{"rxpath_tcp_syncookies_sent_total"}},
	{"tcp_syncookies_recv", []string{"rxpath_tcp_syncookies_recv_total"}},
	{"tcp_syncookies_failed", []string{"rxpath_tcp_syncookies_failed_total"}},
	{"tcp_syn_queue_drops", []string{"rxpath_tcp_syn_queue_drops_total"}},
	{"tcp_listen_drops", []string{"rxpath_tcp_listen_drops_total"}},
	// The Go runtime, to read the heap column by: the heap in use saws
	// between collections up to the next goal.
	{"gc_cycles", []string{"go_gc_duration_seconds"}},
	{"next_gc_bytes", []string{"go_memstats_next_gc_bytes"}},
	{"heap_objects", []string{"go_memstats_heap_objects"}},
}

// Counter returns the value of the named counter column, or false.
func (s Sample) Counter(column string) (float64, bool) {
	i := slices.IndexFunc(Counters, func(c Counter) bool { return c.Column == column })
	if i < 0 || i >= len(s.Counters) {
		return 0, false
	}
	return s.Counters[i], true
}

// Sample is the state of the running process at one moment.
type Sample struct {
	At         time.Duration // since the traffic started
	RSS        uint64        // VmRSS, bytes
	Heap       uint64        // go_memstats_heap_inuse_bytes
	Goroutines uint64
	FDs        uint64 // process_open_fds
	Ledger     Ledger
	Rereads    int       // extra reads until the ledger added up (0: the first one did)
	Counters   []float64 // in the order of Counters
}

// NewSample builds a sample from a scrape and the RSS read next to it.
func NewSample(at time.Duration, rss uint64, m Metrics) (Sample, error) {
	s := Sample{At: at, RSS: rss}
	var err error
	if s.Ledger, err = LedgerOf(m); err != nil {
		return Sample{}, err
	}
	for _, f := range []struct {
		dst  *uint64
		name string
	}{
		{&s.Heap, "go_memstats_heap_inuse_bytes"},
		{&s.Goroutines, "go_goroutines"},
		{&s.FDs, "process_open_fds"},
	} {
		v, err := m.sum(f.name)
		if err != nil {
			return Sample{}, err
		}
		*f.dst = uint64(v)
	}
	s.Counters = make([]float64, len(Counters))
	for i, c := range Counters {
		if s.Counters[i], err = m.sum(c.Metrics...); err != nil {
			return Sample{}, fmt.Errorf("column %s: %w", c.Column, err)
		}
	}
	return s, nil
}

// ReadRSS returns VmRSS of process pid in bytes.
func ReadRSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status: VmRSS %q: %w", pid, rest, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// CSVHeader is the first row WriteCSV writes.
func CSVHeader() []string {
	h := []string{"t_s", "rss_bytes", "heap_inuse_bytes", "goroutines", "open_fds",
		"ledger_free", "ledger_kernel", "ledger_held", "ledger_tx", "ledger_total", "ledger_rereads"}
	for _, c := range Counters {
		h = append(h, c.Column)
	}
	return h
}

// CSVRow is one sample as WriteCSV writes it.
func (s Sample) CSVRow() []string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	r := []string{strconv.FormatFloat(s.At.Seconds(), 'f', 1, 64), u(s.RSS), u(s.Heap), u(s.Goroutines), u(s.FDs),
		u(s.Ledger.Free), u(s.Ledger.Kernel), u(s.Ledger.Held), u(s.Ledger.Tx), u(s.Ledger.Total), strconv.Itoa(s.Rereads)}
	for _, v := range s.Counters {
		r = append(r, strconv.FormatFloat(v, 'f', -1, 64))
	}
	return r
}

// CSVWriter writes samples as they come, flushing each row, so that a
// soak stopped halfway still leaves its rows. It is not safe for
// concurrent use.
type CSVWriter struct {
	w *csv.Writer
}

// NewCSVWriter writes the header to w.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	c := &CSVWriter{w: csv.NewWriter(w)}
	if err := c.w.Write(CSVHeader()); err != nil {
		return nil, err
	}
	c.w.Flush()
	return c, c.w.Error()
}

// Write appends one row.
func (c *CSVWriter) Write(s Sample) error {
	if err := c.w.Write(s.CSVRow()); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}
