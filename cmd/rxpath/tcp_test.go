package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// dialPeer opens n kernel TCP connections from the peer namespace.
func dialPeer(t *testing.T, l *lab.Lab, port, n int) []*net.TCPConn {
	t.Helper()
	var conns []*net.TCPConn
	err := lab.InNS(l.PeerNS, func() error {
		for i := 0; i < n; i++ {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", l.DUTAddr, port), 10*time.Second)
			if err != nil {
				return fmt.Errorf("dial %d: %w", i, err)
			}
			conns = append(conns, c.(*net.TCPConn))
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		t.Fatal(err)
	}
	return conns
}

// stream writes n pseudo-random bytes and returns their SHA-256.
func stream(c *net.TCPConn, n int64, seed uint64) (string, error) {
	// A stalled receiver must fail the test, not hang it. The bound is
	// generous for a noisy VM: the thousand-connection run takes about
	// 20 s now that the windows share the rx ring (tcp.Options.RcvMem);
	// before, burst loss left connections sitting out backed-off kernel
	// RTOs for minutes.
	c.SetWriteDeadline(time.Now().Add(5 * time.Minute))
	r := labtest.StreamRand(seed)
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for left := n; left > 0; {
		k := min(int64(len(buf)), left)
		labtest.FillStream(r, buf[:k])
		h.Write(buf[:k])
		if _, err := c.Write(buf[:k]); err != nil {
			return "", err
		}
		left -= k
	}
	return hex.EncodeToString(h.Sum(nil)), c.CloseWrite()
}

func runSummary(t *testing.T, cmd *exec.Cmd, stdout fmt.Stringer, stderr fmt.Stringer) summary.Summary {
	t.Helper()
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rxpath run: %v\n%s", err, stderr.String())
	}
	var s summary.Summary
	if err := json.Unmarshal([]byte(stdout.String()), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.String())
	}
	if s.LedgerErr != "" {
		t.Fatalf("ledger: %s", s.LedgerErr)
	}
	return s
}

func waitSink(t *testing.T, conns []*net.TCPConn) {
	t.Helper()
	// The sink closes each connection when the peer's FIN arrives; the
	// peer sees EOF then. One deadline bounds the whole wait.
	deadline := time.Now().Add(90 * time.Second)
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("the sink sent data")
		}
		c.Close()
	}
}

func TestHTTPCurl(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, stdout, stderr := startRun(t, bin, l, "--ip", "10.99.0.2/24", "--http", "8080", "--json", "--interval", "0")
	out, err := lab.Exec(l.PeerNS, "curl", "-sS", "-m", "10", "http://10.99.0.2:8080/")
	if err != nil || !strings.Contains(string(out), "hello from rxpath") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	s := runSummary(t, cmd, stdout, stderr)
	if s.TCP == nil || s.TCP.PassiveOpens != 1 {
		t.Fatalf("tcp stats %+v", s.TCP)
	}
}

func TestTCPStreams(t *testing.T) {
	const big = 1 << 30
	for _, tc := range []struct {
		name  string
		args  []string
		bytes int64
	}{
		{"1GiB", nil, big},
		{"1GiB-loss-reorder", []string{"--inject-loss", "0.01", "--inject-reorder", "0.01"}, big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := labtest.New(t, lab.Config{})
			bin := buildBinary(t)
			args := append([]string{"--ip", "10.99.0.2/24", "--tcp-sink", "5001", "--cpus", "1", "--json", "--interval", "0"}, tc.args...)
			cmd, stdout, stderr := startRun(t, bin, l, args...)
			conns := dialPeer(t, l, 5001, 1)
			start := time.Now()
			sum, err := stream(conns[0], tc.bytes, 1)
			if err != nil {
				t.Fatalf("stream: %v\n%s", err, stderr.String())
			}
			waitSink(t, conns)
			el := time.Since(start)
			s := runSummary(t, cmd, stdout, stderr)
			if len(s.TCPSinks) != 1 || len(s.TCPSinks[0].Connections) != 1 {
				t.Fatalf("sink summary %+v", s.TCPSinks)
			}
			got := s.TCPSinks[0].Connections[0]
			if got.Bytes != uint64(tc.bytes) || got.SHA256 != sum || !got.Done {
				t.Fatalf("sink got %d bytes sha %s (complete %v); sent %d sha %s", got.Bytes, got.SHA256, got.Done, tc.bytes, sum)
			}
			t.Logf("%s: %d bytes exact in %v (%.2f Gbit/s); tcp %+v", tc.name, tc.bytes, el.Round(time.Millisecond),
				float64(tc.bytes)*8/el.Seconds()/1e9, *s.TCP)
		})
	}
}

