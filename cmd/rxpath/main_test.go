package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"run"}, 2, "--iface is required"},
		{[]string{"run", "--iface", "x", "--attach", "magic"}, 2, "unknown attach mode"},
		{[]string{"run", "--iface", "x", "--cpus", "a,b"}, 2, "--cpus"},
		{[]string{"lab", "sideways"}, 2, "unknown subcommand"},
		{[]string{"help"}, 0, "usage"},
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

// buildBinary builds rxpath once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rxpath")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitNoXDP waits for the XDP program of a killed run to leave the
// interface: the kernel detaches it when the last fd of its BPF link
// closes, with the process.
func waitNoXDP(t *testing.T, l *lab.Lab) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for labtest.XDPAttached(t, l) {
		if time.Now().After(deadline) {
			t.Fatal("the XDP program outlived the killed process")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startRun starts `rxpath run` in the DUT namespace and waits until it
// reports that it is receiving.
func startRun(t *testing.T, bin string, l *lab.Lab, args ...string) (*exec.Cmd, *bytes.Buffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.DUTNS, bin, "run", "--iface", l.DUTIf}, args...)...)
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "receiving on") {
		if time.Now().After(deadline) {
			t.Fatalf("rxpath run did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, &stdout, stderr
}

func TestKill9LeavesNothing(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, _, _ := startRun(t, bin, l, "--attach", "native")
	if !labtest.XDPAttached(t, l) {
		t.Fatal("no XDP program while rxpath runs")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitNoXDP(t, l)
	// A new run binds again at once (bind retries EBUSY) and exits cleanly.
	start := time.Now()
	out, err := exec.Command("ip", "netns", "exec", l.DUTNS, bin, "run", "--iface", l.DUTIf, "--attach", "native",
		"--duration", "500ms", "--json", "--interval", "0").Output()
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	var s rxpath.Snapshot
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	if s.Driver != "xdp" || !strings.HasPrefix(s.Mode, "native") || len(s.Queues) != 1 || s.LedgerErr != "" {
		t.Fatalf("summary %+v", s)
	}
	t.Logf("rebound and ran in %v", time.Since(start))
}

func TestSignalShutdown(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, stdout, stderr := startRun(t, bin, l, "--json", "--interval", "50ms")
			c := labtest.UDPSender(t, l, 9000)
			for i := 0; i < 1000; i++ {
				c.Write([]byte("0123456789abcdef"))
				if i%100 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			time.Sleep(200 * time.Millisecond)
			cmd.Process.Signal(sig)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v\n%s", err, stderr.String())
			}
			var s rxpath.Snapshot
			if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
				t.Fatalf("summary is not JSON: %v\n%s", err, stdout.String())
			}
			if s.Frames < 1000 || s.LedgerErr != "" {
				t.Fatalf("summary: %d frames (want at least the 1000 sent), ledger error %q", s.Frames, s.LedgerErr)
			}
			q := s.Queues[0]
			if b := q.Driver.Buffers; b.Free != b.Total {
				t.Fatalf("ledger after shutdown: %+v", b)
			}
			if !strings.Contains(stderr.String(), "Mpps") {
				t.Fatalf("no stats lines on stderr: %s", stderr.String())
			}
			if labtest.XDPAttached(t, l) {
				t.Fatal("XDP program left after a clean shutdown")
			}
		})
	}
}

func TestLabCommand(t *testing.T) {
	labtest.RequirePrivileges(t)
	if _, err := os.Stat("/var/run/netns/rxp-dut"); err == nil {
		t.Skip("a lab named rxp-dut exists already (someone is using it)")
	}
	var out, errb bytes.Buffer
	t.Cleanup(func() { lab.Down(lab.DefaultConfig()) })
	if code := mainCmd([]string{"lab", "up", "--queues", "2"}, &out, &errb); code != 0 {
		t.Fatalf("lab up: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "rxp-dut") || !strings.Contains(out.String(), "2 queues") {
		t.Fatalf("lab up output: %s", out.String())
	}
	if code := mainCmd([]string{"lab", "down"}, &out, &errb); code != 0 {
		t.Fatalf("lab down: exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat("/var/run/netns/rxp-dut"); err == nil {
		t.Fatal("rxp-dut still exists after lab down")
	}
}
