package scenario

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/internal/affinity"
	"github.com/rxpath/rxpath/internal/lab"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
)

// rxpathRx is rxpath on the DUT end: a driver, one poller per queue on
// the receiver CPUs and, except for the raw row, the stack with a UDP
// socket on the generator's port or, for the TCP row, a TCP listener
// there in handler mode that counts the stream's bytes on the poller. It
// is wired like rxpath.Open, with the pollers run on threads of its own
// so that their CPU time can be read.
type rxpathRx struct {
	kind     recvKind
	busySpin bool
	dev      *driver.Device
	st       *stack.Stack
	ip       *ipv4.IPv4
	u        *udp.UDP
	conn     *udp.Conn
	tcp      *tcp.TCP
	tl       *tcp.Listener
	tconns   []*tcp.Conn // guarded by mu
	acceptWG sync.WaitGroup
	tp       *tap.Tap
	tapDir   string
	devnull  *os.File
	pollers  []*poller.Poller
	count    atomic.Uint64

	mu     sync.Mutex
	tids   []int
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
	dopts := auto.Options{Kind: driver.XDP}
	if kind == recvAFPacket {
		dopts.Kind = driver.Packet
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
	err = lab.InNS(h.l.DUTNS, func() (err error) {
		r.dev, err = auto.Open(h.l.DUTIf, dopts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", h.l.DUTIf, err)
	}
	if kind != recvRaw {
		if err := r.buildStack(h); err != nil {
			return nil, err
		}
	}
	ready := make(chan error, len(r.dev.Queues))
	for i, q := range r.dev.Queues {
		var hd poller.Handler
		if kind == recvRaw {
			hd = func(b *poller.Batch) { r.count.Add(uint64(len(b.Frames))) }
		} else {
			hd = r.st.Handler()
		}
		po := poller.Options{}
		if h.cfg.BusySpin {
			po.IdleSpin = -1
		}
		p := poller.New(q, hd, po)
		r.pollers = append(r.pollers, p)
		r.wg.Add(1)
		go r.runThread(RxCPU(i, h.ncpu), h.cfg.Nice, ready, func() {
			if err := p.Run(); err != nil {
				r.fail(err)
			}
		})
	}
	for range r.dev.Queues {
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	if kind == recvReadBatch {
		r.wg.Add(1)
		go r.runThread(RxCPU(0, h.ncpu), h.cfg.Nice, ready, r.readBatch)
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *rxpathRx) buildStack(h *liveLab) error {
	var err error
	pfx := netip.PrefixFrom(h.l.DUTAddr, h.l.PeerAddr.Bits())
	so := stack.Options{MAC: r.dev.MAC, Addrs: []netip.Prefix{pfx}}
	if r.tp != nil {
		so.Tap = r.tp
	}
	if r.st, err = stack.New(so); err != nil {
		return err
	}
	r.ip = ipv4.New(r.st, ipv4.Options{})
	r.u = udp.New(r.ip, udp.Options{})
	r.st.Attach(r.dev.Queues)
	if r.kind == recvTCPRxpath {
		return r.listenTCP(h)
	}
	if r.conn, err = r.u.Listen(netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port), udp.SocketOptions{}); err != nil {
		return err
	}
	if r.kind != recvReadBatch {
		r.conn.SetHandler(func(udp.Datagram) { r.count.Add(1) })
	}
	return nil
}

// listenTCP puts the TCP sink on the run's port: handler mode, the bytes
// counted on the poller goroutine, as `rxpath --tcp-sink` receives.
func (r *rxpathRx) listenTCP(h *liveLab) error {
	r.tcp = tcp.New(r.ip, tcp.Options{})
	var mac header.MAC
	copy(mac[:], h.l.PeerMAC)
	r.st.AddStaticNeighbor(h.l.PeerAddr.Addr().As4(), mac)
	var err error
	r.tl, err = r.tcp.Listen(netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port), tcp.ListenOptions{
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
	return d + "; default poller options (sleep in poll(2) after 50µs idle)"
}

func (r *rxpathRx) Delivered() uint64 { return r.count.Load() }

func (r *rxpathRx) Threads() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.tids...)
}

func (r *rxpathRx) Counters() map[string]uint64 {
	c := map[string]uint64{}
	pre := "xsk."
	if r.dev.Kind == driver.Packet {
		pre = "packet."
	}
	for _, p := range r.pollers {
		s := p.Stats()
		k := s.Driver.Kernel
		c[pre+"rx_dropped"] += k.RxDropped
		c[pre+"rx_ring_full"] += k.RxRingFull
		c[pre+"rx_fill_ring_empty"] += k.RxFillRingEmpty
		c[pre+"rx_invalid_descs"] += k.RxInvalidDescs
		c[pre+"rx_freeze"] += k.RxFrozen
		c["driver.rx_frames"] += s.Driver.RxFrames
		c["driver.rx_invalid"] += s.Driver.RxInvalid
		c["driver.rx_truncated"] += s.Driver.RxTrunc
		c["poller.processed"] += s.Processed
		c["poller.time_squeeze"] += s.TimeSqueeze
		c["poller.polls"] += s.Polls
		c["poller.wakeups"] += s.Wakeups
	}
	if r.st != nil {
		s := r.st.Stats()
		c["stack.frames"] = s.Frames
		c["stack.drops"] = s.TooShort + s.NotForUs + s.UnknownType + s.ARPMalformed
		i := r.ip.Stats()
		c["ipv4.received"] = i.Received
		c["ipv4.drops"] = i.TooShort + i.BadVersion + i.BadIHL + i.BadTotalLength + i.LengthBeyond + i.BadChecksum +
			i.BadOptions + i.SourceRoute + i.Martian + i.TTLZero + i.NotForUs + i.FilterPre + i.FilterIn + i.UnknownProto
		u := r.u.Stats()
		c["udp.in_datagrams"] = u.InDatagrams
		c["udp.no_ports"] = u.NoPorts
		c["udp.bad_length"] = u.BadLength
		c["udp.csum_errors"] = u.CsumErrors
		c["udp.rcvbuf_errors"] = u.RcvbufErrors
	}
	if r.tcp != nil {
		t := r.tcp.Stats()
		c["tcp.in_segs"], c["tcp.out_segs"], c["tcp.in_errs"] = t.InSegs, t.OutSegs, t.InErrs
		c["tcp.no_port"], c["tcp.out_of_window"], c["tcp.paws_rejected"] = t.NoPort, t.OutOfWindow, t.PAWSRejected
		c["tcp.zero_window_drops"], c["tcp.ofo_queued"], c["tcp.duplicate_bytes"] = t.ZeroWindowDrops, t.OFOQueued, t.DuplicateBytes
		c["tcp.delayed_acks"], c["tcp.window_updates"] = t.DelayedACKs, t.WindowUpdates
	}
	if r.tp != nil {
		t := r.tp.Stats()
		c["tap.seen"], c["tap.dropped"], c["tap.written"], c["tap.write_errors"] = t.Seen, t.Dropped, t.Written, t.WriteErrors
	}
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
	if r.tcp != nil {
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
	for _, p := range r.pollers {
		errs = append(errs, p.Stop())
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
	if r.tcp != nil {
		errs = append(errs, r.tcp.Close())
	}
	// A poller whose thread had not reached Run yet when Stop was called
	// is stopped again until every thread has ended.
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	for stopped := false; !stopped; {
		select {
		case <-done:
			stopped = true
		case <-time.After(50 * time.Millisecond):
			for _, p := range r.pollers {
				p.Stop()
			}
		}
	}
	if r.dev != nil {
		errs = append(errs, r.dev.Close())
		for _, q := range r.dev.Queues {
			if err := q.Check(); err != nil {
				errs = append(errs, fmt.Errorf("queue %d ledger: %w", q.ID(), err))
			}
		}
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
