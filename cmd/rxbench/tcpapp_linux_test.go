package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// TestSmokeTCPApp runs the issue-17 rows once, briefly (`rxbench --smoke
// --reps 1`): net/http over rxpath and over a kernel socket under wrk
// and ab, and the connection-memory row. Each must produce its figures,
// the goals on them must be measured (pass or miss), and the lab must be
// gone. (pinProcess, which puts the HTTP servers on the receiver CPU, has
// a test of its own.)
func TestSmokeTCPApp(t *testing.T) {
	labtest.RequirePrivileges(t)
	for _, tool := range []string{"wrk", "ab", "taskset", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make deps installs it): %v", tool, err)
		}
	}
	r, table := runJSON(t, "--smoke", "--reps", "1", "--scenarios", "http-rxpath,http-kernel,conn-memory")
	for _, name := range []string{"http-rxpath", "http-kernel"} {
		s := r.Find(name)
		if s == nil || s.Status != report.StatusOK || len(s.HTTP) != 1 {
			t.Errorf("%s: %+v", name, s)
			continue
		}
		for _, l := range []report.HTTPLoad{s.HTTP[0].Wrk, s.HTTP[0].AB} {
			if l.Requests == 0 || l.ReqPerSec <= 0 || l.LatencyMeanNS <= 0 || l.ServerCPUNS <= 0 || l.Non2xx != 0 {
				t.Errorf("%s: %s: %+v", name, l.Command, l)
			}
		}
	}
	m := r.Find("conn-memory")
	if m == nil || m.Status != report.StatusOK || len(m.Mem) != 1 {
		t.Fatalf("conn-memory: %+v", m)
	}
	if rep := m.Mem[0]; rep.Conns == 0 || rep.RxpathTimeWaits < rep.Conns || rep.KernelTimeWaits < rep.Conns ||
		rep.RxpathHeapEstab == 0 || rep.KernelSlabEstab["TCP"] <= 0 || rep.ClientSlabEstab["TCP"] <= 0 {
		t.Errorf("conn-memory rep: %+v", rep)
	}
	for _, g := range r.Goals {
		switch g.ID {
		case "http-keepalive-vs-kernel", "http-connect-vs-kernel", "conn-idle-bytes", "timewait-bytes":
			if (g.Status != report.GoalPass && g.Status != report.GoalMiss) || !g.Value.Valid() {
				t.Errorf("goal %s: %s %v (%s), want a pass or a miss with a value", g.ID, g.Status, g.Value, g.Detail)
			}
		case "tcp-goodput-vs-kernel":
			if g.Status != report.GoalNotRun {
				t.Errorf("goal %s without its rows: %s", g.ID, g.Status)
			}
		}
	}
	for _, want := range []string{"\nHTTP: ", "\nhttp-rxpath ", "\nhttp-kernel ", "\nconnection memory: ", "\nconn-memory "} {
		if !strings.Contains(table, want) {
			t.Errorf("table has no %q:\n%s", want, table)
		}
	}
	for _, ns := range []string{"p", "d"} {
		p := fmt.Sprintf("/var/run/netns/rxb-%d-%s", os.Getpid(), ns)
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}
