package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/driver/memnic"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
)

// A capacity row (report.KindCapacity) puts rxpath on a NIC in memory
// (driver/memnic): the real rings and UMEM, with a producer thread on the
// generator CPU playing the hardware and the poller on the receiver CPU,
// built by rxpath.Open as a user would build it. The NIC saturates
// (memnic.Options.Rate 0): it posts a frame whenever the poller has posted
// a buffer and freed an rx slot and drops nothing, so the frames delivered
// per second are what one poller core takes. A repetition starts the NIC,
// lets it run for Config.Duration, stops it and waits for the receive
// path to settle; its CPU time is the whole process's less the producer
// thread's, as the live rows count it, and the heap allocations over the
// repetition are counted (go.mallocs). After the repetitions Node.Close
// checks every frame ledger. One queue, whatever Config.Queues says: the
// rows measure one core.

// capWarmupMax bounds a capacity row's warm-up: there is no lab to settle,
// only the caches and the poller's thread.
const capWarmupMax = 500 * time.Millisecond

// Settling a capacity row after its NIC stopped: the delivered count must
// stand still for capQuiet (and the tap catch up), at most capSettleMax.
const (
	capQuiet     = 5 * time.Millisecond
	capSettleMax = 2 * time.Second
)

// capacity is a capacity row on memnic with the receive path of kind r.
func capacity(name string, r recvKind, desc string) Def {
	return Def{Name: name, Kind: report.KindCapacity, Proto: report.ProtoUDP, Description: desc, FrameLen: minFrame, recv: r,
		run: func(ctx context.Context, cfg Config, row *report.Scenario, p *progress) error {
			return runMemnic(ctx, cfg, r, row, p)
		}}
}

// memnicRow is one capacity row's receive path on its NIC.
type memnicRow struct {
	kind    recvKind
	cfg     Config
	linux   bool // CPU clocks and pinning work
	rxCPU   int
	nic     *memnic.NIC
	n       *rxpath.Node
	conn    *udp.Conn
	tp      *tap.Tap
	devnull *os.File
	count   atomic.Uint64

	readerTID atomic.Int64
	readerErr error // set by the reader before it ends
	closing   atomic.Bool
	wg        sync.WaitGroup
}

func runMemnic(ctx context.Context, cfg Config, kind recvKind, row *report.Scenario, p *progress) (err error) {
	m, err := openMemnic(cfg, kind)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := m.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close (frame ledger): %w", cerr))
		}
	}()
	row.Receiver = m.describe()
	p.printf("  receiver: %s", row.Receiver)
	if w := min(cfg.Warmup, capWarmupMax); w > 0 {
		rep, err := m.measure(ctx, w)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		row.Warmup = &rep
		p.printf("  warm-up: %s", capLine(rep))
	}
	for i := range cfg.Reps {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := m.measure(ctx, cfg.Duration)
		if err != nil {
			return fmt.Errorf("rep %d: %w", i+1, err)
		}
		row.Reps = append(row.Reps, rep)
		p.printf("  rep %d/%d: %s", i+1, cfg.Reps, capLine(rep))
	}
	m.finish(row)
	return nil
}

func capLine(r report.Rep) string {
	return fmt.Sprintf("offered %.3f Mpps, received %.3f Mpps (%.1f ns/frame), loss %.2f%%, %.1f CPU ns/frame, %.3f allocs/frame, NIC waited for the poller in %.0f%% of its passes",
		r.SentPPS()/1e6, r.RxPPS()/1e6, divOr0(1e9, r.RxPPS()), r.LossPct(), r.CPUPerPacketNS(),
		divOr0(float64(pos(r.Counters["go.mallocs"])), float64(r.Received)), 100*nicWaitShare(r))
}

// nicWaitShare is the share of the NIC's passes in which it found the
// poller behind (fill ring empty or rx ring full): near 1 when the poller
// sets the rate, near 0 when the NIC does.
func nicWaitShare(r report.Rep) float64 {
	waits := float64(pos(r.Counters["nic.fill_empty_waits"]) + pos(r.Counters["nic.rx_full_waits"]))
	posts := float64(pos(r.Counters["nic.posted"])) / 64 // memnic's default batch
	return divOr0(waits, waits+posts)
}

