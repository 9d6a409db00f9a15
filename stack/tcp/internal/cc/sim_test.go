package cc

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The simulation drives NewReno and RTO with a simple sender over a
// simulated path, in virtual time: a bottleneck link with a drop-tail queue,
// random loss and reordering of data segments, random loss of ACKs, and a
// receiver that ACKs every segment cumulatively. Segments are MSS-aligned
// (retransmissions too), so the receiver keys held segments by offset. The sender is the one the
// package comment describes: fast retransmit and NewReno recovery, an RTO
// restarted on every ACK of new data, go-back-N after a timeout, RTT
// sampling by Karn's rule. Sequence numbers start just below 2^32 so the
// transfer wraps.

type simPath struct {
	rate       int           // bottleneck, bytes per second
	queue      int           // drop-tail queue, in segments
	delay      time.Duration // one-way propagation
	loss       float64       // data segments dropped after the queue
	ackLoss    float64       // ACKs dropped
	reorder    float64       // data segments delayed by reorderBy
	reorderBy  time.Duration //
	total      int           // bytes to transfer
	mss        int
	seed       uint64
	maxSimTime time.Duration // the transfer must finish within
}

type simStats struct {
	Elapsed         time.Duration
	Segments        int // data segments sent, retransmissions included
	Retransmits     int
	FastRetransmits int
	PartialAcks     int
	Timeouts        int
	Dropped         int // by the queue or the loss model
	Reordered       int
	Delivered       int // bytes delivered in order
	MinCwnd         int
	FinalSRTT       time.Duration
}

type simEventKind int

const (
	evData simEventKind = iota // a data segment reaches the receiver
	evAck                      // an ACK reaches the sender
	evRTO                      // the retransmission timer expires
)

