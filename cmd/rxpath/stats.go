package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rxpath/rxpath/internal/cli/metrics"
	"github.com/rxpath/rxpath/internal/cli/summary"
)

// statsCmd is `rxpath stats ADDR`: it reads a running instance's /metrics,
// rebuilds the run's Summary from them (metrics.Schema.Decode, the inverse
// of what --metrics serves) and prints it with run's own formatting.
func statsCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stats", stderr)
	var (
		interval = fs.Duration("interval", time.Second, "time between scrapes; rates are computed over it")
		once     = fs.Bool("once", false, "print one report (the rate line over --interval, then the summary) and exit; --interval 0 skips the rates")
		asJSON   = fs.Bool("json", false, "with --once, print the rebuilt summary as JSON, like `rxpath run --json` (metrics carry only the number of each TCP sink's connections: their entries are empty)")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rxpath stats [--interval D] [--once [--json]] ADDR\n\n"+
			"ADDR is what `rxpath run --metrics` printed: host:port or an http:// URL.\n"+
			"Without --once, prints run's per-interval stats line every --interval until interrupted.\n\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after ADDR.
	var addr string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		addr, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if rest := fs.Args(); addr == "" && len(rest) > 0 {
		addr = rest[0]
		if err := parse(fs, rest[1:]); err != nil {
			return err
		}
	} else if len(rest) > 0 {
		return usageError{fmt.Errorf("stats: unexpected argument %q", rest[0])}
	}
	if addr == "" {
		return usageError{fmt.Errorf("stats: give the address `rxpath run --metrics` serves on")}
	}
	if *interval < 0 || (!*once && *interval == 0) {
		return usageError{fmt.Errorf("stats: --interval must be positive (0 only with --once)")}
	}
	if *asJSON && !*once {
		return usageError{fmt.Errorf("stats: --json needs --once")}
	}
	u, err := metricsURL(addr)
	if err != nil {
		return usageError{err}
	}
	sc, err := newScraper(u)
	if err != nil {
		return err
	}

	prev, err := sc.scrape()
	if err != nil {
		return err
	}
	if *once {
		cur := prev
		if *interval > 0 && !*asJSON { // JSON has no rates: one scrape
			time.Sleep(*interval)
			if cur, err = sc.scrape(); err != nil {
				return err
			}
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(cur)
		}
		if *interval > 0 {
			fmt.Fprintln(stdout, strings.Join(rateLines(prev, cur), "\n"))
		}
		fmt.Fprintln(stdout, snapshotSummary(cur.Snapshot))
		if cur.Stack != nil {
			fmt.Fprintln(stdout, stackSummary(cur))
		}
		return nil
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	t := time.NewTicker(*interval)
	defer t.Stop()
	view := newLiveView(stdout)
	for {
		select {
		case <-sigs:
			return nil
		case <-t.C:
		}
		cur, err := sc.scrape()
		if err != nil {
			return err
		}
		view.show(rateLines(prev, cur))
		prev = cur
	}
}

// metricsURL turns ADDR (host:port, or a URL with or without a path) into
// the /metrics URL.
func metricsURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("stats: %q is not host:port or an http URL", addr)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/metrics"
	}
	return u.String(), nil
}

// scraper reads one instance's metrics into Summaries.
type scraper struct {
	url    string
	schema *metrics.Schema[summary.Summary]
	client *http.Client
}

func newScraper(u string) (*scraper, error) {
	s, err := newSummarySchema()
	if err != nil {
		return nil, err
	}
	return &scraper{url: u, schema: s, client: &http.Client{Timeout: 10 * time.Second}}, nil
}

// scrape fetches and decodes the metrics.
func (s *scraper) scrape() (summary.Summary, error) {
	req, err := http.NewRequest(http.MethodGet, s.url, nil)
	if err != nil {
		return summary.Summary{}, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return summary.Summary{}, fmt.Errorf("stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return summary.Summary{}, fmt.Errorf("stats: GET %s: %s", s.url, resp.Status)
	}
	fams, err := metrics.Parse(resp.Body)
	if err != nil {
		return summary.Summary{}, fmt.Errorf("stats: %s: %w", s.url, err)
	}
	sum, err := decodeSummary(s.schema, fams)
	if err != nil {
		return summary.Summary{}, fmt.Errorf("stats: %s: %w", s.url, err)
	}
	return sum, nil
}

// decodeSummary rebuilds the Summary `rxpath run --json` would print from
// the metrics `rxpath run --metrics` serves.
func decodeSummary(schema *metrics.Schema[summary.Summary], fams map[string]*dto.MetricFamily) (summary.Summary, error) {
	if fams["rxpath_info"] == nil {
		return summary.Summary{}, errors.New("no rxpath metrics (rxpath_info is missing)")
	}
	sum, err := schema.Decode(fams)
	if err != nil {
		return summary.Summary{}, err
	}
	for i := range sum.Queues {
		// Not exported (it is the queue label); restore it as run has it.
		sum.Queues[i].Driver.Queue = sum.Queues[i].Queue
	}
	return sum, nil
}

// rateLines are run's per-interval stats lines: the totals, with the
// stack's part when the instance runs the stack, then one per queue.
func rateLines(prev, cur summary.Summary) []string {
	stack := ""
	if cur.Stack != nil {
		stack = stackLine(cur)
	}
	return intervalLines(prev.Snapshot, cur.Snapshot, stack)
}

// stackSummary is stackRun.summary for a Summary rebuilt from metrics.
// The metrics carry each TCP sink's counts but not its connections (one
// label set per connection would be unbounded), so the per-connection
// lines are left out.
func stackSummary(s summary.Summary) string {
	return (*stackRun)(nil).summary(s)
}
