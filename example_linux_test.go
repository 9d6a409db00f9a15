package rxpath_test

// The godoc examples need a NIC, so go test only compiles them. These lab
// tests run each example's code, the helper its Example function calls,
// on the DUT end of a veth lab, with the peer's kernel sending real
// traffic, and check what the example prints. The helpers' Close errors,
// which include every queue's buffer ledger, fail the tests.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// exampleTimeout bounds one example run in the lab.
const exampleTimeout = 60 * time.Second

// exampleRun is an example helper running in the DUT namespace.
type exampleRun struct {
	cancel context.CancelFunc
	done   chan error
	lines  chan string

	mu  sync.Mutex
	out bytes.Buffer
	buf []byte // the incomplete last line
}

// Write collects the helper's output and passes each complete line on.
func (r *exampleRun) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.Write(p)
	r.buf = append(r.buf, p...)
	for {
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			break
		}
		select {
		case r.lines <- string(r.buf[:i]):
		default: // nobody waits for lines this late
		}
		r.buf = r.buf[i+1:]
	}
	return len(p), nil
}

// runExample starts fn in the DUT namespace of l, as the Example would run
// on a host, and waits for its first line (that it is listening).
func runExample(t *testing.T, l *lab.Lab, fn func(ctx context.Context, out io.Writer) error) *exampleRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exampleTimeout)
	r := &exampleRun{cancel: cancel, done: make(chan error, 1), lines: make(chan string, 64)}
	go func() { r.done <- lab.InNS(l.DUTNS, func() error { return fn(ctx, r) }) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	select {
	case line := <-r.lines:
		t.Logf("example: %s", line)
	case err := <-r.done:
		r.done <- err
		t.Fatalf("example ended before it started: %v\n%s", err, r.output())
	case <-time.After(exampleTimeout):
		t.Fatal("example did not start")
	}
	return r
}

func (r *exampleRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// wait waits for the helper to return and gives its whole output.
func (r *exampleRun) wait(t *testing.T) string {
	t.Helper()
	var err error
	select {
	case err = <-r.done:
		r.done <- err // for the cleanup
	case <-time.After(exampleTimeout + 10*time.Second):
		t.Fatalf("example did not finish:\n%s", r.output())
	}
	out := r.output()
	if err != nil {
		t.Fatalf("example: %v\noutput:\n%s", err, out)
	}
	return out
}

func checkOutput(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}

func prefixOf(l *lab.Lab) netip.Prefix { return netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits()) }

// peerDial opens a kernel TCP connection from the peer namespace.
func peerDial(t *testing.T, l *lab.Lab, port uint16) net.Conn {
	t.Helper()
	var c net.Conn
	err := lab.InNS(l.PeerNS, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err = d.Dial("tcp", netip.AddrPortFrom(l.DUTAddr, port).String())
		return err
	})
	if err != nil {
		t.Fatalf("dial from the peer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(exampleTimeout))
	return c
}

// echo sends msg on c while reading the echo back, half-closes, and checks
// that exactly msg came back before the server's FIN.
func echo(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
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
		t.Fatalf("read the echo: %v (got %d of %d bytes)", err, len(got), len(msg))
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo: got %d bytes, want %d (equal prefix: %v)", len(got), len(msg), bytes.HasPrefix(msg, got))
	}
}

func TestExampleUDPSink(t *testing.T) {
	const want, size = 100, 64
	l := labtest.New(t, lab.Config{})
	r := runExample(t, l, func(ctx context.Context, out io.Writer) error {
		return udpSink(ctx, l.DUTIf, prefixOf(l), 9000, want, out)
	})
	resolve(t, l)
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, size)
	for i := range want {
		if _, err := c.Write(payload(buf, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	checkOutput(t, r.wait(t), fmt.Sprintf("listening on %v:9000\nreceived %d datagrams, %d bytes\n", l.DUTAddr, want, want*size))
}

func TestExampleTCPEcho(t *testing.T) {
	l := labtest.New(t, lab.Config{})
	r := runExample(t, l, func(ctx context.Context, out io.Writer) error {
		return tcpEcho(ctx, l.DUTIf, prefixOf(l), 7, out)
	})
	hello := []byte("hello, rxpath\n")
	echo(t, peerDial(t, l, 7), hello)
	big := make([]byte, 256<<10) // more than the windows: both directions flow-controlled
	rand.Read(big)
	echo(t, peerDial(t, l, 7), big)
	r.cancel()
	checkOutput(t, r.wait(t), fmt.Sprintf("listening on %v:7\nserved 2 connections, echoed %d bytes\n", l.DUTAddr, len(hello)+len(big)))
}

func TestExampleCapture(t *testing.T) {
	const want = 10
	l := labtest.New(t, lab.Config{})
	// No stack answers ARP for the DUT: point the peer's kernel at it.
	if err := l.AddStaticNeighbor(l.DUTAddr, l.DUTMAC); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "capture.pcap")
	r := runExample(t, l, func(ctx context.Context, out io.Writer) error {
		return countFrames(ctx, l.DUTIf, path, "udp dst port 9000", want, out)
	})
	// Frames the filter rejects are counted but not captured.
	other := labtest.UDPSender(t, l, 9001)
	c := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 100)
	for i := range want {
		if _, err := other.Write(payload(buf, uint64(1000+i))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(payload(buf, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	out := r.wait(t)
	m := regexp.MustCompile(`^capturing "udp dst port 9000" on \S+\ncounted (\d+) frames \((\d+) bytes\), captured (\d+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output:\n%s", out)
	}
	frames, _ := strconv.Atoi(m[1])
	captured, _ := strconv.Atoi(m[3])
	if frames < 2*want-1 || captured != want {
		t.Fatalf("counted %d frames (want at least %d), captured %d (want %d)", frames, 2*want-1, captured, want)
	}

	// The capture holds exactly the datagrams to port 9000, in order.
	records, err := labtest.ReadPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != want {
		t.Fatalf("capture holds %d frames, want %d", len(records), want)
	}
	for i, data := range records {
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u == nil || u.DstPort != 9000 || !bytes.Equal(u.Payload, payload(buf, uint64(i))) {
			t.Fatalf("captured frame %d is not datagram %d to port 9000:\n%v", i, i, p)
		}
	}
}

func TestExampleFilter(t *testing.T) {
	const want = 5
	l := labtest.New(t, lab.Config{})
	r := runExample(t, l, func(ctx context.Context, out io.Writer) error {
		return filteredSink(ctx, l.DUTIf, prefixOf(l), want, out)
	})
	// ICMP is dropped at prerouting: the pings go unanswered (but ARP,
	// below IPv4, still resolves the address).
	if out, err := lab.Exec(l.PeerNS, "ping", "-c", "2", "-i", "0.2", "-W", "1", l.DUTAddr.String()); err == nil {
		t.Fatalf("ping got an answer through the ICMP drop rule:\n%s", out)
	} else if !strings.Contains(string(out), " 0 received") {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	dropped := labtest.UDPSender(t, l, 9001)
	passed := labtest.UDPSender(t, l, 9000)
	buf := make([]byte, 64)
	// One queue delivers in order: the last datagram to 9000 comes after
	// every datagram to 9001.
	for i := range want {
		if _, err := dropped.Write(payload(buf, uint64(i))); err != nil {
			t.Fatal(err)
		}
		if _, err := passed.Write(payload(buf, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	checkOutput(t, r.wait(t), fmt.Sprintf(`listening on ports [9000 9001]
port 9000: %d datagrams
port 9001: 0 datagrams
drop udp dport 9001: %d packets
prerouting drop icmp: 2 packets
`, want, want))
}
