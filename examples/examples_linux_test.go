package examples_test

// Each test builds the example programs, runs one in the DUT namespace of
// a veth lab (the way a user runs it on a host, through `ip netns exec`),
// drives it with kernel sockets from the peer namespace and checks what it
// prints. Every run is bounded by a deadline and killed at cleanup; the
// lab is torn down after it.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// runTimeout bounds one program run.
const runTimeout = 60 * time.Second

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds every example once per test binary and returns the path
// of the named one.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "rxpath-examples-")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool, "build", "-o", binDir+string(filepath.Separator),
			"github.com/rxpath/rxpath/examples/...").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// program is an example binary running in the lab's DUT namespace.
type program struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line, closed at EOF
	stdout strings.Builder
	stderr bytes.Buffer
	exited chan struct{}
	err    error
}

// start runs the named example in l's DUT namespace and waits for its
// first line, which says that it is ready.
func start(t *testing.T, l *lab.Lab, name string, args ...string) *program {
	t.Helper()
	labtest.RequirePrivileges(t)
	bin := binary(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	p := &program{
		cmd:    exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.DUTNS, bin}, args...)...),
		lines:  make(chan string, 1024),
		exited: make(chan struct{}),
	}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		cancel()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // a no-op once it has exited
		<-p.exited
	})
	select {
	case line, ok := <-p.lines:
		if !ok {
			<-p.exited
			t.Fatalf("%s exited before it was ready: %v\n%s", name, p.err, p.stderr.String())
		}
		p.stdout.WriteString(line + "\n")
		t.Logf("%s: %s", name, line)
	case <-time.After(runTimeout):
		t.Fatalf("%s did not get ready", name)
	}
	return p
}

// wait waits for the program to exit by itself and returns its whole
// standard output; it fails the test unless the exit status is 0.
func (p *program) wait(t *testing.T) string {
	t.Helper()
	for line := range p.lines {
		p.stdout.WriteString(line + "\n")
	}
	<-p.exited
	if p.err != nil {
		t.Fatalf("%v: %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Args, p.err, p.stdout.String(), p.stderr.String())
	}
	return p.stdout.String()
}

// interrupt sends SIGINT (`ip netns exec` execs the program, so it gets
// the signal) and waits as wait does.
func (p *program) interrupt(t *testing.T) string {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

func addrFlag(l *lab.Lab) string { return netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits()).String() }

// resolve makes the peer's kernel learn the DUT's MAC from rxpath's ARP
// answer, with one ping (answered by rxpath's ICMP).
func resolve(t *testing.T, l *lab.Lab) {
	t.Helper()
	if out, err := lab.Exec(l.PeerNS, "ping", "-c", "1", "-W", "2", l.DUTAddr.String()); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
}

func TestUDPSink(t *testing.T) {
	const n = 50
	l := labtest.New(t, lab.Config{})
	p := start(t, l, "udpsink", "-i", l.DUTIf, "-addr", addrFlag(l), "-port", "9000", "-n", strconv.Itoa(n), "-v")
	resolve(t, l)
	c := labtest.UDPSender(t, l, 9000)
	var want strings.Builder
	total := 0
	for i := range n {
		msg := fmt.Sprintf("datagram %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&want, "%v: %d bytes: %q\n", c.LocalAddr(), len(msg), msg)
		total += len(msg)
	}
	out := p.wait(t)
	fmt.Fprintf(&want, "received %d datagrams, %d bytes (receive queue drops: 0)\n", n, total)
	if _, rest, _ := strings.Cut(out, "\n"); rest != want.String() {
		t.Fatalf("output:\n%s\nwant after the first line:\n%s", out, want.String())
	}
}

func TestTCPEcho(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	p := start(t, l, "tcpecho", "-i", l.DUTIf, "-addr", addrFlag(l), "-port", "7")
	var want []string
	total := 0
	for _, size := range []int{14, 300 << 10} {
		msg := make([]byte, size)
		rand.Read(msg)
		local := echo(t, l, 7, msg)
		want = append(want, fmt.Sprintf("%v: echoed %d bytes", local, size))
		total += size
	}
	out := p.interrupt(t)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || lines[0] != fmt.Sprintf("listening on %v:7", l.DUTAddr) ||
		lines[1] != want[0] || lines[2] != want[1] ||
		lines[3] != fmt.Sprintf("served 2 connections, echoed %d bytes", total) {
		t.Fatalf("output:\n%s\nwant the connections:\n%s", out, strings.Join(want, "\n"))
	}
}

// echo connects from the peer's kernel, sends msg while reading the echo,
// half-closes, checks that exactly msg came back before the server's FIN,
// and returns the client's address.
func echo(t *testing.T, l *lab.Lab, port uint16, msg []byte) netip.AddrPort {
	t.Helper()
	var c net.Conn
	if err := lab.InNS(l.PeerNS, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err = d.Dial("tcp", netip.AddrPortFrom(l.DUTAddr, port).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(runTimeout))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the echo: %v (%d of %d bytes)", err, len(got), len(msg))
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo: got %d bytes, want %d", len(got), len(msg))
	}
	return c.LocalAddr().(*net.TCPAddr).AddrPort()
}

func TestCapture(t *testing.T) {
	const n = 10
	l := labtest.New(t, lab.Config{})
	// No stack answers ARP on the DUT: point the peer's kernel at it.
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.pcap")
	p := start(t, l, "capture", "-i", l.DUTIf, "-w", path, "-f", "udp dst port 9000", "-n", strconv.Itoa(n))
	other := labtest.UDPSender(t, l, 9001)
	c := labtest.UDPSender(t, l, 9000)
	for i := range n {
		if _, err := other.Write([]byte("not captured")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(fmt.Sprintf("captured %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	out := p.wait(t)
	m := regexp.MustCompile(`\ncounted (\d+) frames \(\d+ bytes\); captured (\d+), filtered out (\d+), dropped (\d+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output:\n%s", out)
	}
	counted, _ := strconv.Atoi(m[1])
	filtered, _ := strconv.Atoi(m[3])
	if counted < 2*n-1 || m[2] != strconv.Itoa(n) || filtered < n-1 || m[4] != "0" {
		t.Fatalf("counted %s frames (want >= %d), captured %s (want %d), filtered out %s (want >= %d), dropped %s:\n%s",
			m[1], 2*n-1, m[2], n, m[3], n-1, m[4], out)
	}

	frames, err := labtest.ReadPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != n {
		t.Fatalf("the capture holds %d frames, want %d", len(frames), n)
	}
	for i, data := range frames {
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		u, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u == nil || u.DstPort != 9000 || string(u.Payload) != fmt.Sprintf("captured %d", i) {
			t.Fatalf("frame %d of the capture:\n%v", i, pkt)
		}
	}
}

func TestHTTPServer(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	p := start(t, l, "httpserver", "-i", l.DUTIf, "-addr", addrFlag(l), "-port", "8080")
	// A kernel HTTP client in the peer namespace: its sockets are made
	// there, and used from here.
	client := &http.Client{
		Timeout: runTimeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = lab.InNS(l.PeerNS, func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}},
	}
	defer client.CloseIdleConnections()
	for range 3 {
		resp, err := client.Get(fmt.Sprintf("http://%v:8080/", l.DUTAddr))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "hello from rxpath, "+l.PeerAddr.Addr().String()+":") {
			t.Fatalf("GET: %s\n%s", resp.Status, body)
		}
	}
	out := p.interrupt(t)
	if want := fmt.Sprintf("listening on http://%v:8080/\nserved 3 requests\n", l.DUTAddr); out != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
}
