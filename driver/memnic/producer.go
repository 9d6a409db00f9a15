package memnic

import (
	"context"
	"encoding/binary"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/rxring"
)

// kernelRings are the kernel's halves of a queue's rings, which the
// producer owns.
type kernelRings struct {
	fill *rxring.KernelFill
	rx   *rxring.KernelRx
	tx   *rxring.KernelTx
	comp *rxring.KernelComp
}

// ctlOp is a request to the producer thread.
type ctlOp int

const (
	opStart ctlOp = iota // generate frames for run r
	opStop               // stop generating
	opExit               // stop and end the thread
)

type ctlMsg struct {
	op ctlOp
	r  *run
}

// run is one Start of the NIC: every queue's producer leaves it once,
// when it reaches Count or Duration, on Stop, or on Close; the last one
// out closes done.
type run struct {
	done    chan struct{}
	left    atomic.Int32
	started bool // under NIC.mu
}

func newRun(queues int) *run {
	r := &run{done: make(chan struct{})}
	r.left.Store(int32(queues))
	return r
}

func (r *run) leave() {
	if r.left.Add(-1) == 0 {
		close(r.done)
	}
}

func (r *run) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// producer is the hardware of one queue, on a thread of its own: it takes
// buffers off the fill ring, writes the template into them with a
// sequence number, posts rx descriptors in batches (one producer index
// store per batch, by KernelRx.Produce) and raises the interrupt when the
// poller sleeps; it takes frames off the tx ring and completes them.
//
// Fields above the first pad belong to the thread. armed is written by
// the poller's Wait and idle by the thread, each read by the other side;
// the counters are written by the thread and read by Stats. The pads keep
// the poller's and the thread's writes off each other's cache lines.
type producer struct {
	q   *Queue
	k   kernelRings
	cpu int // -1: unpinned

	// The frame area and the template. frameMask clears the offset
	// inside a frame; off is where the kernel (and so the NIC) puts
	// received data.
	mem       []byte
	frameMask uint64
	off       uint64
	tmpl      []byte
	seqOff    int
	flows     uint64
	basePort  uint16

	// Limits, from Options.
	batch    int
	rate     float64
	count    uint64
	duration time.Duration

	// Generation state.
	cur     *run // nil: not generating
	seq     uint64
	flow    uint64 // seq % flows
	offered uint64 // frames offered in this run, posted or dropped
	began   time.Time
	// addrs holds fill buffers taken and not used (paced: after a full
	// rx ring); descs the frames written and not yet posted (saturated:
	// after a full rx ring), descs[dHead:dTail].
	addrs        []uint64
	nAddrs       int
	descs        []rxring.Desc
	dHead, dTail int
	// The transmit side: descriptors taken off the tx ring, and
	// completions the completion ring had no room for.
	txDescs   []rxring.Desc
	compAddrs []uint64
	nComp     int
	timer     *time.Timer

	ctl      chan ctlMsg
	doorbell chan struct{}
	exited   chan struct{}

	_ [64]byte

	armed atomic.Bool // the poller sleeps in Wait: raise the interrupt on the next post
	idle  atomic.Bool // the thread sleeps: ring the doorbell on a transmit
	tid   atomic.Int64

	_ [64]byte

	st producerCounters
}

type producerCounters struct {
	sent, posted, rxRingFull, fillEmpty, fillInvalid atomic.Uint64
	rxFullWaits, fillEmptyWaits, interrupts          atomic.Uint64
	txFrames, txBytes                                atomic.Uint64
}

