package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// TestFilterDropsButTapCaptures: datagrams to a port with a drop rule
// never reach its socket and are counted on the rule, yet the pcap (the
// tap sits ahead of the filter) holds every one of them, as tcpdump and
// tshark both confirm.
func TestFilterDropsButTapCaptures(t *testing.T) {
	const n = 500
	for _, tool := range []string{"tcpdump", "tshark", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (installed by .ci/run): %v", tool, err)
		}
	}
	l := labtest.New(t, lab.Config{})
	bin := buildBinary(t)
	pcap := filepath.Join(t.TempDir(), "rx.pcap")
	cmd, stdout, stderr := startRun(t, bin, l, "--ip", "10.99.0.2/24", "--udp-sink", "9000", "--udp-sink", "9001",
		"--filter", "drop udp dport 9001", "--pcap", pcap, "--json", "--interval", "200ms")
	if out, err := lab.Exec(l.PeerNS, "ping", "-c", "1", "-W", "2", "10.99.0.2"); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	for _, port := range []int{9000, 9001} {
		c := labtest.UDPSender(t, l, port)
		buf := make([]byte, 100)
		for i := 0; i < n; i++ {
			buf[7] = byte(i)
			if _, err := c.Write(buf); err != nil {
				t.Fatal(err)
			}
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rxpath run: %v\n%s", err, stderr.String())
	}
	var s summary.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, stdout.String())
	}
	sinks := map[uint16]summary.SinkStats{}
	for _, k := range s.UDPSinks {
		sinks[k.Port] = k
	}
	if sinks[9000].Datagrams != n || sinks[9001].Datagrams != 0 {
		t.Fatalf("sinks: %+v; want %d on 9000 and none on 9001", s.UDPSinks, n)
	}
	if len(s.Filter) != 1 || s.Filter[0].Packets != n {
		t.Fatalf("filter rule counters %+v; want %d packets", s.Filter, n)
	}
	if s.Tap == nil || s.Tap.Dropped != 0 || s.Tap.Written < 2*n {
		t.Fatalf("tap stats %+v", s.Tap)
	}
	out, err := exec.Command("tcpdump", "-nn", "-r", pcap, "udp dst port 9001").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "> 10.99.0.2.9001: UDP"); got != n {
		t.Fatalf("tcpdump counts %d datagrams to 9001, want %d", got, n)
	}
	out, err = exec.Command("tshark", "-r", pcap, "-Y", "udp.dstport == 9001", "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	if got := len(strings.Fields(string(out))); got != n {
		t.Fatalf("tshark counts %d datagrams to 9001, want %d", got, n)
	}
	t.Logf("pcap holds %s frames; tshark and tcpdump each count %d to the filtered port", strconv.FormatUint(s.Tap.Written, 10), n)
}
