package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// runFails runs `rxpath run` in the lab's DUT namespace (through prefix,
// e.g. setpriv) and returns its stderr; it must exit with status 1.
func runFails(t *testing.T, l *lab.Lab, prefix []string, bin string, args ...string) string {
	t.Helper()
	argv := append([]string{"netns", "exec", l.DUTNS}, prefix...)
	argv = append(argv, bin, "run", "--duration", "2s")
	cmd := exec.Command("ip", append(argv, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("rxpath run %v: %v, want exit status 1\n%s", args, err, stderr.String())
	}
	return stderr.String()
}

// Each preflight failure gives the message the README documents, before
// anything is bound.
func TestPreflightFailures(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T)
		prefix []string
		args   []string
		want   []string
	}{
		{name: "no such interface", args: []string{"--iface", "rxp-nope0"},
			want: []string{`preflight interface: error: no interface named "rxp-nope0" in this network namespace; 'ip -br link' lists them`}},
		{name: "queue count", args: []string{"--iface", l.DUTIf, "--queues", "0,3"},
			want: []string{"preflight queues: error: queue 3 does not exist: " + l.DUTIf + " has 1 rx queue (0) (from ethtool channels; 'ethtool -l " + l.DUTIf + "')"}},
		{name: "MTU too large for native",
			setup: func(t *testing.T) {
				if err := l.SetMTU(9000); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.SetMTU(1500) })
			},
			args: []string{"--iface", l.DUTIf, "--attach", "native"},
			want: []string{"preflight mtu: error: MTU 9000 is too large for native XDP on " + l.DUTIf + " (veth allows at most 3506): lower it with 'ip link set dev " + l.DUTIf + " mtu 3506', or use --attach generic"}},
		{name: "not root",
			prefix: []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"},
			args:   []string{"--iface", l.DUTIf},
			want: []string{"preflight privileges: error: missing CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF (or CAP_SYS_ADMIN): AF_XDP needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF; run rxpath as root, or grant them with 'setcap cap_net_admin,cap_net_raw,cap_bpf,cap_ipc_lock+ep /path/to/rxpath'",
				"preflight memlock: error: RLIMIT_MEMLOCK is"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			b := bin
			if tc.prefix != nil {
				b = worldExecutable(t, bin)
			}
			out := runFails(t, l, tc.prefix, b, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "receiving on") || labtest.XDPAttached(t, l) {
				t.Errorf("a failed preflight must not bind:\n%s", out)
			}
		})
	}
}