func newProducer(q *Queue, k kernelRings) *producer {
	o := &q.nic.opts
	p := &producer{
		q:         q,
		k:         k,
		cpu:       -1,
		mem:       q.r.UMEM.Bytes(),
		frameMask: ^uint64(q.r.UMEM.FrameSize() - 1),
		off:       uint64(q.r.UMEM.DataOffset()),
		tmpl:      o.Frame,
		seqOff:    o.SeqOffset,
		flows:     uint64(o.Flows),
		batch:     min(o.Batch, int(o.RxSize), int(o.FillSize)),
		rate:      o.Rate,
		count:     o.Count,
		duration:  o.Duration,
		seq:       o.FirstSeq,
		ctl:       make(chan ctlMsg),
		doorbell:  make(chan struct{}, 1),
		exited:    make(chan struct{}),
		txDescs:   make([]rxring.Desc, o.TxSize),
		compAddrs: make([]uint64, o.TxSize),
		timer:     time.NewTimer(time.Hour),
	}
	p.timer.Stop()
	if len(o.CPUs) > 0 {
		p.cpu = o.CPUs[q.id%len(o.CPUs)]
	}
	p.addrs = make([]uint64, p.batch)
	p.descs = make([]rxring.Desc, p.batch)
	if p.flows > 1 {
		p.basePort = binary.BigEndian.Uint16(o.Frame[portOff:])
		p.flow = p.seq % p.flows
	}
	return p
}

// start runs the thread and waits until it is pinned (or failed to be).
func (p *producer) start() error {
	ready := make(chan error, 1)
	go pprof.Do(context.Background(), pprof.Labels("memnic", "producer"), func(context.Context) { p.loop(ready) })
	return <-ready
}

// send hands m to the thread and returns once the thread took it: from
// then on it generates nothing for an older request. It returns false,
// having done nothing, if the thread has ended.
func (p *producer) send(m ctlMsg) bool {
	select {
	case p.ctl <- m:
		return true
	case <-p.exited:
		return false
	}
}

// exit ends the thread and waits for it.
func (p *producer) exit() {
	p.send(ctlMsg{op: opExit})
	<-p.exited
}

// ring wakes an idle thread to take transmitted frames.
func (p *producer) ring() {
	if p.idle.Load() {
		select {
		case p.doorbell <- struct{}{}:
		default:
		}
	}
}

func (p *producer) loop(ready chan<- error) {
	defer close(p.exited)
	defer p.leave()
	// The thread stays locked to this goroutine and ends with it, so a
	// pinned CPU mask never leaks to other goroutines.
	runtime.LockOSThread()
	if p.cpu >= 0 {
		if _, err := affinity.PinThread(p.cpu, 0); err != nil {
			ready <- err
			return
		}
	}
	p.tid.Store(int64(threadID()))
	ready <- nil
	for {
		if p.cur == nil {
			if !p.wait(-1) {
				return
			}
			continue
		}
		select {
		case m := <-p.ctl:
			if !p.handle(m) {
				return
			}
			continue
		default:
		}
		p.reapTx()
		if p.rate == 0 {
			p.saturate()
			continue
		}
		if d := p.paced(); d > 0 && !p.wait(d) {
			return
		}
	}
}

// wait sleeps until a request, a transmit or, with d > 0, until d has
// passed. It returns false when the thread is to end.
func (p *producer) wait(d time.Duration) bool {
	p.reapTx()
	p.idle.Store(true)
	p.reapTx() // a Transmit that missed the idle flag submitted before it was set
	var expire <-chan time.Time
	if d > 0 {
		p.timer.Reset(d)
		expire = p.timer.C
	}
	ok := true
	select {
	case m := <-p.ctl:
		ok = p.handle(m)
	case <-p.doorbell:
	case <-expire:
	}
	p.timer.Stop()
	p.idle.Store(false)
	return ok
}

// handle carries out m. It returns false when the thread is to end.
func (p *producer) handle(m ctlMsg) bool {
	p.leave()
	switch m.op {
	case opStart:
		p.cur = m.r
		p.offered = 0
		p.began = time.Now()
	case opExit:
		return false
	}
	return true
}

// leave ends the thread's part in the current run, if it has one.
func (p *producer) leave() {
	if p.cur != nil {
		p.cur.leave()
		p.cur = nil
	}
}

