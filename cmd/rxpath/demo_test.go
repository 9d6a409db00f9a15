package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/internal/cli/demo"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/internal/harness/traffic"
)

// demoLab prepares a test of `rxpath demo`, which uses the default lab
// names: it skips if that lab is in use, and removes it when the test ends
// whatever happens.
func demoLab(t *testing.T) {
	t.Helper()
	labtest.RequirePrivileges(t)
	cfg := lab.DefaultConfig()
	for _, ns := range []string{cfg.PeerNS, cfg.DUTNS} {
		if _, err := os.Stat(filepath.Join("/var/run/netns", ns)); err == nil {
			t.Skipf("netns %s exists already (someone is using the default lab)", ns)
		}
	}
	t.Cleanup(func() {
		if err := lab.Down(cfg); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
}

// checkDemoGone checks that the demo left no namespace, no veth in the
// root namespace and no `rxpath run` behind.
func checkDemoGone(t *testing.T, bin string) {
	t.Helper()
	cfg := lab.DefaultConfig()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == cfg.PeerNS || f[0] == cfg.DUTNS) {
			t.Errorf("netns %s left behind", f[0])
		}
	}
	out, err = exec.Command("ip", "-d", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -d link show: %v\n%s", err, out)
	}
	for _, ifname := range []string{cfg.PeerIf, cfg.DUTIf} {
		if bytes.Contains(out, []byte(" "+ifname+"@")) || bytes.Contains(out, []byte(" "+ifname+":")) {
			t.Errorf("veth %s left in the root namespace:\n%s", ifname, out)
		}
	}
	if pids := demoProcs(t, bin); len(pids) > 0 {
		t.Errorf("processes of %s still running: %v", bin, pids)
	}
}

