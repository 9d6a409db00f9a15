package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
)

// receiver is one scenario's receiver on the DUT end.
type receiver interface {
	// Describe says how it runs (driver mode, attach).
	Describe() string
	// Delivered is the cumulative count of frames or datagrams the
	// receiver's application saw.
	Delivered() uint64
	// Threads are the receiver's thread ids, for CPU time.
	Threads() []int
	// Counters are the receiver's cumulative raw counters.
	Counters() map[string]uint64
	// Loss places the lost frames, from the deltas of Counters and of the
	// veth's (keys "veth.*").
	Loss(d map[string]int64) report.Loss
	// Finish adds notes and extra figures to the row before Close.
	Finish(row *report.Scenario)
	// Close stops the receiver and undoes what it set up.
	Close() error
}

// idleCounter is a receiver whose loop counts the passes that found no
// frame (a spinner, or a poller that spins a while before it sleeps).
type idleCounter interface {
	IdlePasses() uint64
	// IdleThreads are the threads that make those passes (the pollers,
	// not a reader woken by them).
	IdleThreads() []int
	// SleepsWhenIdle reports whether the loop sleeps after a while
	// without frames (rxpath's default poller) instead of spinning on.
	SleepsWhenIdle() bool
}

// drainer is a receiver with work that goes on after its application has
// counted the frames (the tap's writer): Drained reports whether it has
// caught up.
type drainer interface {
	Drained() bool
}

// current is the lab of the run in progress, for TearDownNow.
var current atomic.Pointer[lab.Config]

// TearDownNow deletes the lab of the run in progress, if any, without
// waiting for the run: for a second SIGINT just before exiting.
func TearDownNow() error {
	if c := current.Load(); c != nil {
		return lab.Down(*c)
	}
	return nil
}

type liveLab struct {
	cfg   Config
	l     *lab.Lab
	p     *progress
	ncpu  int
	gens  []*genWorker
	gkind string
	// gnotes are the generator methods auto passed over, and why.
	gnotes []string
	once   sync.Once
	err    error
}

var staleLab = regexp.MustCompile(`^rxb-([0-9]+)-[pd]$`)

// removeStaleLabs deletes labs left by rxbench processes that no longer
// exist (killed with SIGKILL).
func removeStaleLabs() {
	ents, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		m := staleLab.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", m[1])); err == nil {
			continue // its rxbench is still running
		}
		name := "rxb-" + m[1]
		_ = lab.Down(lab.Config{PeerNS: name + "-p", DUTNS: name + "-d"})
	}
}

func newLive(cfg Config, p *progress) (liveRunner, error) {
	removeStaleLabs()
	name := fmt.Sprintf("rxb-%d", os.Getpid())
	lc := lab.Config{PeerNS: name + "-p", DUTNS: name + "-d", Queues: cfg.Queues}
	current.Store(&lc)
	l, err := lab.Up(lc)
	if err != nil {
		current.Store(nil)
		return nil, err
	}
	h := &liveLab{cfg: cfg, l: l, p: p, ncpu: runtime.NumCPU()}
	for q := range cfg.Queues {
		w, err := startGen(l.PeerNS, GenCPU(q, h.ncpu), cfg.Nice)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("generator thread for queue %d: %w", q, err)
		}
		h.gens = append(h.gens, w)
	}
	// Settle the generator kind once, with the smallest frame.
	if err := h.configureGen(minFrame); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func (h *liveLab) Describe() (string, string, []string) {
	return fmt.Sprintf("%s (netns %s and %s)", h.l.DUTIf, h.l.DUTNS, h.l.PeerNS), h.gkind, h.gnotes
}

// genOptions is queue q's traffic for frames of frameLen bytes.
func (h *liveLab) genOptions(q, frameLen int) traffic.Options {
	return traffic.Options{
		Ifindex: h.l.PeerIndex, SrcMAC: h.l.PeerMAC, DstMAC: h.l.DUTMAC,
		Src:      netipAddrPort(h.l.PeerAddr.Addr(), 9000),
		Dst:      netipAddrPort(h.l.DUTAddr, h.cfg.Port),
		FrameLen: frameLen, Flows: h.cfg.Flows,
		FirstSeq: uint64(q) << 48, TxQueue: q,
	}
}