// saturate runs one pass at full speed: it posts the frames a full rx
// ring left over, or else takes up to a batch of fill buffers, writes a
// frame into each and posts them. It drops nothing: a full rx ring or an
// empty fill ring makes it wait (spinning) and is counted as such.
func (p *producer) saturate() {
	if p.dHead == p.dTail {
		if p.duration > 0 && time.Since(p.began) >= p.duration {
			p.leave()
			return
		}
		n := p.limit()
		if n == 0 {
			return
		}
		got := p.k.fill.Consume(p.addrs[:n])
		if got == 0 {
			p.st.fillEmptyWaits.Add(1)
			return
		}
		p.dHead, p.dTail = 0, p.write(p.addrs[:got])
		p.offered += uint64(p.dTail)
	}
	got := p.k.rx.Produce(p.descs[p.dHead:p.dTail])
	if got == 0 {
		p.st.rxFullWaits.Add(1)
		return
	}
	p.dHead += got
	p.st.sent.Add(uint64(got))
	p.st.posted.Add(uint64(got))
	p.interrupt()
}

// limit returns how many frames Count still allows in this pass, at most
// a batch, and ends the run when Count is reached.
func (p *producer) limit() int {
	n := uint64(p.batch)
	if p.count > 0 {
		if p.offered >= p.count {
			p.leave()
			return 0
		}
		n = min(n, p.count-p.offered)
	}
	return int(n)
}

// paced runs one pass at Rate: it offers the frames whose time has come,
// at most a batch. A frame that finds no fill buffer, or no rx slot once
// written, is dropped and counted as AF_XDP counts it; its sequence number
// is spent, so the receiver sees the gap. It returns how long the thread
// may sleep before the next frame is due, or 0 to go on at once.
func (p *producer) paced() time.Duration {
	n := p.limit()
	if n == 0 {
		return 0
	}
	el := time.Since(p.began)
	if p.duration > 0 && el >= p.duration {
		p.leave()
		return 0
	}
	want := uint64(p.rate * el.Seconds())
	if want <= p.offered {
		// Sleep when the next frame is far off; spin for a near one,
		// as hardware would not be late.
		next := time.Duration(float64(p.offered+1) / p.rate * float64(time.Second))
		if w := next - el; w >= 200*time.Microsecond {
			return w - 50*time.Microsecond
		}
		return 0
	}
	n = int(min(uint64(n), want-p.offered))
	// Buffers: those left from the last pass first.
	if p.nAddrs < n {
		p.nAddrs += p.k.fill.Consume(p.addrs[p.nAddrs:n])
	}
	m := min(n, p.nAddrs)
	v := p.write(p.addrs[:m])
	got := p.k.rx.Produce(p.descs[:v])
	// Keep the buffers not used: those beyond m, and those of the
	// frames the rx ring had no room for.
	rest := copy(p.addrs, p.addrs[m:p.nAddrs])
	for _, d := range p.descs[got:v] {
		p.addrs[rest] = d.Addr & p.frameMask
		rest++
	}
	p.nAddrs = rest
	p.skip(uint64(n - m))
	p.offered += uint64(n)
	p.st.sent.Add(uint64(n))
	if got > 0 {
		p.st.posted.Add(uint64(got))
		p.interrupt()
	}
	if full := v - got; full > 0 {
		p.st.rxRingFull.Add(uint64(full))
	}
	if empty := n - m; empty > 0 {
		p.st.fillEmpty.Add(uint64(empty))
	}
	return 0
}

// write writes the template with the next sequence numbers into the
// frames at addrs and their descriptors into descs[0:], and returns how
// many it wrote. An address outside the area (a buggy fill ring entry) is
// counted and skipped, as the kernel skips an invalid fill entry.
func (p *producer) write(addrs []uint64) int {
	v := 0
	mem, tmpl := p.mem, p.tmpl
	for _, a := range addrs {
		a &= p.frameMask
		if a >= uint64(len(mem)) {
			p.st.fillInvalid.Add(1)
			continue
		}
		d := a + p.off
		f := mem[d : d+uint64(len(tmpl))]
		copy(f, tmpl)
		if p.seqOff >= 0 {
			binary.BigEndian.PutUint64(f[p.seqOff:], p.seq)
		}
		if p.flows > 1 {
			binary.BigEndian.PutUint16(f[portOff:], p.basePort+uint16(p.flow))
			if p.flow++; p.flow == p.flows {
				p.flow = 0
			}
		}
		p.seq++
		p.descs[v] = rxring.Desc{Addr: d, Len: uint32(len(tmpl))}
		v++
	}
	return v
}

