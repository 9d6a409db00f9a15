package scenario

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
)

// rxpathRx is rxpath on the DUT end, built by rxpath.Open as a user
// would build it: a driver, one poller per queue pinned to the receiver
// CPUs and, except for the raw row, the stack with a UDP socket on the
// generator's port or, for the TCP row, a TCP listener there in handler
// mode that counts the stream's bytes on the poller.
type rxpathRx struct {
	kind     recvKind
	busySpin bool
	n        *rxpath.Node
	dev      *driver.Device
	conn     *udp.Conn
	tl       *tcp.Listener
	tconns   []*tcp.Conn // guarded by mu
	acceptWG sync.WaitGroup
	tp       *tap.Tap
	tapDir   string
	devnull  *os.File
	count    atomic.Uint64

	mu     sync.Mutex
	tids   []int // the reader's, for the ReadBatch row
	wg     sync.WaitGroup
	closed bool
	err    error
}

func newRxpath(h *liveLab, kind recvKind) (_ receiver, err error) {
	r := &rxpathRx{kind: kind, busySpin: h.cfg.BusySpin}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	cfg := rxpath.Config{
		Interface: h.l.DUTIf,
		Driver:    auto.Options{Kind: driver.XDP},
		Poller:    poller.Options{Nice: h.cfg.Nice},
		// The benchmark's TCP row has measured the stack without the
		// shared receive window budget from the start; keep it so.
		TCP: tcp.Options{RcvMem: -1},
	}
	if kind == recvAFPacket {
		cfg.Driver.Kind = driver.Packet
	}
	if h.cfg.BusySpin {
		cfg.Poller.IdleSpin = -1
	}
	for i := range max(h.cfg.Queues, 1) {
		cfg.CPUs = append(cfg.CPUs, RxCPU(i, h.ncpu))
	}
	switch kind {
	case recvTapDevNull:
		if r.devnull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			return nil, err
		}
		if r.tp, err = tap.New(r.devnull, tap.Options{}); err != nil {
			return nil, err
		}
	case recvTapFile:
		if r.tapDir, err = os.MkdirTemp("", "rxbench-tap-"); err != nil {
			return nil, err
		}
		if r.tp, err = tap.Create(filepath.Join(r.tapDir, "capture.pcap"), tap.Options{}); err != nil {
			return nil, err
		}
	}
	if r.tp != nil {
		cfg.Tap = r.tp
	}
	if kind == recvRaw {
		cfg.Handler = func(b *poller.Batch) { r.count.Add(uint64(len(b.Frames))) }
	} else {
		cfg.Addr = netip.PrefixFrom(h.l.DUTAddr, h.l.PeerAddr.Bits())
		cfg.Setup = func(n *rxpath.Node) error { return r.setup(h, n) }
	}
	err = lab.InNS(h.l.DUTNS, func() (err error) {
		r.n, err = rxpath.Open(cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", h.l.DUTIf, err)
	}
	r.dev = r.n.Device()
	if kind == recvReadBatch {
		ready := make(chan error, 1)
		r.wg.Add(1)
		go r.runThread(RxCPU(0, h.ncpu), h.cfg.Nice, ready, r.readBatch)
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	return r, nil
}

// setup binds the row's socket before the pollers start.
func (r *rxpathRx) setup(h *liveLab, n *rxpath.Node) error {
	if r.kind == recvTCPRxpath {
		return r.listenTCP(h, n)
	}
	var err error
	if r.conn, err = n.ListenUDP(netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port)); err != nil {
		return err
	}
	if r.kind != recvReadBatch {
		r.conn.SetHandler(func(udp.Datagram) { r.count.Add(1) })
	}
	return nil
}

// listenTCP puts the TCP sink on the run's port: handler mode, the bytes
// counted on the poller goroutine, as `rxpath --tcp-sink` receives.
func (r *rxpathRx) listenTCP(h *liveLab, n *rxpath.Node) error {
	var mac header.MAC
	copy(mac[:], h.l.PeerMAC)
	n.Stack.AddStaticNeighbor(h.l.PeerAddr.Addr().As4(), mac)
	var err error
	r.tl, err = n.ListenTCP(netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port), tcp.ListenOptions{
		Handler: func(*tcp.Conn) func([]byte) {
			return func(b []byte) { r.count.Add(uint64(len(b))) }
		},
	})
	if err != nil {
		return err
	}
	r.acceptWG.Add(1)
	go func() {
		defer r.acceptWG.Done()
		for {
			c, err := r.tl.AcceptTCP()
			if err != nil {
				return // the listener closed
			}
			r.mu.Lock()
			r.tconns = append(r.tconns, c)
			r.mu.Unlock()
		}
	}()
	return nil
}

