package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
)

// The demo's ports on the DUT address, served by `rxpath run`.
const (
	UDPPort  = 9000
	TCPPort  = 5001
	HTTPPort = 8080
)

// tapFilter keeps the capture small: it leaves out the UDP burst
// (millions of frames) and the full-sized data segments of the TCP stream,
// and keeps everything else (ARP, ping, the handshakes, FINs, ACKs, the
// HTTP request, the stream's last short segment).
var tapFilter = fmt.Sprintf("not udp port %d and not (tcp dst port %d and greater 1000)", UDPPort, TCPPort)

// ErrInterrupted is what Run returns when its context ends, once
// everything it started is stopped and the lab is gone.
var ErrInterrupted = errors.New("interrupted")

// Options is one run of the demo. Every field must be set.
type Options struct {
	Out      io.Writer     // the step lines and the report
	Self     string        // the rxpath binary, started again as `rxpath run`
	Pcap     string        // where rxpath writes its capture (kept after the demo)
	Burst    time.Duration // how long each UDP burst lasts
	TCPBytes int64         // bytes the TCP stream carries
}

// Run builds the veth lab, starts `rxpath run` on the DUT end, drives
// ping, a UDP burst, a TCP stream and an HTTP request at it from the peer's
// kernel, stops it, repeats the UDP burst against a kernel socket for
// comparison, tears the lab down and reports to o.Out. It returns an error
// naming the steps that failed, if any. When ctx ends (the command cancels
// it on SIGINT or SIGTERM) at any step, Run stops what is running, removes
// the lab and returns ErrInterrupted.
func Run(ctx context.Context, o Options) (err error) {
	if o.Out == nil || o.Self == "" || o.Pcap == "" || o.Burst <= 0 || o.TCPBytes <= 0 {
		return fmt.Errorf("demo: incomplete options %+v", o)
	}
	pcap, err := filepath.Abs(o.Pcap)
	if err != nil {
		return fmt.Errorf("demo: pcap: %w", err)
	}
	d := &demo{
		out: o.Out, ctx: ctx, self: o.Self, pcap: pcap,
		burst: o.Burst, tcpBytes: o.TCPBytes,
		// The generator sends from CPU 0 and rxpath's poller runs on
		// the last CPU: on a veth the kernel's receive work runs on the
		// sending CPU, so the two do not share one.
		sendCPU: 0, rxCPU: runtime.NumCPU() - 1,
	}
	defer func() {
		if cerr := d.teardown(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if ctx.Err() != nil {
			err = ErrInterrupted
		}
	}()
	if err := d.run(); err != nil {
		return err
	}
	if err := d.teardown(); err != nil {
		return err
	}
	failed := d.report()
	if len(failed) > 0 {
		return fmt.Errorf("demo: failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// demo is one run of `rxpath demo`: what it started and what it measured.
type demo struct {
	out      io.Writer
	ctx      context.Context
	self     string // the rxpath binary, started again as `rxpath run`
	pcap     string // absolute
	burst    time.Duration
	tcpBytes int64
	sendCPU  int
	rxCPU    int

	l        *lab.Lab
	child    *child
	tornDown bool

	// genMethod is the generator chooseGen settled on; genErr says why
	// none could be had.
	genMethod string
	genErr    error

	ping   pingResult
	udp    traffic.Result
	udpErr error
	tcp    tcpResult
	http   httpResult
	sum    *summary.Summary
	runErr error
	kernel kernelResult
}

type pingResult struct {
	skipped        bool // ping is not installed
	sent, received int
	err            error
}

type tcpResult struct {
	local   string // the client's address, the sink's "remote"
	bytes   int64
	sha256  string
	elapsed time.Duration
	err     error
}

type httpResult struct {
	skipped      bool // curl is not installed
	status, body string
	err          error
}

type kernelResult struct {
	sent     traffic.Result
	received uint64
	rcvbuf   uint64 // Udp RcvbufErrors during the burst: socket queue overflow
	err      error
}

func (d *demo) step(format string, a ...any) {
	fmt.Fprintf(d.out, "==> "+format+"\n", a...)
}

// interrupted reports whether Run's context ended (SIGINT or SIGTERM, in rxpath).
func (d *demo) interrupted() bool { return d.ctx.Err() != nil }

// run does every step up to the kernel comparison. It returns an error only
// for what makes the rest pointless (no lab, no rxpath, an interrupt);
// the steps' own failures are recorded for the report.
func (d *demo) run() error {
	cfg := lab.DefaultConfig()
	d.step("creating the veth lab: netns %s (%s) <-> netns %s (%s, %v for rxpath)",
		cfg.PeerNS, cfg.PeerAddr, cfg.DUTNS, cfg.DUTIf, cfg.DUTAddr)
	l, err := lab.Up(cfg) // removes a lab a crashed run left behind
	if err != nil {
		return err
	}
	d.l = l
	if d.interrupted() {
		return ErrInterrupted
	}

	// Before rxpath starts, so that the probe frames find nobody.
	d.step("choosing the traffic generator: the first of %s that sends a probe frame", strings.Join(traffic.Methods(), ", "))
	d.genMethod, d.genErr = d.chooseGen()
	if d.genErr == nil {
		d.step("generator: %s", d.genMethod)
	}
	if d.interrupted() {
		return ErrInterrupted
	}

	prefix := netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits())
	args := []string{"run", "--iface", l.DUTIf, "--driver", "xdp",
		"--ip", prefix.String(), "--udp-sink", strconv.Itoa(UDPPort), "--tcp-sink", strconv.Itoa(TCPPort),
		"--http", strconv.Itoa(HTTPPort), "--pcap", d.pcap, "--tap-filter", tapFilter,
		"--cpus", strconv.Itoa(d.rxCPU), "--json", "--interval", "0"}
	d.step("starting rxpath run in %s: AF_XDP on %s, stack %v, poller on CPU %d, capture to %s",
		l.DUTNS, l.DUTIf, prefix, d.rxCPU, d.pcap)
	d.child = &child{cmd: lab.Command(context.Background(), l.DUTNS, d.self, args...), exited: make(chan struct{})}
	if err := d.child.start(d.ctx, 15*time.Second); err != nil {
		return err
	}
	d.step("%s", d.child.receivingLine())

	if _, err := exec.LookPath("ping"); err != nil {
		d.ping.skipped = true
		d.step("ping is not installed: skipping it (apt-get install iputils-ping)")
	} else {
		d.step("ping -c 3 -i 0.2 %v from %s", l.DUTAddr, l.PeerNS)
		d.ping = d.runPing()
	}
	if d.interrupted() {
		return ErrInterrupted
	}

	d.step("UDP burst to %v:%d for %v: 60-byte frames from %s (generator %s, sender on CPU %d)",
		l.DUTAddr, UDPPort, d.burst, l.PeerNS, orNone(d.genMethod), d.sendCPU)
	d.udp, d.udpErr = d.sendBurst()
	if d.interrupted() {
		return ErrInterrupted
	}

	d.step("TCP stream: %.0f MiB of pseudo-random bytes from a kernel socket in %s to %v:%d",
		float64(d.tcpBytes)/(1<<20), l.PeerNS, l.DUTAddr, TCPPort)
	d.tcp = d.runTCP()
	if d.interrupted() {
		return ErrInterrupted
	}

	if _, err := exec.LookPath("curl"); err != nil {
		d.http.skipped = true
		d.step("curl is not installed: skipping it (apt-get install curl)")
	} else {
		d.step("curl -sS -m 5 -i http://%v:%d/ from %s", l.DUTAddr, HTTPPort, l.PeerNS)
		d.http = d.runCurl()
	}
	if d.interrupted() {
		return ErrInterrupted
	}

	d.step("stopping rxpath run (SIGINT) and reading its summary")
	d.sum, d.runErr = d.child.stop()
	if d.interrupted() {
		return ErrInterrupted
	}

	d.step("kernel comparison: the same burst to a kernel UDP socket on %v:%d in %s (XDP detached, GRO on, recvmmsg on CPU %d)",
		l.DUTAddr, UDPPort, l.DUTNS, d.rxCPU)
	d.kernel = d.kernelBurst()
	if d.interrupted() {
		return ErrInterrupted
	}
	return nil
}

// teardown stops rxpath run if it still runs and removes the lab. It is
// idempotent.
func (d *demo) teardown() error {
	if d.tornDown {
		return nil
	}
	d.tornDown = true
	var errs []error
	if d.child != nil && !d.child.done() {
		d.step("stopping rxpath run")
		if _, err := d.child.stop(); err != nil {
			errs = append(errs, fmt.Errorf("rxpath run: %w", err))
		}
	}
	if d.l != nil {
		d.step("removing the lab (netns %s and %s)", d.l.PeerNS, d.l.DUTNS)
		if err := d.l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// nsCommand runs name args... in netns ns, as `ip netns exec` would (but
// with the host's /sys), killed on interrupt.
func (d *demo) nsCommand(ns, name string, args ...string) *lab.Cmd {
	return lab.Command(d.ctx, ns, name, args...)
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

func (d *demo) runPing() pingResult {
	out, err := d.nsCommand(d.l.PeerNS, "ping", "-c", "3", "-i", "0.2", "-W", "2", d.l.DUTAddr.String()).CombinedOutput()
	var p pingResult
	if m := pingStats.FindSubmatch(out); m != nil {
		p.sent, _ = strconv.Atoi(string(m[1]))
		p.received, _ = strconv.Atoi(string(m[2]))
	}
	if err != nil {
		p.err = fmt.Errorf("ping: %w: %s", err, bytes.TrimSpace(out))
	}
	return p
}

// pinnedIn runs fn in netns ns on a thread pinned to cpu. The thread
// is not handed back to the Go scheduler with its one-CPU mask: fn's
// goroutine ends locked to it, so the runtime ends the thread.
func pinnedIn(ns string, cpu int, fn func() error) error {
	return lab.InNS(ns, func() error {
		if _, err := affinity.PinThread(cpu, 0); err != nil {
			return err
		}
		return fn()
	})
}

// genOptions is the demo's traffic: 60-byte UDP frames from the peer to
// the DUT's UDP sink, numbered from 1.
func (d *demo) genOptions() traffic.Options {
	return traffic.Options{
		Ifindex: d.l.PeerIndex, SrcMAC: d.l.PeerMAC, DstMAC: d.l.DUTMAC,
		Src:      netip.AddrPortFrom(d.l.PeerAddr.Addr(), UDPPort),
		Dst:      netip.AddrPortFrom(d.l.DUTAddr, UDPPort),
		FirstSeq: 1,
	}
}

// chooseGen probes the generator methods from the peer end, fastest
// first, and returns the first that sends. Each method passed over is
// reported once, with its errno.
func (d *demo) chooseGen() (method string, err error) {
	err = pinnedIn(d.l.PeerNS, d.sendCPU, func() error {
		g, err := traffic.Open(d.genOptions(), traffic.MethodAuto, func(r traffic.Refusal) { d.step("%s", r) })
		if err != nil {
			return err
		}
		method = g.Kind()
		return g.Close()
	})
	if err != nil {
		return "", fmt.Errorf("traffic generator: %w", err)
	}
	return method, nil
}

// sendBurst runs the chosen generator from the peer end to the DUT's UDP
// port for d.burst, in slices so that an interrupt stops it quickly.
func (d *demo) sendBurst() (traffic.Result, error) {
	var res traffic.Result
	if d.genErr != nil {
		return res, fmt.Errorf("UDP burst: %w", d.genErr)
	}
	err := pinnedIn(d.l.PeerNS, d.sendCPU, func() error {
		g, err := traffic.Open(d.genOptions(), d.genMethod, nil)
		if err != nil {
			return err
		}
		defer g.Close()
		for res.Elapsed < d.burst && !d.interrupted() {
			r, err := g.Send(0, min(250*time.Millisecond, d.burst-res.Elapsed))
			if err != nil {
				return err
			}
			res.Sent += r.Sent
			res.Elapsed += r.Elapsed
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("UDP burst: %w", err)
	}
	return res, nil
}

// runTCP streams d.tcpBytes from a kernel socket in the peer namespace to
// the TCP sink, closes its side and waits for the sink's FIN.
func (d *demo) runTCP() (r tcpResult) {
	addr := netip.AddrPortFrom(d.l.DUTAddr, TCPPort).String()
	var c net.Conn
	err := lab.InNS(d.l.PeerNS, func() (err error) {
		var dl net.Dialer
		c, err = dl.DialContext(d.ctx, "tcp4", addr)
		return err
	})
	if err != nil {
		r.err = fmt.Errorf("TCP: %w", err)
		return r
	}
	defer c.Close()
	defer context.AfterFunc(d.ctx, func() { c.Close() })()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r.local = c.LocalAddr().String()
	start := time.Now()
	r.sha256, r.bytes, r.err = sendStream(c.(*net.TCPConn), d.tcpBytes)
	if r.err != nil {
		r.err = fmt.Errorf("TCP: after %d bytes: %w", r.bytes, r.err)
		return r
	}
	// The sink closes the connection once it has read our FIN.
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		r.err = fmt.Errorf("TCP: waiting for the sink to close: read %d bytes, %v", n, err)
		return r
	}
	r.elapsed = time.Since(start)
	return r
}

// sendStream writes n pseudo-random bytes to c, closes the writing side
// and returns their SHA-256 and how many bytes went out.
func sendStream(c *net.TCPConn, n int64) (string, int64, error) {
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var sent int64
	for sent < n {
		k := int(min(int64(len(buf)), n-sent))
		for i := 0; i < k; i += 8 {
			v := rnd.Uint64()
			for j := 0; j < 8 && i+j < k; j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		h.Write(buf[:k])
		w, err := c.Write(buf[:k])
		sent += int64(w)
		if err != nil {
			return "", sent, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), sent, c.CloseWrite()
}

func (d *demo) runCurl() httpResult {
	url := fmt.Sprintf("http://%v:%d/", d.l.DUTAddr, HTTPPort)
	out, err := d.nsCommand(d.l.PeerNS, "curl", "-sS", "-m", "5", "-i", url).CombinedOutput()
	if err != nil {
		return httpResult{err: fmt.Errorf("curl: %w: %s", err, bytes.TrimSpace(out))}
	}
	head, body, _ := strings.Cut(string(out), "\r\n\r\n")
	status, _, _ := strings.Cut(head, "\r\n")
	return httpResult{status: status, body: strings.TrimSpace(body)}
}

// kernelBurst repeats the UDP burst against a kernel socket in the DUT
// namespace, after rxpath has exited and its XDP program is gone.
func (d *demo) kernelBurst() (k kernelResult) {
	l := d.l
	// The lab leaves the DUT end without a kernel address (rxpath owns
	// it), and a veth drops redirected frames uncounted unless its peer
	// runs an XDP program or GRO gives the queue a NAPI instance.
	prefix := netip.PrefixFrom(l.DUTAddr, l.PeerAddr.Bits())
	if err := lab.AddAddr(l.DUTNS, l.DUTIf, prefix); err != nil {
		k.err = fmt.Errorf("kernel comparison: %w", err)
		return k
	}
	if err := lab.SetFeature(l.DUTNS, l.DUTIf, "gro", true); err != nil {
		k.err = fmt.Errorf("kernel comparison: turn GRO on: %w", err)
		return k
	}
	var conn *net.UDPConn
	err := lab.InNS(l.DUTNS, func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.DUTAddr, UDPPort)))
		return err
	})
	if err != nil {
		k.err = fmt.Errorf("kernel comparison: %w", err)
		return k
	}
	// The size of rxpath's socket queue (udp.DefaultRcvBuf), as the
	// benchmark's kernel row uses.
	if err := traffic.ForceRcvBuf(conn, 4<<20); err != nil {
		conn.Close()
		k.err = fmt.Errorf("kernel comparison: kernel socket: %w", err)
		return k
	}
	before := d.udpRcvbufErrors()
	r, err := traffic.NewKernelReceiver(conn, traffic.KernelOptions{CPUs: []int{d.rxCPU}})
	if err != nil {
		k.err = fmt.Errorf("kernel comparison: %w", err)
		return k
	}
	k.sent, k.err = d.sendBurst()
	// Let the socket queue drain: stop once the count holds still.
	for prev, deadline := r.Received(), time.Now().Add(2*time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		cur := r.Received()
		if cur == prev {
			break
		}
		prev = cur
	}
	k.err = errors.Join(k.err, r.Close())
	k.received = r.Received()
	k.rcvbuf = d.udpRcvbufErrors() - before
	if k.err != nil {
		k.err = fmt.Errorf("kernel comparison: %w", k.err)
	}
	return k
}

// udpRcvbufErrors is Udp RcvbufErrors in the DUT namespace (0 if it cannot
// be read).
func (d *demo) udpRcvbufErrors() uint64 {
	var n uint64
	lab.InNS(d.l.DUTNS, func() error {
		s, err := sysstat.ReadSNMP()
		n = s["Udp"]["RcvbufErrors"]
		return err
	})
	return n
}

// child is `rxpath run` started by the demo inside the DUT namespace.
type child struct {
	cmd    *lab.Cmd
	stdout bytes.Buffer // the JSON summary; read after exited
	stderr syncLog
	exited chan struct{}
	err    error // Wait's result; read after exited
}

// start starts the child and waits until it reports that it receives.
func (c *child) start(ctx context.Context, timeout time.Duration) error {
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	// If the demo dies without stopping it, the kernel sends the child
	// SIGTERM (Linux), so no rxpath keeps running in a deleted namespace.
	c.cmd.SysProcAttr = childSysProcAttr()
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the thread that forked, not
		// the process: lab.Cmd holds that thread until Wait returns.
		if err := c.cmd.Start(); err != nil {
			started <- err
			close(c.exited)
			return
		}
		started <- nil
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start rxpath run: %w", err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// The line is "rxpath: receiving on IF: ..." or, logged with slog,
	// `level=INFO msg="receiving on IF" ...`.
	for !strings.Contains(c.stderr.String(), "receiving on ") {
		select {
		case <-ctx.Done():
			return ErrInterrupted
		case <-c.exited:
			return fmt.Errorf("rxpath run exited before receiving: %v\n%s", c.err, c.stderr.String())
		case <-deadline.C:
			return fmt.Errorf("rxpath run did not start receiving within %v:\n%s", timeout, c.stderr.String())
		case <-tick.C:
		}
	}
	return nil
}

func (c *child) receivingLine() string {
	for _, line := range strings.Split(c.stderr.String(), "\n") {
		if strings.Contains(line, "receiving on ") {
			return "rxpath run: " + strings.TrimPrefix(line, "rxpath: ")
		}
	}
	return "rxpath run is receiving"
}

func (c *child) done() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// stop sends SIGINT (SIGKILL after 10 s), waits for the child and parses
// its summary.
func (c *child) stop() (*summary.Summary, error) {
	if !c.done() {
		c.cmd.Process.Signal(os.Interrupt)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.exited
		}
	}
	if c.err != nil {
		return nil, fmt.Errorf("rxpath run: %w\n%s", c.err, strings.TrimSpace(c.stderr.String()))
	}
	var s summary.Summary
	if err := json.Unmarshal(c.stdout.Bytes(), &s); err != nil {
		return nil, fmt.Errorf("rxpath run: summary: %w", err)
	}
	return &s, nil
}

// syncLog is a buffer that the child's stderr copier writes while the demo
// polls it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// report prints what the demo saw and returns the steps that failed.
func (d *demo) report() (failed []string) {
	w := d.out
	fail := func(what string) { failed = append(failed, what) }
	fmt.Fprintln(w)
	fmt.Fprintln(w, "rxpath demo report")
	s := d.sum
	if s == nil {
		fmt.Fprintf(w, "  rxpath run     failed: %v\n", d.runErr)
		fail("rxpath run gave no summary")
	} else {
		path := s.Driver
		if s.Driver == "xdp" {
			path = "AF_XDP"
		}
		fmt.Fprintf(w, "  path           received on %s (%s) on %s, %d queue(s), poller on CPU %d: %d frames, %d bytes\n",
			path, s.Mode, s.Iface, len(s.Queues), d.rxCPU, s.Frames, s.Bytes)
		if s.LedgerErr != "" {
			fmt.Fprintf(w, "  LEDGER ERROR   %s\n", s.LedgerErr)
			fail("UMEM ledger did not balance")
		}
		if d.runErr != nil {
			fail("rxpath run")
		}
	}

	switch {
	case d.ping.skipped:
		fmt.Fprintln(w, "  ping           skipped: ping is not installed (apt-get install iputils-ping)")
	default:
		echo := ""
		if s != nil && s.IPv4 != nil {
			echo = fmt.Sprintf(" (rxpath answered %d echo requests)", s.IPv4.ICMPEchoReplies)
		}
		fmt.Fprintf(w, "  ping           %d of %d replies%s\n", d.ping.received, d.ping.sent, echo)
		if d.ping.received == 0 {
			fail(fmt.Sprintf("ping got no replies (%v)", d.ping.err))
		}
	}

	var sink *summary.SinkStats
	if s != nil && len(s.UDPSinks) > 0 {
		sink = &s.UDPSinks[0]
	}
	switch {
	case d.udpErr != nil:
		fmt.Fprintf(w, "  udp :%d      %v\n", UDPPort, d.udpErr)
		fail("UDP burst")
	case sink == nil:
		fmt.Fprintf(w, "  udp :%d      sent %d datagrams; no sink statistics\n", UDPPort, d.udp.Sent)
		fail("UDP sink statistics missing")
	default:
		fmt.Fprintf(w, "  udp :%d      %d of %d datagrams (%.1f%%), %.3f Mpps over the %.1f s burst; seq %d..%d, %d gaps, %d out of order\n",
			UDPPort, sink.Datagrams, d.udp.Sent, pct(sink.Datagrams, d.udp.Sent), mpps(sink.Datagrams, d.udp.Elapsed),
			d.udp.Elapsed.Seconds(), sink.FirstSeq, sink.LastSeq, sink.SeqGaps, sink.OutOfOrder)
		fmt.Fprintf(w, "                 (generator %s from CPU %d: %.3f Mpps sent)\n", d.genMethod, d.sendCPU, mpps(d.udp.Sent, d.udp.Elapsed))
		if sink.Datagrams == 0 {
			fail("no UDP datagram arrived")
		}
	}

	switch {
	case d.tcp.err != nil:
		fmt.Fprintf(w, "  tcp :%d      %v\n", TCPPort, d.tcp.err)
		fail("TCP stream")
	default:
		var got *summary.TCPConnStats
		if s != nil {
			for _, k := range s.TCPSinks {
				for i := range k.Connections {
					if k.Connections[i].Remote == d.tcp.local {
						got = &k.Connections[i]
					}
				}
			}
		}
		gbps := float64(d.tcp.bytes) * 8 / d.tcp.elapsed.Seconds() / 1e9
		switch {
		case got == nil:
			fmt.Fprintf(w, "  tcp :%d      sent %d bytes; the sink has no connection from %s\n", TCPPort, d.tcp.bytes, d.tcp.local)
			fail("TCP stream not in the sink's summary")
		case got.SHA256 == d.tcp.sha256 && got.Bytes == uint64(d.tcp.bytes) && got.Done:
			fmt.Fprintf(w, "  tcp :%d      %d bytes in %.2f s (%.2f Gbit/s), SHA-256 matches (%s...)\n",
				TCPPort, got.Bytes, d.tcp.elapsed.Seconds(), gbps, got.SHA256[:16])
		default:
			fmt.Fprintf(w, "  tcp :%d      SHA-256 MISMATCH: sent %d bytes sha256 %s; sink got %d bytes sha256 %s (complete %v)\n",
				TCPPort, d.tcp.bytes, d.tcp.sha256, got.Bytes, got.SHA256, got.Done)
			fail("TCP stream arrived altered")
		}
	}

	switch {
	case d.http.skipped:
		fmt.Fprintln(w, "  http           skipped: curl is not installed (apt-get install curl)")
	case d.http.err != nil:
		fmt.Fprintf(w, "  http :%d     %v\n", HTTPPort, d.http.err)
		fail("curl")
	default:
		fmt.Fprintf(w, "  http :%d     %s: %q\n", HTTPPort, d.http.status, d.http.body)
		if !strings.Contains(d.http.status, " 200") || !strings.Contains(d.http.body, "hello from rxpath") {
			fail("curl did not get the page")
		}
	}

	if s != nil {
		d.reportDrops(s)
	}

	k := d.kernel
	switch {
	case k.err != nil:
		fmt.Fprintf(w, "  %v\n", k.err)
		fail("kernel comparison")
	default:
		line := fmt.Sprintf("  kernel UDP socket: %.3f Mpps received of %.3f Mpps sent (%.1f%%)",
			mpps(k.received, k.sent.Elapsed), mpps(k.sent.Sent, k.sent.Elapsed), pct(k.received, k.sent.Sent))
		if sink != nil {
			line += fmt.Sprintf(" vs rxpath: %.3f Mpps received of %.3f Mpps sent (%.1f%%)",
				mpps(sink.Datagrams, d.udp.Elapsed), mpps(d.udp.Sent, d.udp.Elapsed), pct(sink.Datagrams, d.udp.Sent))
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "                 (kernel: %d of %d datagrams, %d socket queue overflows; recvmmsg on CPU %d, SO_RCVBUF 4 MiB, GRO on)\n",
			k.received, k.sent.Sent, k.rcvbuf, d.rxCPU)
		if k.received == 0 {
			fail("the kernel UDP socket received nothing")
		}
	}

	if s != nil && s.Tap != nil {
		fmt.Fprintf(w, "  pcap           %s: %d frames rxpath received (tap filter %q leaves out the UDP burst and the stream's full-sized segments)\n",
			d.pcap, s.Tap.Written, tapFilter)
		fmt.Fprintf(w, "                 open it with: tshark -r %s | tcpdump -nn -r %s | wireshark %s\n", d.pcap, d.pcap, d.pcap)
	}
	if len(failed) > 0 && d.child != nil {
		fmt.Fprintf(w, "  rxpath run stderr:\n%s", indent(d.child.stderr.String(), "    "))
	}
	return failed
}

// reportDrops prints the drops rxpath counted, by place.
func (d *demo) reportDrops(s *summary.Summary) {
	var fillEmpty, ringFull, xdpDropped, invalid, trunc uint64
	for _, q := range s.Queues {
		k := q.Driver.Kernel
		fillEmpty += k.RxFillRingEmpty
		ringFull += k.RxRingFull + k.RxFrozen
		xdpDropped += k.RxDropped
		invalid += q.Driver.RxInvalid + k.RxInvalidDescs
		trunc += q.Driver.RxTrunc
	}
	note := ""
	if strings.Contains(s.Mode, "copy") && xdpDropped > 0 {
		note = " (in copy mode this counts the fill-ring-empty drops again)"
	}
	fmt.Fprintf(d.out, "  drops          rings: fill ring empty %d, rx ring full %d, invalid %d, truncated %d; xsk rx_dropped %d%s\n",
		fillEmpty, ringFull, invalid, trunc, xdpDropped, note)
	var layers []string
	if e := s.Stack; e != nil {
		layers = append(layers, fmt.Sprintf("ethernet %d (+%d not for us)", e.TooShort+e.UnknownType+e.ARPMalformed, e.NotForUs))
	}
	if ip := s.IPv4; ip != nil {
		bad := ip.TooShort + ip.BadVersion + ip.BadIHL + ip.BadTotalLength + ip.LengthBeyond + ip.BadChecksum +
			ip.BadOptions + ip.SourceRoute + ip.Martian + ip.TTLZero + ip.NotForUs + ip.UnknownProto +
			ip.ICMPBadChecksum + ip.ICMPTooShort
		layers = append(layers, fmt.Sprintf("ipv4 %d, filtered %d", bad, ip.FilterPre+ip.FilterIn))
	}
	if u := s.UDP; u != nil {
		layers = append(layers, fmt.Sprintf("udp %d", u.NoPorts+u.BadLength+u.CsumErrors))
	}
	if t := s.TCP; t != nil {
		layers = append(layers, fmt.Sprintf("tcp %d", t.InErrs+t.ZeroWindowDrops+t.ListenDrops+t.ListenOverflows+t.SynQueueDrops))
	}
	if len(layers) > 0 {
		fmt.Fprintf(d.out, "                 stack: %s\n", strings.Join(layers, ", "))
	}
	var tail []string
	if s.UDP != nil {
		tail = append(tail, fmt.Sprintf("socket queue overflow %d", s.UDP.RcvbufErrors))
	}
	if s.Tap != nil {
		tail = append(tail, fmt.Sprintf("tap queue full %d, tap write errors %d", s.Tap.Dropped, s.Tap.WriteErrors))
	}
	if len(tail) > 0 {
		fmt.Fprintf(d.out, "                 %s\n", strings.Join(tail, ", "))
	}
}

func pct(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func mpps(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e6
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// orNone is s, or "none" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
