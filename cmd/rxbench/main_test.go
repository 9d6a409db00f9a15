package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/internal/harness/traffic"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
		mode string
		reps int
		nice int
	}{
		{args: nil, mode: "full", reps: 5},
		{args: []string{"--quick"}, mode: "quick", reps: 3},
		{args: []string{"--smoke", "--reps", "4"}, mode: "smoke (adjusted)", reps: 4},
		{args: []string{"--quick", "--isolate"}, mode: "quick", reps: 3, nice: -20},
		{args: []string{"--quick", "--isolate", "--nice", "-5"}, mode: "quick", reps: 3, nice: -5},
		{args: []string{"--quick", "--smoke"}, err: "exclude"},
		{args: []string{"--scenarios", "ceiling,bogus"}, err: "unknown scenario"},
		{args: []string{"--plot", "x.jpg"}, err: ".png or .svg"},
		{args: []string{"--queues", "0"}, err: "queues"},
		{args: []string{"--gen", "pigeon"}, err: "generator"},
		{args: []string{"extra"}, err: "unexpected argument"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.cfg.Mode != tc.mode || o.cfg.Reps != tc.reps || o.cfg.Nice != tc.nice {
				t.Errorf("mode %q reps %d nice %d, want %q %d %d", o.cfg.Mode, o.cfg.Reps, o.cfg.Nice, tc.mode, tc.reps, tc.nice)
			}
		})
	}
}