// Segments is the segments that reached rxpath's TCP.
func (r *rxpathRx) Segments(d map[string]int64) uint64 { return pos(d["tcp.in_segs"]) }

// runThread runs f on a thread of its own pinned to cpu.
func (r *rxpathRx) runThread(cpu, nice int, ready chan<- error, f func()) {
	defer r.wg.Done()
	tid, err := affinity.PinThread(cpu, nice)
	if err != nil {
		ready <- err
		return
	}
	r.mu.Lock()
	r.tids = append(r.tids, tid)
	r.mu.Unlock()
	ready <- nil
	f()
}

// readBatch drains the socket like an application thread would.
func (r *rxpathRx) readBatch() {
	msgs := make([]udp.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	for {
		n, err := r.conn.ReadBatch(msgs)
		r.count.Add(uint64(n))
		if err != nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if !closed {
				r.fail(fmt.Errorf("ReadBatch: %w", err))
			}
			return
		}
	}
}

func (r *rxpathRx) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

func (r *rxpathRx) Describe() string {
	d := fmt.Sprintf("%s, %s", r.dev.Kind, r.dev.Mode)
	if r.dev.Reason != "" {
		d += " (fallback: " + r.dev.Reason + ")"
	}
	switch r.kind {
	case recvRaw:
		d += "; frames counted in the poller"
	case recvReadBatch:
		d += "; stack, socket read with ReadBatch(64) on a pinned reader thread"
	case recvTapDevNull:
		d += "; stack, UDP handler mode, pcap tap to /dev/null"
	case recvTapFile:
		d += "; stack, UDP handler mode, pcap tap to " + filepath.Join(r.tapDir, "capture.pcap")
	case recvTCPRxpath:
		d += "; stack, TCP sink in handler mode (bytes counted on the poller)"
	default:
		d += "; stack, UDP handler mode"
	}
	if r.busySpin {
		return d + "; pollers spin, never sleep"
	}
	return d + "; default poller options (adaptive wait: spin while traffic flows, sleep after real idleness)"
}

func (r *rxpathRx) Delivered() uint64 { return r.count.Load() }

func (r *rxpathRx) Threads() []int {
	tids := r.IdleThreads()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(tids, r.tids...)
}

// IdlePasses sums the pollers' passes that found no frame.
func (r *rxpathRx) IdlePasses() uint64 {
	var n uint64
	for _, p := range r.n.Pollers() {
		n += p.Stats().IdlePasses
	}
	return n
}

// timesRounds: the pollers time their rounds (poller.busy_ns).
func (*rxpathRx) timesRounds() {}

// SleepsWhenIdle: the default poller sleeps in the driver's Wait after
// IdleSpin without frames; with --busy-spin it never does.
func (r *rxpathRx) SleepsWhenIdle() bool { return !r.busySpin }

// IdleThreads are the pollers' threads.
func (r *rxpathRx) IdleThreads() []int {
	var tids []int
	for _, p := range r.n.Pollers() {
		if tid := p.ThreadID(); tid != 0 {
			tids = append(tids, tid)
		}
	}
	return tids
}

// Drained reports whether the tap, if any, has settled every frame it
// saw: filtered, dropped, written or lost to a write error.
func (r *rxpathRx) Drained() bool {
	if r.tp == nil {
		return true
	}
	t := r.tp.Stats()
	return t.Filtered+t.Dropped+t.Written+t.WriteErrors >= t.Seen
}

