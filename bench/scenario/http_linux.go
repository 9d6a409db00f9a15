package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp"
)

// httpBody is what the rows' handler answers: a fixed length, so that ab
// counts no "length" failure.
const httpBody = "hello from rxbench: the same net/http handler on both servers\n"

// httpHandler is the one handler both HTTP rows serve.
func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(httpBody)))
		io.WriteString(w, httpBody)
	})
	return mux
}

// httpServer is an HTTP row's server on the DUT end.
type httpServer interface {
	Describe() string
	Close() error
}

// tcpServerBacklog is the accept queue of the servers of the HTTP and
// conn-memory rows: the kernel's default somaxconn, which net.Listen
// uses.
const tcpServerBacklog = 4096

// rxpathHTTP is net/http on rxpath's TCP listener, rxpath built by
// rxpath.Open as for the tcp-rxpath row (one poller on the receiver CPU),
// with the default TCP options.
type rxpathHTTP struct {
	n      *rxpath.Node
	l      *tcp.Listener
	srv    *http.Server
	served chan error
}

// openRxpathTCP opens rxpath on the DUT end with the stack, the peer as
// a static neighbour, and a TCP listener on port with the given backlog.
func (h *liveLab) openRxpathTCP(port uint16, backlog int) (*rxpath.Node, *tcp.Listener, error) {
	var tl *tcp.Listener
	cfg := rxpath.Config{
		Interface: h.l.DUTIf,
		Driver:    auto.Options{Kind: driver.XDP},
		Poller:    poller.Options{Nice: h.cfg.Nice},
		Addr:      netip.PrefixFrom(h.l.DUTAddr, h.l.PeerAddr.Bits()),
		Setup: func(n *rxpath.Node) (err error) {
			var mac header.MAC
			copy(mac[:], h.l.PeerMAC)
			n.Stack.AddStaticNeighbor(h.l.PeerAddr.Addr().As4(), mac)
			tl, err = n.ListenTCP(netip.AddrPortFrom(h.l.DUTAddr, port), tcp.ListenOptions{Backlog: backlog})
			return err
		},
	}
	if h.cfg.BusySpin {
		cfg.Poller.IdleSpin = -1
	}
	for i := range max(h.cfg.Queues, 1) {
		cfg.CPUs = append(cfg.CPUs, RxCPU(i, h.ncpu))
	}
	var n *rxpath.Node
	err := lab.InNS(h.l.DUTNS, func() (err error) {
		n, err = rxpath.Open(cfg)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", h.l.DUTIf, err)
	}
	return n, tl, nil
}

func newRxpathHTTP(h *liveLab) (httpServer, error) {
	n, l, err := h.openRxpathTCP(h.cfg.Port, tcpServerBacklog)
	if err != nil {
		return nil, err
	}
	s := &rxpathHTTP{n: n, l: l, srv: &http.Server{Handler: httpHandler()}, served: make(chan error, 1)}
	go func() { s.served <- s.srv.Serve(l) }()
	return s, nil
}

func (s *rxpathHTTP) Describe() string {
	dev := s.n.Device()
	d := fmt.Sprintf("net/http on rxpath's TCP listener (%s, %s", dev.Kind, dev.Mode)
	if dev.Reason != "" {
		d += ", fallback: " + dev.Reason
	}
	return d + "; default TCP options)"
}

func (s *rxpathHTTP) Close() error {
	errs := []error{s.srv.Close()}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	// Stops the pollers, closes the device, checks every ledger.
	return errors.Join(append(errs, s.n.Close())...)
}

// kernelHTTP is net/http on a kernel socket in the DUT namespace, behind
// an XDP_PASS program attached as rxpath's is (see tcp-kernel).
type kernelHTTP struct {
	prog   *ebpf.Program
	lnk    link.Link
	srv    *http.Server
	served chan error
}

func newKernelHTTP(h *liveLab) (_ httpServer, err error) {
	k := &kernelHTTP{srv: &http.Server{Handler: httpHandler()}, served: make(chan error, 1)}
	if k.prog, k.lnk, err = h.attachXDPPass(); err != nil {
		return nil, err
	}
	var ln net.Listener
	addr := netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port).String()
	if err := lab.InNS(h.l.DUTNS, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		return nil, errors.Join(fmt.Errorf("kernel HTTP server on %s: %w", addr, err), k.lnk.Close(), k.prog.Close())
	}
	go func() { k.served <- k.srv.Serve(ln) }()
	return k, nil
}