func divOr0(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func openMemnic(cfg Config, kind recvKind) (_ *memnicRow, err error) {
	ncpu := runtime.NumCPU()
	m := &memnicRow{kind: kind, cfg: cfg, linux: runtime.GOOS == "linux", rxCPU: RxCPU(0, ncpu)}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.close())
		}
	}()
	o := memnic.Options{Manual: true}
	if m.linux {
		o.CPUs = []int{GenCPU(0, ncpu)}
	}
	if m.nic, err = memnic.New(o); err != nil {
		return nil, err
	}
	u := memnic.DefaultUDP()
	rc := rxpath.Config{
		Interface:  m.nic.Options().Name,
		OpenDevice: m.nic.OpenDevice,
		Poller:     poller.Options{Nice: cfg.Nice},
	}
	if cfg.BusySpin {
		rc.Poller.IdleSpin = -1
	}
	if m.linux {
		rc.CPUs = []int{m.rxCPU}
	}
	if kind == recvTapDevNull {
		if m.devnull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			return nil, err
		}
		if m.tp, err = tap.New(m.devnull, tap.Options{}); err != nil {
			return nil, err
		}
		rc.Tap = m.tp
	}
	if kind == recvRaw {
		rc.Handler = func(b *poller.Batch) { m.count.Add(uint64(len(b.Frames))) }
	} else {
		rc.Addr = netip.PrefixFrom(u.Dst.Addr(), 24)
		rc.Setup = func(n *rxpath.Node) (err error) {
			if m.conn, err = n.ListenUDP(u.Dst); err != nil {
				return err
			}
			if kind != recvReadBatch {
				m.conn.SetHandler(func(udp.Datagram) { m.count.Add(1) })
			}
			return nil
		}
	}
	if m.n, err = rxpath.Open(rc); err != nil {
		return nil, fmt.Errorf("rxpath.Open on memnic: %w", err)
	}
	if kind == recvReadBatch {
		ready := make(chan error, 1)
		m.wg.Add(1)
		go m.readBatch(ready)
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	return m, nil
}