func TestThousandConnections(t *testing.T) {
	const n, size = 1000, 1 << 20
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, stdout, stderr := startRun(t, bin, l, "--ip", "10.99.0.2/24", "--tcp-sink", "5001", "--cpus", "1", "--json", "--interval", "0",
		"--rx-ring", "8192", "--frames", "16384")
	conns := dialPeer(t, l, 5001, n)
	want := make(map[string]string, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := stream(c, size, uint64(i+10))
			if err != nil {
				errc <- err
				return
			}
			mu.Lock()
			want[c.LocalAddr().String()] = sum
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	waitSink(t, conns)
	s := runSummary(t, cmd, stdout, stderr)
	got := s.TCPSinks[0].Connections
	if len(got) != n {
		t.Fatalf("sink saw %d connections, want %d", len(got), n)
	}
	for _, c := range got {
		if c.Bytes != size || c.SHA256 != want[c.Remote] || !c.Done {
			t.Fatalf("connection %s: %d bytes, sha %s (complete %v); want %d bytes, sha %s", c.Remote, c.Bytes, c.SHA256, c.Done, size, want[c.Remote])
		}
	}
	k := s.Queues[0].Driver.Kernel
	t.Logf("tcp %+v; driver drops %d (fill empty %d, ring full %d)", *s.TCP, s.Dropped, k.RxFillRingEmpty, k.RxRingFull)
}

func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	out, err := exec.Command("grep", "VmRSS", fmt.Sprintf("/proc/%d/status", pid)).Output()
	if err != nil {
		return 0
	}
	var kb int64
	fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(string(out), "VmRSS:")), "%d", &kb)
	return kb << 10
}

// TestSYNFlood: during hping3 -S --flood against the listener, a normal
// client still connects and transfers (SYN cookies), the cookie counters
// move, and memory stays bounded.
//
// hping3 sends from the peer's own address, walking every source port
// several times a second, so its SYNs land on the legitimate clients'
// 4-tuples too. Its one failure in CI (the first client reset with
// passive_opens 0, syncookies_failed 1, listen_bad_ack 1, out_rsts 1) was
// a client whose cookie handshake ACK and first data were all lost in the
// flooded rx ring: a flood SYN-ACK on its tuple drew a challenge ACK past
// ISN+1, which failed the cookie check and was reset. Such an ACK echoes
// our cookie's timestamp and is now dropped quietly
// (syncookies_ack_dropped; tcp TestSynCookieChallengeACK).
func TestSYNFlood(t *testing.T) {
	if _, err := exec.LookPath("hping3"); err != nil {
		t.Fatalf("hping3 is required (installed by .ci/run): %v", err)
	}
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	cmd, stdout, stderr := startRun(t, bin, l, "--ip", "10.99.0.2/24", "--tcp-sink", "5001", "--cpus", "1", "--json", "--interval", "0")
	before := vmRSS(t, cmd.Process.Pid)
	flood := exec.Command("ip", "netns", "exec", l.PeerNS, "timeout", "-s", "INT", "8", "hping3", "-S", "--flood", "-p", "5001", "-q", l.DUTAddr.String())
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	defer flood.Wait()
	time.Sleep(time.Second) // let the flood build up
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 60; i++ {
			if v := vmRSS(t, cmd.Process.Pid); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	// Several legitimate clients, one after another while the flood runs:
	// every handshake races the flood for the SYN queue and the rx ring.
	const clients = 4
	sums := make(map[string]bool)
	for i := range clients {
		conns := dialPeer(t, l, 5001, 1)
		sum, err := stream(conns[0], 1<<20, uint64(7+i))
		if err != nil {
			conns[0].Close()
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			t.Fatalf("legitimate client %d during the flood: %v\n%s", i, err, stdout.String())
		}
		waitSink(t, conns)
		sums[sum] = true
	}
	<-done
	flood.Wait()
	s := runSummary(t, cmd, stdout, stderr)
	intact := 0
	for _, c := range s.TCPSinks[0].Connections {
		if sums[c.SHA256] && c.Bytes == 1<<20 {
			intact++
		}
	}
	if intact != clients {
		t.Fatalf("%d of %d legitimate streams arrived intact during the flood: %+v", intact, clients, s.TCPSinks[0].Connections)
	}
	if s.TCP.SyncookiesSent == 0 {
		t.Fatalf("no SYN cookies sent during the flood: %+v", *s.TCP)
	}
	// Half-open connections cost no buffers and the SYN queue is bounded:
	// memory must not grow with the flood.
	if growth := peak.Load() - before; growth > 256<<20 {
		t.Fatalf("RSS grew by %d MiB during the flood", growth>>20)
	}
	t.Logf("flood: %d SYNs seen, %d cookies sent, %d returned, %d failed (%d data segments and %d bare ACKs dropped quietly); RSS %d MiB before, peak %d MiB",
		s.TCP.InSegs, s.TCP.SyncookiesSent, s.TCP.SyncookiesRecv, s.TCP.SyncookiesFailed, s.TCP.SyncookiesDataDropped, s.TCP.SyncookiesACKDropped,
		before>>20, peak.Load()>>20)
}