type simEvent struct {
	at   time.Duration
	seq  uint64 // tie-break: FIFO among equal times
	kind simEventKind
	off  int // evData: segment offset; evAck: cumulative ACK offset; evRTO: timer generation
	n    int // evData: segment length
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type sim struct {
	t    *testing.T
	p    simPath
	rng  *rand.Rand
	now  time.Duration
	evs  simQueue
	nseq uint64

	iss      uint32
	una, nxt int // offsets from iss
	max      int // highest offset sent
	cc       NewReno
	rto      RTO
	rtoGen   int // generation of the armed RTO event; stale ones are ignored
	rtoArmed bool
	timing   bool // Karn: a segment is being timed
	timedOff int
	timedAt  time.Duration

	linkFree time.Duration // when the bottleneck finishes its queue
	rcvNxt   int
	ooo      map[int]int // offset -> length held out of order

	st simStats
}

func (s *sim) push(e simEvent) {
	s.nseq++
	e.seq = s.nseq
	heap.Push(&s.evs, e)
}

func (s *sim) flight() int { return s.nxt - s.una }

// transmit puts the segment at off on the path.
func (s *sim) transmit(off int) {
	n := min(s.p.mss, s.p.total-off)
	s.st.Segments++
	if off < s.max {
		s.st.Retransmits++
		s.timing = false // Karn's rule
	} else if !s.timing {
		s.timing, s.timedOff, s.timedAt = true, off, s.now
	}
	s.max = max(s.max, off+n)
	if !s.rtoArmed {
		s.armRTO()
	}
	ser := time.Duration(n) * time.Second / time.Duration(s.p.rate)
	start := max(s.now, s.linkFree)
	if start-s.now > time.Duration(s.p.queue)*ser {
		s.st.Dropped++ // drop-tail
		return
	}
	s.linkFree = start + ser
	if s.rng.Float64() < s.p.loss {
		s.st.Dropped++
		return
	}
	at := s.linkFree + s.p.delay
	if s.rng.Float64() < s.p.reorder {
		s.st.Reordered++
		at += s.p.reorderBy
	}
	s.push(simEvent{at: at, kind: evData, off: off, n: n})
}

func (s *sim) armRTO() {
	s.rtoGen++
	s.rtoArmed = true
	s.push(simEvent{at: s.now + s.rto.Timeout(), kind: evRTO, off: s.rtoGen})
}

// send sends new data while the window allows.
func (s *sim) send() {
	for s.nxt < s.p.total && s.flight()+min(s.p.mss, s.p.total-s.nxt) <= s.cc.Cwnd() {
		s.transmit(s.nxt)
		s.nxt = min(s.nxt+s.p.mss, s.p.total)
	}
}

func (s *sim) receive(off, n int) {
	if off > s.rcvNxt {
		s.ooo[off] = n
	} else if off+n > s.rcvNxt {
		s.rcvNxt = off + n
	}
	for {
		n, ok := s.ooo[s.rcvNxt]
		if !ok {
			break
		}
		delete(s.ooo, s.rcvNxt)
		s.rcvNxt += n
	}
	s.st.Delivered = s.rcvNxt
	if s.rng.Float64() < s.p.ackLoss {
		return
	}
	s.push(simEvent{at: s.now + s.p.delay, kind: evAck, off: s.rcvNxt})
}

func (s *sim) ack(off int) {
	seq := s.iss + uint32(off)
	switch {
	case off > s.una:
		acked := off - s.una
		s.una = off
		s.nxt = max(s.nxt, s.una)
		if s.timing && off > s.timedOff {
			s.rto.Sample(s.now - s.timedAt)
			s.timing = false
		}
		wasRecovering := s.cc.InRecovery()
		if s.cc.OnAck(acked, s.flight(), seq) {
			s.st.PartialAcks++
			s.transmit(s.una)
		}
		if wasRecovering && !s.cc.InRecovery() && s.cc.Cwnd() > s.cc.Ssthresh() {
			s.t.Errorf("%v: full ACK left cwnd %d above ssthresh %d", s.now, s.cc.Cwnd(), s.cc.Ssthresh())
		}
		s.rtoArmed = false
		if s.una < s.max {
			s.armRTO()
		}
	case off == s.una && s.una < s.max:
		if s.cc.OnDupAck(s.flight(), seq, s.iss+uint32(s.max)) {
			s.st.FastRetransmits++
			s.transmit(s.una)
		}
	}
	s.send()
}

func (s *sim) timeout() {
	s.st.Timeouts++
	s.cc.OnTimeout(s.flight(), s.iss+uint32(s.max))
	s.rto.Backoff()
	s.nxt = s.una // go-back-N
	s.timing = false
	s.rtoArmed = false
	s.send()
	if !s.rtoArmed {
		s.armRTO()
	}
}

func runSim(t *testing.T, p simPath) simStats {
	s := &sim{
		t:   t,
		p:   p,
		rng: rand.New(rand.NewPCG(p.seed, 0x5eed)),
		iss: -uint32(p.total / 2),
		cc:  NewNewReno(p.mss),
		rto: NewRTO(0, 0, 0),
		ooo: make(map[int]int),
	}
	s.st.MinCwnd = s.cc.Cwnd()
	s.send()
	for steps := 0; s.una < p.total; steps++ {
		if len(s.evs) == 0 || steps > 50_000_000 {
			t.Fatalf("stalled at %v: una %d of %d, %d events, stats %+v", s.now, s.una, p.total, len(s.evs), s.st)
		}
		e := heap.Pop(&s.evs).(simEvent)
		s.now = e.at
		switch e.kind {
		case evData:
			s.receive(e.off, e.n)
		case evAck:
			s.ack(e.off)
		case evRTO:
			if s.rtoArmed && e.off == s.rtoGen {
				s.timeout()
			}
		}
		s.st.MinCwnd = min(s.st.MinCwnd, s.cc.Cwnd())
		if s.cc.Cwnd() < p.mss || s.cc.Ssthresh() < 2*p.mss {
			t.Fatalf("%v: cwnd %d ssthresh %d below their floors", s.now, s.cc.Cwnd(), s.cc.Ssthresh())
		}
	}
	s.st.Elapsed = s.now
	s.st.FinalSRTT = s.rto.SRTT()
	return s.st
}

func TestSimulatedTransfer(t *testing.T) {
	base := simPath{
		rate:       100e6 / 8, // 100 Mbit/s
		queue:      100,
		delay:      10 * time.Millisecond,
		total:      10 << 20,
		mss:        1460,
		seed:       1,
		maxSimTime: 30 * time.Second,
	}
	tests := []struct {
		name   string
		change func(*simPath)
		check  func(t *testing.T, st simStats)
	}{
		{
			name:   "drop-tail only",
			change: func(p *simPath) {},
			check: func(t *testing.T, st simStats) {
				if st.Timeouts > st.FastRetransmits {
					t.Errorf("queue overflow recovered mostly by timeout: %d timeouts, %d fast retransmits", st.Timeouts, st.FastRetransmits)
				}
			},
		},
		{
			name:   "1% loss",
			change: func(p *simPath) { p.loss = 0.01 },
			check: func(t *testing.T, st simStats) {
				if st.FastRetransmits == 0 || st.Timeouts > st.FastRetransmits/2 {
					t.Errorf("1%% loss: %d fast retransmits, %d timeouts; want mostly fast retransmits", st.FastRetransmits, st.Timeouts)
				}
			},
		},
		{
			name:   "1% loss with 1% ACK loss",
			change: func(p *simPath) { p.loss, p.ackLoss = 0.01, 0.01 },
		},
		{
			name:   "3% loss",
			change: func(p *simPath) { p.loss = 0.03; p.maxSimTime = 60 * time.Second },
		},
		{
			name: "1% loss with reordering",
			change: func(p *simPath) {
				p.loss, p.reorder, p.reorderBy = 0.01, 0.02, 2*time.Millisecond
			},
		},
		{
			name: "small queue, long path",
			change: func(p *simPath) {
				p.queue, p.delay, p.loss, p.maxSimTime = 8, 50*time.Millisecond, 0.005, 120*time.Second
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.change(&p)
			st := runSim(t, p)
			t.Logf("%+v", st)
			if st.Delivered != p.total {
				t.Errorf("delivered %d bytes, want %d", st.Delivered, p.total)
			}
			if st.Elapsed > p.maxSimTime {
				t.Errorf("transfer took %v of simulated time, want at most %v", st.Elapsed, p.maxSimTime)
			}
			if min := 2*p.delay + time.Duration(p.mss)*time.Second/time.Duration(p.rate); st.FinalSRTT < min {
				t.Errorf("final SRTT %v below the path's base RTT %v", st.FinalSRTT, min)
			}
			if tt.check != nil {
				tt.check(t, st)
			}
			// Deterministic: the same seed gives the same run.
			if diff := cmp.Diff(st, runSim(t, p)); diff != "" {
				t.Errorf("second run differs (-first +second):\n%s", diff)
			}
		})
	}
}