func (k *kernelHTTP) Describe() string {
	return "net/http on a kernel TCP socket; XDP_PASS program attached in native mode, GRO off (the veth default)"
}

func (k *kernelHTTP) Close() error {
	errs := []error{k.srv.Close()}
	if err := <-k.served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, k.lnk.Close(), k.prog.Close())...)
}

// httpLoad is how hard a rep drives the server: wrk's run time in whole
// seconds (its unit) and ab's request count, scaled from the mode's rep
// duration: 8 s and 20,000 requests in full mode, 2 s and 4,000 in quick.
func (c Config) httpLoad() (wrkSecs, abRequests int) {
	s := c.Duration.Seconds()
	return max(1, int(math.Round(s*1.6))), max(500, int(math.Round(s*4000)))
}

// Load generator settings: wrk keeps 200 connections alive on one thread,
// ab opens 100 at a time, a new one per request.
const (
	wrkConns = 200
	abConc   = 100
)

// runHTTP measures an HTTP row: its server on the DUT, every thread of
// this process on the receiver CPU meanwhile, and per rep one wrk run and
// one ab run on the generator CPU in the peer namespace.
func (h *liveLab) runHTTP(ctx context.Context, d Def, row *report.Scenario) (err error) {
	for _, tool := range []string{"wrk", "ab", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (make deps installs wrk and apache2-utils): %w", tool, err)
		}
	}
	undo, err := h.prepareDUT(d)
	defer func() { err = errors.Join(err, undo()) }()
	if err != nil {
		return err
	}
	unpin, err := pinProcess(RxCPU(0, h.ncpu), h.genTIDs())
	if err != nil {
		return err
	}
	defer unpin()
	var srv httpServer
	if d.recv == recvHTTPKernel {
		srv, err = newKernelHTTP(h)
	} else {
		srv, err = newRxpathHTTP(h)
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, srv.Close()) }()
	row.Receiver = srv.Describe() + fmt.Sprintf("; every thread of the server's process on CPU %d, wrk and ab on CPU %d", RxCPU(0, h.ncpu), GenCPU(0, h.ncpu))
	h.p.printf("  server: %s", row.Receiver)
	url := fmt.Sprintf("http://%s/", netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port))
	wrkSecs, abN := h.cfg.httpLoad()
	wrk := []string{"wrk", "-t1", fmt.Sprintf("-c%d", wrkConns), fmt.Sprintf("-d%ds", wrkSecs), "--latency", url}
	ab := []string{"ab", "-r", "-s", "10", "-n", strconv.Itoa(abN), "-c", strconv.Itoa(abConc), url}
	// Warm-up: a short ab run, every connection new.
	if _, err := h.runLoad(ctx, []string{"ab", "-r", "-s", "10", "-n", "500", "-c", "50", url}, parseAB); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for i := range h.cfg.Reps {
		if err := ctx.Err(); err != nil {
			return err
		}
		var rep report.HTTPRep
		if rep.Wrk, err = h.runLoad(ctx, wrk, parseWrk); err != nil {
			return fmt.Errorf("rep %d: %w", i+1, err)
		}
		if rep.AB, err = h.runLoad(ctx, ab, parseAB); err != nil {
			return fmt.Errorf("rep %d: %w", i+1, err)
		}
		row.HTTP = append(row.HTTP, rep)
		h.p.printf("  rep %d/%d: wrk %.0f req/s (p99 %.2f ms, %d errors, %.1f CPU µs/req); ab %.0f req/s (p99 %d ms, %d failed, %.1f CPU µs/req)",
			i+1, h.cfg.Reps, rep.Wrk.ReqPerSec, float64(rep.Wrk.LatencyP99NS)/1e6, rep.Wrk.Errors+rep.Wrk.Non2xx, rep.Wrk.CPUPerRequestUS(),
			rep.AB.ReqPerSec, rep.AB.LatencyP99NS/1e6, rep.AB.Errors+rep.AB.Non2xx, rep.AB.CPUPerRequestUS())
	}
	return nil
}