// configureGen makes every generator thread send frames of frameLen.
func (h *liveLab) configureGen(frameLen int) error {
	want := h.cfg.Generator
	if h.gkind != "" {
		want = h.gkind // settled by the first configuration
	}
	for q, w := range h.gens {
		kind, notes, err := w.configure(h.genOptions(q, frameLen), want)
		if err != nil {
			return fmt.Errorf("generator: %w", err)
		}
		for _, n := range notes {
			h.p.printf("  %s", n)
			h.gnotes = append(h.gnotes, n)
		}
		if h.gkind == "" {
			h.p.printf("  generator: %s", kind)
		}
		h.gkind = kind
	}
	return nil
}

// send runs every generator for d at once and sums what they sent.
func (h *liveLab) send(d time.Duration) (traffic.Result, error) {
	res := make([]traffic.Result, len(h.gens))
	errs := make([]error, len(h.gens))
	var wg sync.WaitGroup
	for i, w := range h.gens {
		wg.Go(func() { res[i], errs[i] = w.send(d) })
	}
	wg.Wait()
	var sum traffic.Result
	for _, r := range res {
		sum.Sent += r.Sent
		sum.Refused += r.Refused
		sum.Elapsed = max(sum.Elapsed, r.Elapsed)
	}
	return sum, errors.Join(errs...)
}

func (h *liveLab) Close() error {
	h.once.Do(func() {
		for _, w := range h.gens {
			w.stop()
		}
		h.err = h.l.Close()
		current.Store(nil)
	})
	return h.err
}

// Run measures one live scenario.
func (h *liveLab) Run(ctx context.Context, d Def, row *report.Scenario) (err error) {
	switch d.Kind {
	case report.KindHTTP:
		return h.runHTTP(ctx, d, row)
	case report.KindConnMemory:
		return h.runConnMemory(ctx, d, row)
	}
	if !d.tcp() {
		if err := h.configureGen(d.FrameLen); err != nil {
			return err
		}
	}
	undo, err := h.prepareDUT(d)
	defer func() { err = errors.Join(err, undo()) }()
	if err != nil {
		return err
	}
	rx, err := h.newReceiver(d)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rx.Close()) }()
	row.Receiver = rx.Describe()
	h.p.printf("  receiver: %s", row.Receiver)
	measure, line := func(dur time.Duration) (report.Rep, error) { return h.measure(rx, d, dur) }, repLine
	if d.tcp() {
		trx, ok := rx.(tcpReceiver)
		if !ok {
			return fmt.Errorf("scenario %s: receiver counts no TCP segments", d.Name)
		}
		cl, err := h.dialTCP()
		if err != nil {
			return err
		}
		// Closed before the receiver: its FIN still finds it running.
		defer func() { err = errors.Join(err, cl.Close()) }()
		row.Receiver += fmt.Sprintf("; client: kernel TCP, net.Conn.Write(1 MiB) on CPU %d", GenCPU(0, h.ncpu))
		measure, line = func(dur time.Duration) (report.Rep, error) { return h.measureTCP(trx, cl, d, dur) }, tcpRepLine
	}
	if h.cfg.Warmup > 0 {
		w, err := measure(h.cfg.Warmup)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		row.Warmup = &w
		h.p.printf("  warm-up: %s", line(w))
	}
	if ic, ok := rx.(idleCounter); ok && !d.tcp() {
		cal, err := h.calibrateIdle(rx, ic)
		if err != nil {
			return fmt.Errorf("idle pass cost: %w", err)
		}
		row.IdleCal = &cal
		for _, w := range cal.Windows {
			h.p.printf("  idle window: %d passes in %v, %d frames trickled, %.1f ms of receiver CPU",
				w.Passes, time.Duration(w.ElapsedNS).Round(time.Millisecond), w.Frames, float64(w.RxCPUNS)/1e6)
		}
		h.p.printf("  idle pass: %.1f ns of receiver CPU", cal.PassNS())
	}
	for i := range h.cfg.Reps {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := measure(h.cfg.Duration)
		if err != nil {
			return fmt.Errorf("rep %d: %w", i+1, err)
		}
		row.Reps = append(row.Reps, rep)
		h.p.printf("  rep %d/%d: %s", i+1, h.cfg.Reps, line(rep))
	}
	rx.Finish(row)
	return nil
}