// TestQuickSelection: --quick alone leaves out the rows with no room in
// its two minutes; naming them runs them.
func TestQuickSelection(t *testing.T) {
	names := func(args ...string) []string {
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, d := range o.defs {
			n = append(n, d.Name)
		}
		return n
	}
	quick, full := names("--quick"), names()
	for _, n := range []string{"http-rxpath", "http-kernel", "conn-memory"} {
		if slices.Contains(quick, n) || !slices.Contains(full, n) {
			t.Errorf("%s: in --quick's default list %v, in full mode's %v", n, slices.Contains(quick, n), slices.Contains(full, n))
		}
	}
	if len(quick) != len(full)-3 || !slices.Contains(quick, "tcp-rxpath") {
		t.Errorf("--quick runs %d rows of %d: %v", len(quick), len(full), quick)
	}
	if got := names("--quick", "--scenarios", "conn-memory,http-kernel"); !slices.Equal(got, []string{"http-kernel", "conn-memory"}) {
		t.Errorf("--quick --scenarios conn-memory,http-kernel runs %v", got)
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := rxbench([]string{"--help"}, &out, &errb); code != exitOK {
		t.Errorf("--help exit %d", code)
	}
	if !strings.Contains(errb.String(), "rxpath-udp-handler") {
		t.Errorf("usage does not list the scenarios:\n%s", errb.String())
	}
	if code := rxbench([]string{"--bogus"}, &out, &errb); code != exitUsage {
		t.Errorf("bad flag exit %d, want %d", code, exitUsage)
	}
}

// runJSON runs rxbench with args (quiet, the JSON to a temporary file),
// fails t unless it exits 0, and returns the JSON report and the table it
// printed.
func runJSON(t *testing.T, args ...string) (report.Run, string) {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "r.json")
	o, err := parseFlags(append(args, "--json", jsonPath, "-q"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.noSignals = true
	var out, errb bytes.Buffer
	if code := run(o, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Run
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r, out.String()
}

// TestSmoke runs `rxbench --smoke` for three fast UDP scenarios (the
// ceiling, xsk-minimal and rxpath-raw), both TCP ones and the memnic-raw
// capacity row on a lab of its own and checks that each produced figures, that the goals are all
// there, those on the rows that ran measured and the others not-run, and
// that the lab is gone.
func TestSmoke(t *testing.T) {
	labtest.RequirePrivileges(t)
	plotPath := filepath.Join(t.TempDir(), "r.svg")
	r, table := runJSON(t, "--smoke", "--scenarios", "ceiling,xsk-minimal,rxpath-raw,tcp-rxpath,tcp-kernel,memnic-raw", "--plot", plotPath)
	if len(r.Scenarios) != 6 {
		t.Fatalf("%d scenarios in the JSON, want 6", len(r.Scenarios))
	}
	for _, s := range r.Scenarios {
		if s.Status != report.StatusOK || len(s.Reps) != 2 {
			t.Errorf("%s: %s %s, %d reps", s.Name, s.Status, s.Reason, len(s.Reps))
			continue
		}
		for i, rep := range s.Reps {
			if rep.Sent == 0 || rep.Received == 0 || rep.ElapsedNS <= 0 {
				t.Errorf("%s rep %d: sent %d received %d in %dns", s.Name, i, rep.Sent, rep.Received, rep.ElapsedNS)
			}
			if s.Proto == report.ProtoTCP && (rep.TxBytes == 0 || rep.RxBytes == 0) {
				t.Errorf("%s rep %d: the client wrote %d bytes, the application got %d", s.Name, i, rep.TxBytes, rep.RxBytes)
			}
		}
		if s.Proto == report.ProtoTCP && (!s.Summary.GoodputGbps.Valid() || !s.Summary.CPUNSByte.Valid()) {
			t.Errorf("%s: goodput %+v, CPU per byte %+v", s.Name, s.Summary.GoodputGbps, s.Summary.CPUNSByte)
		}
		if s.Proto == report.ProtoUDP && (!s.Summary.CPUNSPkt.Valid() || !s.Summary.BusyNSPkt.Valid()) {
			t.Errorf("%s: CPU per packet %+v, busy per packet %+v", s.Name, s.Summary.CPUNSPkt, s.Summary.BusyNSPkt)
		}
		// The receivers that count idle passes have an idle pass cost for
		// their busy time, and counted some (in the calibration or in a
		// rep: on a busy machine one may find the CPU taken).
		if s.Name == "xsk-minimal" || s.Name == "rxpath-raw" {
			passes := uint64(0)
			for _, rep := range s.Reps {
				passes += rep.IdlePasses
			}
			if s.IdleCal == nil || s.IdleCal.Passes()+passes == 0 {
				t.Errorf("%s: no idle pass counted: calibration %+v, %d in the reps", s.Name, s.IdleCal, passes)
			}
		}
		if !strings.Contains(table, "\n"+s.Name+" ") {
			t.Errorf("table has no row for %s:\n%s", s.Name, table)
		}
	}
	// The generator is named, and when auto passed live frames over (the
	// kernel refused them, or RXPATH_GEN_LIVE=off), the JSON says why.
	switch g := r.Settings.Generator; {
	case !slices.Contains(traffic.Methods(), g):
		t.Errorf("generator %q is not a method", g)
	case g != traffic.MethodLive && (len(r.Settings.GeneratorRefused) == 0 || !strings.Contains(r.Settings.GeneratorRefused[0], traffic.MethodLive)):
		t.Errorf("generator %s, but the JSON names no refusal of live frames: %q", g, r.Settings.GeneratorRefused)
	case strings.EqualFold(os.Getenv(traffic.EnvLive), "off") && g == traffic.MethodLive:
		t.Errorf("live frames used with %s=off", traffic.EnvLive)
	}
	if !strings.Contains(table, "generator "+r.Settings.Generator) {
		t.Errorf("the table does not name the generator %s", r.Settings.Generator)
	}
	if len(r.Goals) != 21 {
		t.Errorf("%d goals, want 21", len(r.Goals))
	}
	for _, g := range r.Goals {
		switch g.ID {
		case "raw-vs-xsk-minimal", "memnic-raw":
			if g.Status != report.GoalPass && g.Status != report.GoalMiss || !g.Value.Valid() {
				t.Errorf("goal %s: %s %v (%s), want a pass or a miss with a value", g.ID, g.Status, g.Value, g.Detail)
			}
		case "raw-vs-ceiling":
			if g.Status != report.GoalInfo || !g.Informational {
				t.Errorf("goal %s: %s, informational %v; want info", g.ID, g.Status, g.Informational)
			}
		case "handler-vs-xsk-minimal", "memnic-udp-handler", "tap-captured":
			if g.Status != report.GoalNotRun || g.Value.Valid() {
				t.Errorf("goal %s without its rows: %s %v, want not-run", g.ID, g.Status, g.Value)
			}
		}
	}
	if v := r.Find("rxpath-raw").Summary.VsXSK; !v.Valid() {
		t.Error("rxpath-raw has no ratio to xsk-minimal")
	}
	if m := r.Find("memnic-raw"); m.Kind != report.KindCapacity || !strings.Contains(table, "\ncapacity: ") {
		t.Errorf("memnic-raw: kind %q, or no capacity section in the table:\n%s", m.Kind, table)
	}
	if v := r.Find("tcp-rxpath").Summary.VsKernel; !v.Valid() {
		t.Error("tcp-rxpath has no ratio to tcp-kernel")
	}
	if fi, err := os.Stat(plotPath); err != nil || fi.Size() == 0 {
		t.Errorf("plot: %v", err)
	}
	for _, ns := range []string{"p", "d"} {
		p := fmt.Sprintf("/var/run/netns/rxb-%d-%s", os.Getpid(), ns)
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
}
