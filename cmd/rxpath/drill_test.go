package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// Fault drills through the binary (issue 8): the interface deleted under
// `rxpath run`, with and without --reattach, and kill -9 under traffic.

func procFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func deleteLink(t *testing.T, l *lab.Lab) {
	t.Helper()
	if err := lab.DelLink(l.DUTNS, l.DUTIf); err != nil {
		t.Fatal(err)
	}
}

func sendSeqs(t *testing.T, l *lab.Lab, first, n int) {
	t.Helper()
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 64)
	for i := first; i < first+n; i++ {
		if _, err := c.Write(labtest.Payload(buf, uint64(i))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestLinkDeletedExits: without --reattach, deleting the interface ends
// the run with a non-zero exit, a message naming the cause, and the
// summary (ledger balanced).
func TestLinkDeletedExits(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, stdout, stderr := startRun(t, bin, l, "--ip", "10.99.0.2/24", "--udp-sink", "9000", "--json", "--interval", "0")
	sendSeqs(t, l, 0, 500)
	time.Sleep(100 * time.Millisecond)
	deleteLink(t, l)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("rxpath run did not exit after its interface was deleted:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("exit: %v, want a non-zero exit status\n%s", err, stderr.String())
	}
	if msg := stderr.String(); !strings.Contains(msg, "link deleted") || !strings.Contains(msg, "no such device") {
		t.Fatalf("stderr does not say the link was deleted:\n%s", msg)
	}
	var s summary.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("no summary: %v\n%s", err, stdout.String())
	}
	if !s.Link.Deleted || s.LedgerErr != "" || s.UDPSinks[0].Datagrams != 500 {
		t.Fatalf("summary: link %+v, ledger %q, sink %+v", s.Link, s.LedgerErr, s.UDPSinks[0])
	}
	t.Logf("exit %d: %s", ee.ExitCode(), lastLine(stderr.String()))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestReattach: with --reattach, the run waits for a deleted interface to
// return (same name and MAC, new ifindex, as after a driver reload), binds
// it again with the same stack, and receives; nothing leaks across the
// re-attach and the counters carry over.
func TestReattach(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, stdout, stderr := startRun(t, bin, l, "--reattach", "--ip", "10.99.0.2/24", "--udp-sink", "9000", "--json", "--interval", "0")
	pid := cmd.Process.Pid
	sendSeqs(t, l, 0, 1000)
	time.Sleep(100 * time.Millisecond)
	fds := procFDs(t, pid)
	oldIndex := l.DUTIndex

	deleteLink(t, l)
	labtest.WaitFor(t, "the run to wait for the interface", func() bool { return strings.Contains(stderr.String(), "waiting for it to return") })
	time.Sleep(300 * time.Millisecond) // a while without the interface
	if cmd.ProcessState != nil {
		t.Fatalf("the run exited: %s", stderr.String())
	}
	if err := l.Recreate(); err != nil {
		t.Fatal(err)
	}
	if l.DUTIndex == oldIndex {
		t.Fatalf("the recreated interface kept ifindex %d", oldIndex)
	}
	labtest.WaitFor(t, "the run to bind again", func() bool { return strings.Count(stderr.String(), "receiving on") == 2 })
	if !labtest.XDPAttached(t, l) {
		t.Fatal("no XDP program on the recreated interface")
	}
	sendSeqs(t, l, 1000, 1000)
	time.Sleep(200 * time.Millisecond)
	// Both ends' counters since the re-creation, to tell a frame lost
	// before the interface from one lost after it, should one be.
	peerStats, _ := lab.Exec(l.PeerNS, "ip", "-s", "link", "show", l.PeerIf)
	dutStats, _ := lab.Exec(l.DUTNS, "ip", "-s", "link", "show", l.DUTIf)
	if n := procFDs(t, pid); n != fds {
		t.Errorf("%d fds open after the re-attach, %d before the deletion", n, fds)
	}
	s := runSummary(t, cmd, stdout, stderr)
	k := s.UDPSinks[0]
	if s.Reattached != 1 || s.Link.Downs != 1 || !s.Link.Up || s.LedgerErr != "" {
		t.Fatalf("summary: reattached %d, link %+v, ledger %q", s.Reattached, s.Link, s.LedgerErr)
	}
	if k.Datagrams != 2000 || k.SeqGaps != 0 || s.Frames < 2000 {
		t.Fatalf("sink %+v, %d frames: want all 2000 datagrams across the re-attach\nstack %+v\nqueues %+v\npeer: %s\nDUT: %s", k, s.Frames, *s.Stack, s.Queues, peerStats, dutStats)
	}
	if labtest.XDPAttached(t, l) {
		t.Fatal("XDP program left after shutdown")
	}
	t.Logf("re-attached after %.2fs without the interface; %d datagrams, %d fds throughout", s.Link.DownTime, k.Datagrams, fds)
}

// TestKill9UnderTraffic: kill -9 while the peer floods the interface
// leaves no program on it, and a new run binds at once (bind retries
// EBUSY) and receives.
func TestKill9UnderTraffic(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	flood := exec.Command("ip", "netns", "exec", l.PeerNS, "timeout", "-s", "INT", "20",
		"taskset", "-c", "0", "hping3", "--udp", "--flood", "-q", "-p", "9000", "-d", "18", l.DUTAddr.String())
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		flood.Process.Signal(syscall.SIGINT)
		flood.Wait()
	}()
	cmd, _, stderr := startRun(t, bin, l, "--attach", "native", "--cpus", "1", "--interval", "100ms")
	labtest.WaitFor(t, "traffic", func() bool {
		return strings.Contains(stderr.String(), "Mpps") && !strings.Contains(lastLine(stderr.String()), "total 0 ")
	})
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitNoXDP(t, l)
	// At once, with the flood still running.
	out, err := exec.Command("ip", "netns", "exec", l.DUTNS, bin, "run", "--iface", l.DUTIf, "--attach", "native", "--cpus", "1",
		"--duration", "1s", "--json", "--interval", "0").Output()
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	var s summary.Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	if s.Frames == 0 || s.LedgerErr != "" || !strings.HasPrefix(s.Mode, "native") {
		t.Fatalf("second run under the flood: %d frames, mode %q, ledger %q", s.Frames, s.Mode, s.LedgerErr)
	}
	t.Logf("rebound under the flood: %d frames in %.1fs (%.2f Mpps), %d dropped", s.Frames, s.Elapsed, float64(s.Frames)/s.Elapsed/1e6, s.Dropped)
}