func tcpRepLine(r report.Rep) string {
	return fmt.Sprintf("sent %.2f Gbit/s, goodput %.2f Gbit/s, %d segments lost (veth %d, ring %d, fill %d, stack %d, sock %d), %d retransmitted, %.3f CPU ns/byte",
		r.SentGbps(), r.GoodputGbps(), r.Lost(), r.Loss.Veth, r.Loss.RingFull, r.Loss.FillEmpty, r.Loss.Stack, r.Loss.Socket, r.Retrans, r.CPUPerByteNS())
}

func repLine(r report.Rep) string {
	return fmt.Sprintf("sent %.3f Mpps, received %.3f Mpps, loss %.2f%% (veth %d, ring %d, fill %d, stack %d, sock %d), %.0f ns/pkt",
		r.SentPPS()/1e6, r.RxPPS()/1e6, r.LossPct(), r.Loss.Veth, r.Loss.RingFull, r.Loss.FillEmpty, r.Loss.Stack, r.Loss.Socket, r.CPUPerPacketNS())
}

// prepareDUT turns on what the DUT kernel needs for d and returns what
// turns it off again.
func (h *liveLab) prepareDUT(d Def) (undo func() error, err error) {
	var undos []func() error
	undo = func() error {
		var errs []error
		for i := len(undos) - 1; i >= 0; i-- {
			errs = append(errs, undos[i]())
		}
		return errors.Join(errs...)
	}
	if d.needsKernelRx() {
		// Without an XDP program a veth drops redirected frames unless
		// GRO gives its queue a NAPI instance.
		if err := lab.SetFeature(h.l.DUTNS, h.l.DUTIf, "gro", true); err != nil {
			return undo, fmt.Errorf("turn GRO on: %w", err)
		}
		undos = append(undos, func() error {
			return lab.SetFeature(h.l.DUTNS, h.l.DUTIf, "gro", false)
		})
	}
	if d.tcpPeer() {
		// The peer's kernel sends to the DUT's MAC without asking: rxpath
		// and the DUT kernel both answer ARP, but a row should not
		// depend on it.
		if err := h.l.AddStaticNeighbor(h.l.DUTAddr, h.l.DUTMAC); err != nil {
			return undo, err
		}
		undos = append(undos, func() error {
			return h.l.DelStaticNeighbor(h.l.DUTAddr)
		})
	}
	if d.tcp() {
		// Reps are apart by the counter reads: without this the client
		// would restart from a small window after each.
		const ssai = "/proc/sys/net/ipv4/tcp_slow_start_after_idle"
		old, err := lab.ReadProcSys(h.l.PeerNS, ssai)
		if err != nil {
			return undo, err
		}
		if err := lab.WriteProcSys(h.l.PeerNS, ssai, "0"); err != nil {
			return undo, fmt.Errorf("client: tcp_slow_start_after_idle: %w", err)
		}
		undos = append(undos, func() error {
			return lab.WriteProcSys(h.l.PeerNS, ssai, old)
		})
	}
	if d.needsKernelAddr() {
		pfx := netip.PrefixFrom(h.l.DUTAddr, h.l.PeerAddr.Bits())
		if err := lab.AddAddr(h.l.DUTNS, h.l.DUTIf, pfx); err != nil {
			return undo, fmt.Errorf("give the DUT kernel %s: %w", pfx, err)
		}
		undos = append(undos, func() error {
			return lab.DelAddr(h.l.DUTNS, h.l.DUTIf, pfx)
		})
	}
	return undo, nil
}

func (h *liveLab) newReceiver(d Def) (receiver, error) {
	switch d.recv {
	case recvCeiling:
		return newCeiling(h)
	case recvXSKMinimal:
		return newXSKMinimal(h)
	case recvRaw, recvHandler, recvReadBatch, recvAFPacket, recvTapDevNull, recvTapFile:
		return newRxpath(h, d.recv)
	case recvKernel, recvKernelSpin:
		return newKernel(h, d.recv == recvKernelSpin)
	case recvAsavie:
		return newAsavie(h)
	case recvTCPRxpath:
		return newRxpath(h, d.recv)
	case recvTCPKernel:
		return newTCPKernel(h)
	}
	return nil, fmt.Errorf("scenario %s has no live receiver", d.Name)
}