// demoProcs lists the processes running bin.
func demoProcs(t *testing.T, bin string) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // exited meanwhile
		}
		if argv0, _, _ := bytes.Cut(b, []byte{0}); string(argv0) == bin {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestDemo(t *testing.T) {
	demoLab(t)
	bin := buildBinary(t)
	// A lab left behind by a crashed run must not get in the way.
	if _, err := lab.Up(lab.DefaultConfig()); err != nil {
		t.Fatalf("stale lab: %v", err)
	}
	pcap := filepath.Join(t.TempDir(), "demo.pcap")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "demo", "--pcap", pcap).CombinedOutput()
	t.Logf("rxpath demo in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("rxpath demo: %v", err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^==> creating the veth lab`),
		regexp.MustCompile(`(?m)^==> removing the lab`),
		regexp.MustCompile(`path +received on AF_XDP \(native`),
		regexp.MustCompile(`ping +3 of 3 replies`),
		regexp.MustCompile(`udp :9000 +[1-9][0-9]* of [0-9]+ datagrams`),
		regexp.MustCompile(`\(generator (xdp-live-frames|af-xdp|af-packet) from CPU [0-9]+: [0-9.]+ Mpps sent\)`),
		regexp.MustCompile(`tcp :5001 +67108864 bytes in .*SHA-256 matches`),
		regexp.MustCompile(`http :8080 +HTTP/1.1 200 OK: "hello from rxpath`),
		regexp.MustCompile(`drops +rings: fill ring empty [0-9]+, rx ring full [0-9]+, invalid [0-9]+`),
		regexp.MustCompile(`kernel UDP socket: [0-9.]+ Mpps received of [0-9.]+ Mpps sent \([0-9.]+%\) vs rxpath: [0-9.]+ Mpps received`),
		regexp.MustCompile(`pcap +` + regexp.QuoteMeta(pcap) + `: [0-9]+ frames`),
		regexp.MustCompile(`tshark -r ` + regexp.QuoteMeta(pcap)),
	} {
		if !want.Match(out) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// With live frames turned off (make test runs this test that way
	// too), or refused by the kernel, the demo says so once and falls back.
	chosen := ""
	if m := regexp.MustCompile(`(?m)^==> generator: (\S+)$`).FindSubmatch(out); m != nil {
		chosen = string(m[1])
	}
	switch {
	case chosen == "":
		t.Error("the demo does not say which generator it chose")
	case chosen == traffic.MethodLive && strings.EqualFold(os.Getenv(traffic.EnvLive), "off"):
		t.Errorf("live frames chosen with %s=off", traffic.EnvLive)
	case chosen != traffic.MethodLive:
		if n := bytes.Count(out, []byte(traffic.MethodLive+" refused")); n != 1 {
			t.Errorf("generator %s: the refusal of live frames is reported %d times, want once", chosen, n)
		}
	}
	checkDemoGone(t, bin)
	checkDemoPcap(t, pcap, out)
}

// checkDemoPcap reads the demo's capture and looks for each kind of
// traffic the tap filter keeps.
func checkDemoPcap(t *testing.T, pcap string, report []byte) {
	t.Helper()
	if _, err := os.Stat(pcap); err != nil {
		t.Fatalf("the pcap is not where the report says: %v", err)
	}
	all, err := labtest.ReadPcap(pcap)
	if err != nil {
		t.Fatalf("pcapgo: frame %d: %v", len(all)+1, err)
	}
	frames := len(all)
	var arp, echo, syn5001, httpGet, udp9000 int
	for _, data := range all {
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if p.Layer(layers.LayerTypeARP) != nil {
			arp++
		}
		if icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && icmp.TypeCode.Type() == layers.ICMPv4TypeEchoRequest {
			echo++
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			if tcp.DstPort == demo.TCPPort && tcp.SYN {
				syn5001++
			}
			if tcp.DstPort == demo.HTTPPort && bytes.HasPrefix(tcp.Payload, []byte("GET / HTTP/1.1")) {
				httpGet++
			}
		}
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && udp.DstPort == demo.UDPPort {
			udp9000++
		}
	}
	t.Logf("pcap: %d frames: %d ARP, %d echo requests, %d SYNs to :5001, %d HTTP GETs, %d to udp :9000", frames, arp, echo, syn5001, httpGet, udp9000)
	if echo != 3 || syn5001 != 1 || httpGet != 1 || udp9000 != 0 {
		t.Errorf("pcap: want 3 echo requests, 1 SYN to :5001, 1 HTTP GET and nothing of the UDP burst")
	}
	if m := regexp.MustCompile(regexp.QuoteMeta(pcap) + `: ([0-9]+) frames`).FindSubmatch(report); m == nil || string(m[1]) != strconv.Itoa(frames) {
		t.Errorf("the pcap holds %d frames; the report says %q", frames, m)
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		out, err := exec.Command("tshark", "-r", pcap).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("HTTP")) || !bytes.Contains(out, []byte("ICMP")) {
			t.Errorf("tshark -r %s: %v\n%s", pcap, err, out)
		}
	}
}

func TestDemoInterrupted(t *testing.T) {
	labtest.RequirePrivileges(t)
	bin := buildBinary(t)
	for _, tc := range []struct {
		name, step string // SIGINT goes once this step line is out
	}{
		{"starting", "==> starting rxpath run"},
		{"udp-burst", "==> UDP burst"},
		{"kernel-comparison", "==> kernel comparison"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			demoLab(t)
			out := &syncBuffer{}
			cmd := exec.Command(bin, "demo", "--pcap", filepath.Join(t.TempDir(), "demo.pcap"))
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					<-exited
				}
			})
			labtest.WaitFor(t, tc.step, func() bool { return strings.Contains(out.String(), tc.step) })
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			var err error
			select {
			case err = <-exited:
			case <-time.After(20 * time.Second):
				t.Fatalf("rxpath demo still running 20 s after SIGINT:\n%s", out.String())
			}
			t.Logf("exited %v after SIGINT: %v\n%s", time.Since(sent).Round(time.Millisecond), err, out.String())
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Errorf("exit: %v, want a non-zero exit code", err)
			}
			if !strings.Contains(out.String(), "rxpath: interrupted") {
				t.Errorf("output does not say it was interrupted")
			}
			if !strings.Contains(out.String(), "==> removing the lab") {
				t.Errorf("output does not show the lab being removed")
			}
			checkDemoGone(t, bin)
		})
	}
}