// runLoad runs a load generator on the generator CPU in the peer
// namespace and parses its report, with the server's CPU time and all
// softirq time over the run.
func (h *liveLab) runLoad(ctx context.Context, argv []string, parse func(io.Reader) (report.HTTPLoad, error)) (report.HTTPLoad, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := lab.Command(ctx, h.l.PeerNS, "taskset", append([]string{"-c", strconv.Itoa(GenCPU(0, h.ncpu))}, argv...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	c0, s0, err := h.serverCPU()
	if err != nil {
		return report.HTTPLoad{}, err
	}
	runErr := cmd.Run()
	c1, s1, err := h.serverCPU()
	if err != nil {
		return report.HTTPLoad{}, err
	}
	l, err := parse(bytes.NewReader(out.Bytes()))
	if err != nil || runErr != nil {
		msg := strings.TrimSpace(errb.String() + "\n" + lastLines(out.String(), 3))
		return report.HTTPLoad{}, fmt.Errorf("%s: %w (%s)", argv[0], errors.Join(runErr, err), msg)
	}
	_, soft := sysstat.SoftIRQDelta(s0, s1)
	_, steal := sysstat.StealDelta(s0, s1)
	l.Command = strings.Join(argv, " ")
	l.ServerCPUNS, l.SoftirqNS, l.StealNS = int64(c1-c0), int64(soft), int64(steal)
	return l, nil
}

// serverCPU is this process's CPU time less the generator threads' (idle
// during an HTTP row, but counted out as in every row), and /proc/stat.
func (h *liveLab) serverCPU() (time.Duration, sysstat.Stat, error) {
	proc, err := sysstat.ProcessCPU()
	if err != nil {
		return 0, sysstat.Stat{}, err
	}
	gen, err := sysstat.ThreadsCPU(h.genTIDs())
	if err != nil {
		return 0, sysstat.Stat{}, err
	}
	proc -= gen
	st, err := sysstat.ReadStat()
	return proc, st, err
}

func (h *liveLab) genTIDs() []int {
	var tids []int
	for _, w := range h.gens {
		tids = append(tids, w.tid)
	}
	return tids
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// pinProcess binds every thread of this process but those in keep to
// cpu, so that a server whose goroutines run on any thread (net/http)
// runs on the receiver CPU as the other rows' receivers do. A thread
// inherits the mask of the one that starts it, which may be a kept one,
// so the threads the runtime starts meanwhile are pinned too, every
// repin. The returned function stops that and gives every thread pinned
// here its old mask back, the process's to those started since.
func pinProcess(cpu int, keep []int) (restore func(), err error) {
	var procMask unix.CPUSet
	if err := unix.SchedGetaffinity(os.Getpid(), &procMask); err != nil {
		return nil, os.NewSyscallError("sched_getaffinity", err)
	}
	var one unix.CPUSet
	one.Set(cpu)
	var mu sync.Mutex
	old := map[int]unix.CPUSet{}
	first := true
	pin := func() error {
		mu.Lock()
		defer mu.Unlock()
		tids, err := threadIDs()
		if err != nil {
			return err
		}
		for _, tid := range tids {
			if _, done := old[tid]; done || slices.Contains(keep, tid) {
				continue
			}
			// A thread started since the first pass inherited some
			// thread's mask: it gets the process's back.
			m := procMask
			if first && unix.SchedGetaffinity(tid, &m) != nil {
				continue // ended meanwhile
			}
			if err := unix.SchedSetaffinity(tid, &one); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("pin thread %d to CPU %d: %w", tid, cpu, os.NewSyscallError("sched_setaffinity", err))
			}
			old[tid] = m
		}
		first = false
		return nil
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	restore = func() {
		close(stop)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		tids, _ := threadIDs()
		for _, tid := range tids {
			if slices.Contains(keep, tid) {
				continue
			}
			m, ok := old[tid]
			if !ok {
				m = procMask
			}
			unix.SchedSetaffinity(tid, &m) // a thread that ended meanwhile: nothing to restore
		}
	}
	err = pin()
	go func() {
		defer close(stopped)
		t := time.NewTicker(repin)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				pin() // a failure here leaves a thread unpinned: noise, not an error
			}
		}
	}()
	if err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}

// repin is how often pinProcess pins the threads started since.
const repin = 20 * time.Millisecond

// threadIDs lists this process's threads.
func threadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
