package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab"
)

// runSummary is `rxpath run --json`'s summary. Its TCPSinks hides
// Summary.TCPSinks (encoding/json takes the shallower field) to read each
// connection as the judge's SinkConn.
type runSummary struct {
	summary.Summary
	TCPSinks []struct {
		summary.TCPSinkStats
		Connections []SinkConn `json:"connections"`
	} `json:"tcp_sinks"`
}

// buildRxpath builds cmd/rxpath into a temporary directory.
func buildRxpath(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rxpath")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/rxpath/rxpath/cmd/rxpath").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// rxpathRun is `rxpath run` in the lab's DUT namespace, its stderr in a
// log file.
type rxpathRun struct {
	cmd     *exec.Cmd
	stdout  bytes.Buffer // the JSON summary; read only after exit
	logPath string
	addr    string // of --metrics, in the DUT namespace
	http    *http.Client
	exited  chan struct{}
	waitErr error
}

var metricsAddr = regexp.MustCompile(`metrics on http://(\S+)/metrics`)

// startRxpath starts bin, with env added to the test's environment, and
// waits until it receives and serves metrics. t.Cleanup kills it if the
// test ends first.
func startRxpath(t *testing.T, bin string, l *lab.Lab, logPath string, env []string, args ...string) *rxpathRun {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	r := &rxpathRun{logPath: logPath, exited: make(chan struct{})}
	// `ip netns exec` execs rxpath: the process is rxpath itself.
	r.cmd = exec.Command("ip", append([]string{"netns", "exec", l.DUTNS, bin, "run", "--iface", l.DUTIf}, args...)...)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, logf
	r.cmd.Env = append(os.Environ(), env...)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			r.cmd.Process.Kill()
			<-r.exited
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		log := r.log()
		if m := metricsAddr.FindStringSubmatch(log); m != nil && strings.Contains(log, "receiving on") {
			r.addr = m[1]
			break
		}
		select {
		case <-r.exited:
			t.Fatalf("rxpath run exited: %v\n%s", r.waitErr, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("rxpath run did not start:\n%s", log)
		}
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", r.cmd.Process.Pid))
	if err != nil || strings.TrimSpace(string(comm)) != "rxpath" {
		t.Fatalf("process %d is %q, not rxpath (%v): RSS would be someone else's", r.cmd.Process.Pid, comm, err)
	}
	r.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
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
	return r
}

func (r *rxpathRun) log() string {
	b, _ := os.ReadFile(r.logPath)
	return string(b)
}

func (r *rxpathRun) scrape() (Metrics, error) {
	resp, err := r.http.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// saveHeap writes rxpath's heap profile (after a forced GC: live objects
// only) to path, for `go tool pprof -diff_base` between two points.
func (r *rxpathRun) saveHeap(path string) error {
	resp, err := r.http.Get("http://" + r.addr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/heap: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sample scrapes the metrics and reads the RSS, reading again while the
// ledger does not add up (a torn read), at most MaxLedgerRereads times.
func (r *rxpathRun) sample(at time.Duration) (Sample, error) {
	var s Sample
	for i := 0; ; i++ {
		m, err := r.scrape()
		if err != nil {
			return Sample{}, err
		}
		rss, err := ReadRSS(r.cmd.Process.Pid)
		if err != nil {
			return Sample{}, err
		}
		if s, err = NewSample(at, rss, m); err != nil {
			return Sample{}, err
		}
		s.Rereads = i
		if s.Ledger.Balanced() || i == MaxLedgerRereads {
			return s, nil
		}
	}
}

// stop sends SIGINT and returns the JSON summary rxpath prints on its way
// out.
func (r *rxpathRun) stop(t *testing.T) runSummary {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.exited:
	case <-time.After(60 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
		t.Fatalf("rxpath run did not exit within 60s of SIGINT:\n%s", r.log())
	}
	if r.waitErr != nil {
		t.Fatalf("rxpath run: %v\n%s", r.waitErr, r.log())
	}
	var s runSummary
	if err := json.Unmarshal(r.stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, r.stdout.String())
	}
	return s
}