// cpuSnap is the CPU clocks at one moment.
type cpuSnap struct {
	rx, gen, proc time.Duration
	// loops is the CPU time of a busyTimer's loop threads (IdleThreads).
	loops time.Duration
	stat  sysstat.Stat
	sched sysstat.Sched // the receiver's threads', summed
}

// busyTimer is an idleCounter whose loops time their own rounds (rxpath's
// pollers: poller.Stats.BusyNS, counter report.LoopBusyCounter): its busy
// time is measured, not modelled from idle passes.
type busyTimer interface {
	idleCounter
	timesRounds()
}

func (h *liveLab) cpu(rx receiver) (cpuSnap, error) {
	var s cpuSnap
	var err error
	tids := rx.Threads()
	if s.rx, err = sysstat.ThreadsCPU(tids); err != nil {
		return s, err
	}
	if bt, ok := rx.(busyTimer); ok {
		if s.loops, err = sysstat.ThreadsCPU(bt.IdleThreads()); err != nil {
			return s, err
		}
	}
	for _, tid := range tids {
		ts, err := sysstat.ThreadSched(tid)
		if err != nil {
			return s, err
		}
		s.sched.Run += ts.Run
		s.sched.Wait += ts.Wait
		s.sched.Slices += ts.Slices
	}
	if s.gen, err = sysstat.ThreadsCPU(h.genTIDs()); err != nil {
		return s, err
	}
	if s.proc, err = sysstat.ProcessCPU(); err != nil {
		return s, err
	}
	s.stat, err = sysstat.ReadStat()
	return s, err
}

// counters reads the receiver's counters and both veth ends', and with
// client set the client's Tcp MIB (keys "peer.snmp.Tcp.*").
func (h *liveLab) counters(rx receiver, client bool) (map[string]uint64, error) {
	c := rx.Counters()
	if client {
		var snmp sysstat.SNMP
		if err := lab.InNS(h.l.PeerNS, func() (err error) { snmp, err = sysstat.ReadSNMP(); return err }); err != nil {
			return nil, fmt.Errorf("client's MIB: %w", err)
		}
		for f, v := range snmp["Tcp"] {
			c["peer.snmp.Tcp."+f] = v
		}
	}
	for _, end := range []struct{ ns, ifname, key string }{{h.l.DUTNS, h.l.DUTIf, "dut"}, {h.l.PeerNS, h.l.PeerIf, "peer"}} {
		et, err := lab.EthtoolStats(end.ns, end.ifname)
		if err != nil {
			return nil, fmt.Errorf("veth counters: %w", err)
		}
		link, err := lab.LinkStats(end.ns, end.ifname)
		if err != nil {
			return nil, fmt.Errorf("veth counters: %w", err)
		}
		for k, n := range vethCounters(et, link.RxDropped, link.TxDropped) {
			c["veth."+end.key+"."+k] = n
		}
	}
	return c, nil
}

// drainQuiet is how long Delivered must stay still for the receiver to
// count as drained; drainMax bounds the wait.
const (
	drainQuiet = 5 * time.Millisecond
	drainMax   = 2 * time.Second
)

// idleWindow is how long calibrateIdle watches a receiver: a tenth of a
// rep, within [20ms, 200ms] (a spinner makes a million passes in 100ms).
func (h *liveLab) idleWindow() time.Duration {
	return min(max(h.cfg.Duration/10, 20*time.Millisecond), 200*time.Millisecond)
}

// trickleGaps are the gaps between the frames of a sleeper's two
// calibration windows: well under rxpath's default IdleSpin (50µs), so
// the poller spins between them instead of sleeping.
var trickleGaps = [2]time.Duration{40 * time.Microsecond, 15 * time.Microsecond}

// idleTries bounds the windows calibrateIdle watches when the receiver's
// thread made no pass at all (another process had its CPU).
const idleTries = 3