// worldExecutable copies bin where an unprivileged user can run it (test
// temp dirs are 0700).
func worldExecutable(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rxpath-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "rxpath")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// SIGHUP reopens the pcap: after logrotate moves the file away, frames
// go to a new file at the old path, and both files are whole captures.
func TestSIGHUPReopensPcap(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "rx.pcap")
	cmd, stdout, stderr := startRun(t, bin, l, "--ip", "10.99.0.2/24", "--udp-sink", "9000", "--pcap", pcap, "--json", "--interval", "0")
	tx := labtest.UDPSender(t, l, 9000)
	send := func(first, n int) {
		for i := range n {
			if _, err := tx.Write(labtest.Payload(make([]byte, 64), uint64(first+i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 100)
	// The file is still being written: a record cut short is no error yet.
	labtest.WaitFor(t, "the first 100 datagrams", func() bool { f, _ := labtest.ReadPcap(pcap); return len(f) >= 100 })
	if err := os.Rename(pcap, pcap+".1"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	labtest.WaitFor(t, "the reopen", func() bool { return strings.Contains(stderr.String(), "SIGHUP: reopened the pcap") })
	send(100, 50)
	// Stopping drops what is still in the rx ring, as closing a socket
	// does: wait for the 50 to be taken (the tap sees each frame before
	// the stack) before SIGINT.
	labtest.WaitFor(t, "the next 50 datagrams", func() bool { f, _ := labtest.ReadPcap(pcap); return len(f) >= 50 })
	s := runSummary(t, cmd, stdout, stderr)
	if s.UDPSinks[0].Datagrams != 150 {
		t.Fatalf("sink got %d datagrams, want 150", s.UDPSinks[0].Datagrams)
	}
	// Both files are closed now: each must read to a clean end.
	count := func(path string) int {
		f, err := labtest.ReadPcap(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return len(f)
	}
	old, cur := count(pcap+".1"), count(pcap)
	// The tap sees every frame (the kernel's ARP too), so count at least.
	if old < 100 || cur < 50 || old+cur != int(s.Tap.Written) {
		t.Fatalf("rotated file holds %d frames, new one %d; the tap wrote %d", old, cur, s.Tap.Written)
	}
}

// The live stats view redraws in place on a terminal: rendered by tmux
// after several intervals, the screen holds one totals line and one line
// per queue. The README shows this capture; the test checks that it
// still matches what rxpath draws (digits aside), and rewrites it with
// RXPATH_UPDATE_README=1.
func TestLiveViewOnTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is required (installed by .ci/run): %v", err)
	}
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	session := fmt.Sprintf("rxpt-%d", os.Getpid())
	run := fmt.Sprintf("ip netns exec %s %s run --iface %s --ip 10.99.0.2/24 --udp-sink 9000 --interval 500ms --cpus 1; sleep 30",
		l.DUTNS, bin, l.DUTIf)
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "220", "-y", "12", run).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	capture := func() string {
		out, err := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		if err != nil {
			t.Fatalf("tmux capture-pane: %v", err)
		}
		return strings.TrimRight(string(out), "\n ")
	}
	labtest.WaitFor(t, "the stats view", func() bool { return strings.Contains(capture(), "  q0 ") })
	// Traffic flows while the screen is captured, so the rates show.
	tx := labtest.UDPSender(t, l, 9000)
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		buf := make([]byte, 64)
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tx.Write(labtest.Payload(buf, i))
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	time.Sleep(1700 * time.Millisecond) // at least three redraws
	screen := capture()
	close(stop)
	<-sent
	exec.Command("tmux", "send-keys", "-t", session, "C-c").Run()

	lines := strings.Split(screen, "\n")
	totals := regexp.MustCompile(`^ +[0-9.]+s  rx +[0-9.]+ Mpps +[0-9.]+ Gbit/s  total \d+ \| drops .* \| squeeze=\d+ polls=\d+ wakeups=\d+$`)
	stack := regexp.MustCompile(`^  stack eth not_for_us=\d+ \| ip in=\d+ .* \| udp in=\d+ .* sinks=\d+$`)
	queue := regexp.MustCompile(`^  q0 +[0-9.]+ Mpps +[0-9.]+ Gbit/s \| drops fill_empty=\d+ ring_full=\d+ xdp_dropped=\d+ invalid=\d+ \| rings rx \d+/\d+ fill \d+/\d+ \| busy +[0-9.]+% squeeze=\d+$`)
	var nt, ns, nq int
	var view []string
	for _, ln := range lines {
		switch {
		case totals.MatchString(ln):
			nt++
			view = append(view, ln)
		case stack.MatchString(ln):
			ns++
			view = append(view, ln)
		case queue.MatchString(ln):
			nq++
			view = append(view, ln)
		}
	}
	if nt != 1 || ns != 1 || nq != 1 {
		t.Fatalf("want the view redrawn in place (one totals, stack and queue line), got %d, %d and %d:\n%s", nt, ns, nq, screen)
	}
	if !strings.Contains(screen, `level=INFO msg="receiving on `+l.DUTIf+`"`) {
		t.Errorf("the structured start line is missing:\n%s", screen)
	}

	// The README's capture must be what rxpath draws, digits aside.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- live-stats:begin -->\n```\n", "```\n<!-- live-stats:end -->"
	i, j := bytes.Index(readme, []byte(begin)), bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md has no live-stats capture between %q and %q", begin, end)
	}
	got := strings.Join(view, "\n") + "\n"
	shown := string(readme[i+len(begin) : j])
	digits := regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)
	shape := func(s string) string { return digits.ReplaceAllString(strings.Join(strings.Fields(s), " "), "0") }
	if shape(shown) != shape(got) {
		if os.Getenv("RXPATH_UPDATE_README") != "" {
			out := append(append(append([]byte{}, readme[:i+len(begin)]...), got...), readme[j:]...)
			if err := os.WriteFile("../../README.md", out, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("README.md updated with:\n%s", got)
			return
		}
		t.Fatalf("README.md's live-stats capture no longer matches the view; run with RXPATH_UPDATE_README=1 to refresh it.\nREADME:\n%s\nrendered:\n%s", shown, got)
	}
}