func (r *rxpathRx) Counters() map[string]uint64 {
	c := map[string]uint64{}
	pre := "xsk."
	if r.dev.Kind == driver.Packet {
		pre = "packet."
	}
	for _, p := range r.n.Pollers() {
		s := p.Stats()
		k := s.Driver.Kernel
		c[pre+"rx_dropped"] += k.RxDropped
		c[pre+"rx_ring_full"] += k.RxRingFull
		c[pre+"rx_fill_ring_empty"] += k.RxFillRingEmpty
		c[pre+"rx_invalid_descs"] += k.RxInvalidDescs
		c[pre+"rx_freeze"] += k.RxFrozen
	}
	nodeCounters(c, r.n)
	if r.tl != nil {
		t := r.n.TCP.Stats()
		c["tcp.in_segs"], c["tcp.out_segs"], c["tcp.in_errs"] = t.InSegs, t.OutSegs, t.InErrs
		c["tcp.no_port"], c["tcp.out_of_window"], c["tcp.paws_rejected"] = t.NoPort, t.OutOfWindow, t.PAWSRejected
		c["tcp.zero_window_drops"], c["tcp.ofo_queued"], c["tcp.duplicate_bytes"] = t.ZeroWindowDrops, t.OFOQueued, t.DuplicateBytes
		c["tcp.delayed_acks"], c["tcp.window_updates"] = t.DelayedACKs, t.WindowUpdates
	}
	tapCounters(c, r.tp)
	return c
}

func (r *rxpathRx) Loss(d map[string]int64) report.Loss {
	var redirected uint64
	if r.dev.Kind == driver.XDP {
		redirected = pos(d["xsk.rx_ring_full"]) + pos(d["xsk.rx_dropped"])
	}
	l := report.Loss{
		Veth:   vethLoss(d, true, redirected),
		Stack:  pos(d["stack.drops"]) + pos(d["ipv4.drops"]) + pos(d["udp.no_ports"]) + pos(d["udp.bad_length"]) + pos(d["udp.csum_errors"]) + pos(d["driver.rx_invalid"]) + pos(d["driver.rx_truncated"]),
		Socket: pos(d["udp.rcvbuf_errors"]),
	}
	if r.tl != nil {
		l.Stack += pos(d["tcp.in_errs"]) + pos(d["tcp.no_port"])
		l.Socket += pos(d["tcp.zero_window_drops"])
	}
	if r.dev.Kind == driver.Packet {
		l.RingFull = pos(d["packet.rx_dropped"])
	} else {
		l.RingFull = pos(d["xsk.rx_ring_full"])
		l.FillEmpty = pos(d["xsk.rx_fill_ring_empty"])
	}
	return l
}

func (r *rxpathRx) Finish(row *report.Scenario) {
	if r.tp == nil {
		return
	}
	var seen, dropped uint64
	for _, rep := range row.Reps {
		seen += pos(rep.Counters["tap.seen"])
		dropped += pos(rep.Counters["tap.dropped"])
	}
	if seen > 0 {
		row.Notes = append(row.Notes, fmt.Sprintf("the tap captured %.2f%% of the frames it saw; %.2f%% found its queue full (counted in tap.dropped, never lost to the app)",
			100*float64(seen-dropped)/float64(seen), 100*float64(dropped)/float64(seen)))
	}
	row.Extra = map[string]any{"tap": r.tp.Stats()}
}

func (r *rxpathRx) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	var errs []error
	if r.n != nil {
		for _, p := range r.n.Pollers() {
			errs = append(errs, p.Stop())
		}
	}
	if r.conn != nil {
		errs = append(errs, r.conn.Close()) // ends the reader
	}
	if r.tl != nil {
		errs = append(errs, r.tl.Close()) // ends the accept loop
		r.acceptWG.Wait()
		r.mu.Lock()
		for _, c := range r.tconns {
			errs = append(errs, c.Close())
		}
		r.mu.Unlock()
	}
	r.wg.Wait() // the reader
	if r.n != nil {
		// Stops the pollers, closes the device, checks every ledger.
		errs = append(errs, r.n.Close())
	}
	if r.tp != nil {
		errs = append(errs, r.tp.Close())
	}
	if r.devnull != nil {
		errs = append(errs, r.devnull.Close())
	}
	if r.tapDir != "" {
		errs = append(errs, os.RemoveAll(r.tapDir))
	}
	r.mu.Lock()
	errs = append(errs, r.err)
	r.mu.Unlock()
	return errors.Join(errs...)
}