// calibrateIdle measures what one idle pass of rx costs (report.IdleCal):
// the CPU time of the threads that make the passes, over the passes they
// made. A spinner is watched with no traffic at all. A receiver that
// sleeps when idle would sleep through that, so it is watched twice with
// frames trickling in, sparse then dense, and spins between them as it
// does between the bursts of a rep.
func (h *liveLab) calibrateIdle(rx receiver, ic idleCounter) (report.IdleCal, error) {
	waits := []func(time.Duration) (uint64, error){func(d time.Duration) (uint64, error) { time.Sleep(d); return 0, nil }}
	if ic.SleepsWhenIdle() {
		waits = waits[:0]
		for _, gap := range trickleGaps {
			waits = append(waits, func(d time.Duration) (uint64, error) { return h.trickle(d, gap) })
		}
	}
	var cal report.IdleCal
	for _, wait := range waits {
		var w report.IdleWindow
		var err error
		for range idleTries {
			waitDrained(rx)
			if w, err = h.idleWindowCPU(ic, wait); err != nil {
				return cal, err
			}
			if w.Passes > 0 {
				break
			}
		}
		cal.Windows = append(cal.Windows, w)
	}
	waitDrained(rx)
	return cal, nil
}

// trickle has every generator send one frame every gap for d, and
// returns how many frames went.
func (h *liveLab) trickle(d, gap time.Duration) (uint64, error) {
	var sent uint64
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(h.gens))
	for i, w := range h.gens {
		wg.Go(func() {
			n, err := w.trickle(d, gap)
			mu.Lock()
			sent += n
			mu.Unlock()
			errs[i] = err
		})
	}
	wg.Wait()
	return sent, errors.Join(errs...)
}

// idleWindowCPU runs wait for the idle window and returns the CPU time
// the idle threads used meanwhile, the passes they made and what wait
// sent.
func (h *liveLab) idleWindowCPU(ic idleCounter, wait func(time.Duration) (uint64, error)) (report.IdleWindow, error) {
	tids := ic.IdleThreads()
	c0, err := sysstat.ThreadsCPU(tids)
	if err != nil {
		return report.IdleWindow{}, err
	}
	p0, start := ic.IdlePasses(), time.Now()
	sent, err := wait(h.idleWindow())
	if err != nil {
		return report.IdleWindow{}, err
	}
	c1, err := sysstat.ThreadsCPU(tids)
	if err != nil {
		return report.IdleWindow{}, err
	}
	return report.IdleWindow{ElapsedNS: int64(time.Since(start)), RxCPUNS: int64(c1 - c0), Passes: ic.IdlePasses() - p0, Frames: sent}, nil
}

// measure runs one repetition of d seconds.
func (h *liveLab) measure(rx receiver, d Def, dur time.Duration) (report.Rep, error) {
	c0, err := h.counters(rx, false)
	if err != nil {
		return report.Rep{}, err
	}
	t0, err := h.cpu(rx)
	if err != nil {
		return report.Rep{}, err
	}
	ic, _ := rx.(idleCounter)
	var i0 uint64
	if ic != nil {
		i0 = ic.IdlePasses()
	}
	d0 := rx.Delivered()
	res, err := h.send(dur)
	if err != nil {
		return report.Rep{}, err
	}
	last := waitDrained(rx)
	t1, err := h.cpu(rx)
	if err != nil {
		return report.Rep{}, err
	}
	var idle uint64
	if ic != nil {
		idle = ic.IdlePasses() - i0
	}
	c1, err := h.counters(rx, false)
	if err != nil {
		return report.Rep{}, err
	}
	delta := sysstat.Delta(c0, c1)
	if res.Refused > 0 {
		delta["traffic.refused"] = int64(res.Refused)
	}
	// What kept the receiver's threads from their CPUs: a spinning
	// poller is always runnable, so its run-queue wait is the time other
	// work held its CPU, when its rings filled.
	delta["sched.rx_wait_us"] = int64(t1.sched.Wait-t0.sched.Wait) / 1e3
	delta["sched.rx_slices"] = int64(t1.sched.Slices - t0.sched.Slices)
	if _, ok := rx.(busyTimer); ok {
		delta[report.LoopCPUCounter] = int64(t1.loops - t0.loops)
	}
	stealCounter(delta, t0.stat, t1.stat)
	perCPU, soft := sysstat.SoftIRQDelta(t0.stat, t1.stat)
	rep := report.Rep{
		Sent: res.Sent, Received: last - d0, ElapsedNS: int64(res.Elapsed), FrameLen: d.FrameLen,
		Loss:         rx.Loss(delta),
		RxCPUNS:      int64(t1.rx - t0.rx),
		SoftirqNS:    int64(soft),
		ProcessCPUNS: int64((t1.proc - t0.proc) - (t1.gen - t0.gen)),
		IdlePasses:   idle,
		Counters:     delta,
	}
	for _, c := range perCPU {
		rep.SoftirqPerCPUNS = append(rep.SoftirqPerCPUNS, int64(c))
	}
	return rep, nil
}