// skip spends n sequence numbers on frames that were dropped.
func (p *producer) skip(n uint64) {
	p.seq += n
	if p.flows > 1 {
		p.flow = (p.flow + n%p.flows) % p.flows
	}
}

// interrupt wakes a poller sleeping in Wait, once per arming.
func (p *producer) interrupt() {
	if p.armed.Load() && p.armed.CompareAndSwap(true, false) {
		p.st.interrupts.Add(1)
		select {
		case p.q.intr <- struct{}{}:
		default:
		}
	}
}

// reapTx takes transmitted frames off the tx ring (the wire is a sink)
// and completes them.
func (p *producer) reapTx() {
	if p.nComp > 0 {
		k := p.k.comp.Produce(p.compAddrs[:p.nComp])
		p.nComp = copy(p.compAddrs, p.compAddrs[k:p.nComp])
		if p.nComp > 0 {
			return
		}
	}
	n := p.k.tx.Consume(p.txDescs)
	if n == 0 {
		return
	}
	var bytes uint64
	for i, d := range p.txDescs[:n] {
		p.compAddrs[i] = d.Addr
		bytes += uint64(d.Len)
	}
	k := p.k.comp.Produce(p.compAddrs[:n])
	p.nComp = copy(p.compAddrs, p.compAddrs[k:n])
	p.st.txFrames.Add(uint64(n))
	p.st.txBytes.Add(bytes)
}

// ProducerStats are one queue's NIC-side counters.
type ProducerStats struct {
	Queue int `json:"queue"`
	// Sent is the frames the wire offered: posted, or dropped at Rate.
	Sent   uint64 `json:"sent"`
	Posted uint64 `json:"posted"` // rx descriptors posted
	// Drops at Rate, as AF_XDP counts them (also in the queue's
	// KernelStats): no fill buffer, no rx slot.
	FillEmpty  uint64 `json:"fill_empty"`
	RxRingFull uint64 `json:"rx_ring_full"`
	// FillInvalid counts fill ring entries outside the UMEM, skipped.
	FillInvalid uint64 `json:"fill_invalid"`
	// Passes in which the saturating NIC waited for the poller: it found
	// the fill ring empty or the rx ring full. Near zero against
	// Posted/Batch means the NIC, not the poller, set the rate.
	FillEmptyWaits uint64 `json:"fill_empty_waits"`
	RxFullWaits    uint64 `json:"rx_full_waits"`
	// Interrupts counts wakeups of a poller asleep in Wait.
	Interrupts uint64 `json:"interrupts"`
	// TxFrames and TxBytes are what the NIC took off the tx ring.
	TxFrames uint64 `json:"tx_frames"`
	TxBytes  uint64 `json:"tx_bytes"`
	// Thread is the producer's OS thread id (0 off Linux).
	Thread int `json:"thread"`
}

func (p *producer) stats() ProducerStats {
	return ProducerStats{
		Queue:          p.q.id,
		Sent:           p.st.sent.Load(),
		Posted:         p.st.posted.Load(),
		FillEmpty:      p.st.fillEmpty.Load(),
		RxRingFull:     p.st.rxRingFull.Load(),
		FillInvalid:    p.st.fillInvalid.Load(),
		FillEmptyWaits: p.st.fillEmptyWaits.Load(),
		RxFullWaits:    p.st.rxFullWaits.Load(),
		Interrupts:     p.st.interrupts.Load(),
		TxFrames:       p.st.txFrames.Load(),
		TxBytes:        p.st.txBytes.Load(),
		Thread:         int(p.tid.Load()),
	}
}