// readBatch drains the socket with ReadBatch(64) on a thread pinned to the
// poller's CPU, as the live readbatch row's reader runs.
func (m *memnicRow) readBatch(ready chan<- error) {
	defer m.wg.Done()
	if m.linux {
		tid, err := affinity.PinThread(m.rxCPU, m.cfg.Nice)
		if err != nil {
			ready <- fmt.Errorf("reader thread: %w", err)
			return
		}
		m.readerTID.Store(int64(tid))
	}
	ready <- nil
	msgs := make([]udp.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	for {
		k, err := m.conn.ReadBatch(msgs)
		m.count.Add(uint64(k))
		if err != nil {
			if !m.closing.Load() {
				m.readerErr = fmt.Errorf("ReadBatch: %w", err)
			}
			return
		}
	}
}

func (m *memnicRow) describe() string {
	d := fmt.Sprintf("memnic (rings and UMEM in memory, 60-byte UDP template, batch 64, saturating), producer on CPU %d, poller on CPU %d",
		GenCPU(0, runtime.NumCPU()), m.rxCPU)
	if !m.linux {
		d = "memnic (rings and UMEM in memory, 60-byte UDP template, batch 64, saturating), nothing pinned"
	}
	switch m.kind {
	case recvRaw:
		d += "; frames counted in the poller"
	case recvReadBatch:
		d += "; stack, socket read with ReadBatch(64) on a reader thread pinned to the poller's CPU"
	case recvTapDevNull:
		d += "; stack, UDP handler mode, pcap tap to /dev/null"
	default:
		d += "; stack, UDP handler mode"
	}
	if m.cfg.BusySpin {
		return d + "; poller spins, never sleeps"
	}
	return d + "; default poller options"
}

// threads are the receive path's own threads: the poller and the reader.
func (m *memnicRow) threads() []int {
	var tids []int
	for _, p := range m.n.Pollers() {
		if tid := p.ThreadID(); tid != 0 {
			tids = append(tids, tid)
		}
	}
	if tid := int(m.readerTID.Load()); tid != 0 {
		tids = append(tids, tid)
	}
	return tids
}

// cpu returns the receive path's threads' CPU time and the whole
// process's less the NIC's producer threads; zeros where the clocks
// cannot be read (off Linux).
func (m *memnicRow) cpu() (rx, proc time.Duration, err error) {
	if !m.linux {
		return 0, 0, nil
	}
	if rx, err = sysstat.ThreadsCPU(m.threads()); err != nil {
		return 0, 0, err
	}
	nicCPU, err := sysstat.ThreadsCPU(slices.DeleteFunc(m.nic.Threads(), func(t int) bool { return t == 0 }))
	if err != nil {
		return 0, 0, err
	}
	if proc, err = sysstat.ProcessCPU(); err != nil {
		return 0, 0, err
	}
	return rx, proc - nicCPU, nil
}

// counters are the row's cumulative raw counters.
func (m *memnicRow) counters() map[string]uint64 {
	c := map[string]uint64{}
	for _, s := range m.nic.Stats() {
		c["nic.sent"] += s.Sent
		c["nic.posted"] += s.Posted
		c["nic.fill_empty_waits"] += s.FillEmptyWaits
		c["nic.rx_full_waits"] += s.RxFullWaits
		c["nic.interrupts"] += s.Interrupts
		c["nic.fill_empty"] += s.FillEmpty
		c["nic.rx_ring_full"] += s.RxRingFull
	}
	nodeCounters(c, m.n)
	for _, p := range m.n.Pollers() {
		c["poller.idle_passes"] += p.Stats().IdlePasses
	}
	tapCounters(c, m.tp)
	return c
}

// drained reports whether the receive path has caught up with the NIC:
// the poller has handed every frame the NIC posted to its handler, the
// reader (if any) has emptied the socket and the tap (if any) has
// settled every frame it saw.
func (m *memnicRow) drained() bool {
	var posted, processed uint64
	for _, s := range m.nic.Stats() {
		posted += s.Posted
	}
	for _, p := range m.n.Pollers() {
		processed += p.Stats().Processed
	}
	if processed < posted {
		return false
	}
	if m.kind == recvReadBatch && m.conn.Stats().Queued > 0 {
		return false
	}
	if m.tp == nil {
		return true
	}
	t := m.tp.Stats()
	return t.Filtered+t.Dropped+t.Written+t.WriteErrors >= t.Seen
}

// settle waits, once the NIC has stopped, until the receive path has
// drained and the delivered count has stood still for capQuiet (at most
// capSettleMax), and returns the count.
func (m *memnicRow) settle() uint64 {
	last, still := m.count.Load(), time.Now()
	for deadline := time.Now().Add(capSettleMax); time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		if v := m.count.Load(); v != last {
			last, still = v, time.Now()
		} else if time.Since(still) >= capQuiet && m.drained() {
			break
		}
	}
	return last
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// measure runs the NIC for dur and returns the repetition's figures:
// Sent is what the NIC offered, Received what the application got once
// the path settled, ElapsedNS the NIC's run time.
func (m *memnicRow) measure(ctx context.Context, dur time.Duration) (report.Rep, error) {
	timer := time.NewTimer(dur)
	timer.Stop()
	c0 := m.counters()
	rx0, proc0, err := m.cpu()
	if err != nil {
		return report.Rep{}, err
	}
	d0, a0 := m.count.Load(), mallocs()
	start := time.Now()
	if err := m.nic.Start(); err != nil {
		return report.Rep{}, err
	}
	timer.Reset(dur)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	if err := m.nic.Stop(); err != nil {
		return report.Rep{}, err
	}
	elapsed := time.Since(start)
	last := m.settle()
	a1 := mallocs()
	rx1, proc1, err := m.cpu()
	if err != nil {
		return report.Rep{}, err
	}
	delta := sysstat.Delta(c0, m.counters())
	delta["go.mallocs"] = int64(a1 - a0)
	rep := report.Rep{
		Sent: pos(delta["nic.sent"]), Received: last - d0, ElapsedNS: int64(elapsed), FrameLen: minFrame,
		Loss: report.Loss{
			RingFull:  pos(delta["nic.rx_ring_full"]),
			FillEmpty: pos(delta["nic.fill_empty"]),
			Stack: pos(delta["stack.drops"]) + pos(delta["ipv4.drops"]) + pos(delta["udp.no_ports"]) + pos(delta["udp.bad_length"]) +
				pos(delta["udp.csum_errors"]) + pos(delta["driver.rx_invalid"]) + pos(delta["driver.rx_truncated"]),
			Socket: pos(delta["udp.rcvbuf_errors"]),
		},
		RxCPUNS:      int64(rx1 - rx0),
		ProcessCPUNS: int64(proc1 - proc0),
		IdlePasses:   pos(delta["poller.idle_passes"]),
		Counters:     delta,
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if rep.Received == 0 {
		return rep, fmt.Errorf("the NIC offered %d frames but the application got none", rep.Sent)
	}
	return rep, nil
}

// finish adds the row's notes: allocations, who set the rate, the tap.
func (m *memnicRow) finish(row *report.Scenario) {
	var frames, allocs uint64
	waits := make([]float64, 0, len(row.Reps))
	var seen, dropped uint64
	for _, rep := range row.Reps {
		frames += rep.Received
		allocs += pos(rep.Counters["go.mallocs"])
		waits = append(waits, nicWaitShare(rep))
		seen += pos(rep.Counters["tap.seen"])
		dropped += pos(rep.Counters["tap.dropped"])
	}
	if allocs == 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("zero heap allocations over %d frames", frames))
	} else {
		row.Notes = append(row.Notes, fmt.Sprintf("%d heap allocations over %d frames in %d reps (%.2g per frame; the whole process, "+
			"starting and stopping the NIC and the runtime included)", allocs, frames, len(row.Reps), float64(allocs)/float64(frames)))
	}
	if w := report.Summarize(waits); w.Valid() {
		row.Notes = append(row.Notes, fmt.Sprintf("the NIC found the poller behind (fill ring empty or rx ring full) in %.0f%% of its passes (median): "+
			"near 100%% the poller sets the rate, near 0%% the NIC does", 100*w.Median))
	}
	if sh := report.SpinShare(row, 1); m.linux && sh < 0.9 {
		row.Notes = append(row.Notes, fmt.Sprintf("the receive path's threads ran %.0f%% of the rep time (median): other work on the machine "+
			"had the receiver CPU the rest of it, so rx Mpps is low and CPU ns/frame is the cost to read", 100*sh))
	}
	if seen > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("the tap captured %.2f%% of the frames it saw; %.2f%% found its queue full (counted in tap.dropped, never lost to the app)",
			100*float64(seen-dropped)/float64(seen), 100*float64(dropped)/float64(seen)))
	}
	row.Extra = map[string]any{"nic": m.nic.Stats()}
	if m.tp != nil {
		row.Extra["tap"] = m.tp.Stats()
	}
}

// close ends the reader, closes the node (the pollers, the NIC, and the
// check of every frame ledger) and then the tap.
func (m *memnicRow) close() error {
	m.closing.Store(true)
	var errs []error
	if m.nic != nil {
		errs = append(errs, m.nic.Stop())
	}
	if m.conn != nil {
		errs = append(errs, m.conn.Close()) // ends the reader
	}
	m.wg.Wait()
	errs = append(errs, m.readerErr)
	if m.n != nil {
		errs = append(errs, m.n.Close()) // stops the poller, closes the NIC, checks the ledger
	}
	if m.nic != nil {
		errs = append(errs, m.nic.Close())
	}
	if m.tp != nil {
		errs = append(errs, m.tp.Close())
	}
	if m.devnull != nil {
		errs = append(errs, m.devnull.Close())
	}
	return errors.Join(errs...)
}
