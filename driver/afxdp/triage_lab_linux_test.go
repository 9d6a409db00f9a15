package afxdp_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// TestTriageAttached: with Options.Triage the device attaches the triage
// program through its BPF link and reports its counters; Close leaves
// nothing on the interface (open's cleanup checks).
func TestTriageAttached(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	d := open(t, l, afxdp.Options{Triage: afxdp.DefaultTriage()})
	if on, why := d.Triage(); !on {
		t.Fatalf("triage refused: %s", why)
	}
	if _, err := d.ProgramID(); err != nil {
		t.Fatal(err)
	}
	s, ok, err := d.TriageStats()
	if !ok || err != nil || s.Dropped() != 0 {
		t.Fatalf("TriageStats = %+v, %v, %v", s, ok, err)
	}
	if err := d.SetUDPPort(53, true); err != nil {
		t.Fatal(err)
	}
}

// TestTriageFallback: a kernel that refuses the stage's program costs the
// stage, not the device: Open attaches the plain program, logs one line
// saying why, and Triage reports it.
func TestTriageFallback(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	defer afxdp.RefuseTriageForTest()()
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	d := open(t, l, afxdp.Options{Triage: afxdp.DefaultTriage()})
	on, why := d.Triage()
	if on || !strings.Contains(why, "bpf_xdp_output") {
		t.Errorf("Triage() = %v, %q; want off, naming the helper", on, why)
	}
	if n := strings.Count(logs.String(), "XDP triage off"); n != 1 {
		t.Errorf("%d log lines about the fallback, want 1:\n%s", n, logs.String())
	}
	if _, ok, _ := d.TriageStats(); ok {
		t.Error("TriageStats reports a stage that is off")
	}
	if _, err := d.ProgramID(); err != nil {
		t.Errorf("no XDP program after the fallback: %v", err)
	}
}

// TestTriageOffByDefault: the zero Options load the plain redirect, the
// program rxpath ran before the stage existed, so nothing changes on the
// receive path with the stage off.
func TestTriageOffByDefault(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	for _, o := range []afxdp.Options{{}, {Triage: afxdp.DefaultTriage()}} {
		d := open(t, l, o)
		id, err := d.ProgramID()
		if err != nil {
			t.Fatal(err)
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		on, _ := d.Triage()
		want := "rxpath_xsk"
		if o.Triage.Enabled() {
			want = "rxpath_triage"
		}
		if info.Name != want || on != o.Triage.Enabled() {
			t.Errorf("Options %+v: program %q, triage %v; want %q, %v", o.Triage, info.Name, on, want, o.Triage.Enabled())
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