// stealCounter records the hypervisor's steal on all CPUs between a and
// b: time the VM's CPUs wanted to run and did not, which slows a rep for
// reasons outside the machine (report.StealNote).
func stealCounter(c map[string]int64, a, b sysstat.Stat) {
	_, steal := sysstat.StealDelta(a, b)
	c["host.steal_us"] = steal.Microseconds()
}

// waitDrained waits until the receiver's count has stood still for
// drainQuiet and, for a drainer, until it has caught up (at most drainMax
// in all), and returns the count. The CPU time read after it then covers
// the work of the frames counted, the tap's writes included.
func waitDrained(rx receiver) uint64 {
	dr, _ := rx.(drainer)
	last, still := rx.Delivered(), time.Now()
	for deadline := time.Now().Add(drainMax); time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		if v := rx.Delivered(); v != last {
			last, still = v, time.Now()
		} else if time.Since(still) >= drainQuiet && (dr == nil || dr.Drained()) {
			break
		}
	}
	return last
}

// measureTCP runs one repetition of a TCP row: the client writes for dur.
// Rates and CPU times cover the send time; segment counts (and so the
// loss) also cover the drain that follows, until the receiver has
// acknowledged every byte left in the client's socket buffer.
func (h *liveLab) measureTCP(rx tcpReceiver, cl *tcpClient, d Def, dur time.Duration) (report.Rep, error) {
	c0, err := h.counters(rx, true)
	if err != nil {
		return report.Rep{}, err
	}
	t0, err := h.cpu(rx)
	if err != nil {
		return report.Rep{}, err
	}
	b0 := rx.Delivered()
	sent, elapsed, err := cl.send(dur)
	if err != nil {
		return report.Rep{}, err
	}
	b1 := rx.Delivered()
	t1, err := h.cpu(rx)
	if err != nil {
		return report.Rep{}, err
	}
	if err := cl.waitAcked(); err != nil {
		return report.Rep{}, fmt.Errorf("kernel TCP client: %w", err)
	}
	waitDrained(rx)
	c1, err := h.counters(rx, true)
	if err != nil {
		return report.Rep{}, err
	}
	delta := sysstat.Delta(c0, c1)
	stealCounter(delta, t0.stat, t1.stat)
	perCPU, soft := sysstat.SoftIRQDelta(t0.stat, t1.stat)
	retrans := pos(delta["peer.snmp.Tcp.RetransSegs"])
	rep := report.Rep{
		Sent: pos(delta["peer.snmp.Tcp.OutSegs"]) + retrans, Received: rx.Segments(delta),
		ElapsedNS: int64(elapsed), FrameLen: d.FrameLen,
		Loss:         rx.Loss(delta),
		RxCPUNS:      int64(t1.rx - t0.rx),
		SoftirqNS:    int64(soft),
		ProcessCPUNS: int64((t1.proc - t0.proc) - (t1.gen - t0.gen)),
		Counters:     delta,
		TxBytes:      sent, RxBytes: b1 - b0, Retrans: retrans,
	}
	for _, c := range perCPU {
		rep.SoftirqPerCPUNS = append(rep.SoftirqPerCPUNS, int64(c))
	}
	if rep.RxBytes == 0 {
		return rep, fmt.Errorf("the client wrote %d bytes but the receiver's application got none", sent)
	}
	return rep, nil
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
