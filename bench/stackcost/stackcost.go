package stackcost

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/driver/replay"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
	"github.com/rxpath/rxpath/poller"
)

// The addresses of the frame set.
var (
	SrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	DstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	Src    = netip.MustParseAddrPort("10.99.0.1:9000")
	Dst    = netip.MustParseAddrPort("10.99.0.2:9000")
	Prefix = netip.MustParsePrefix("10.99.0.2/24")
)

// FrameSet returns n UDP frames of frameLen bytes from Src to Dst, as the
// generator builds them: sequence numbers 0 to n-1 in the payload, source
// ports spread over flows, UDP checksum zero.
func FrameSet(n, frameLen, flows int) ([]replay.Packet, error) {
	o := traffic.Options{SrcMAC: SrcMAC, DstMAC: DstMAC, Src: Src, Dst: Dst, FrameLen: frameLen, Flows: flows}
	tmpl, err := traffic.Frame(o)
	if err != nil {
		return nil, err
	}
	t0 := time.Unix(0, 0)
	pkts := make([]replay.Packet, n)
	for i := range pkts {
		f := append([]byte(nil), tmpl...)
		traffic.Stamp(f, o, uint64(i))
		pkts[i] = replay.Packet{Data: f, Time: t0.Add(time.Duration(i) * time.Microsecond)}
	}
	return pkts, nil
}

// Sink is a stack under test with one bound UDP socket.
type Sink interface {
	// Handler is given to the poller.
	Handler() poller.Handler
	// Drain reads every queued datagram and returns how many it read.
	Drain() int
	// Close releases the stack.
	Close() error
}

// Options configures Measure.
type Options struct {
	// Packets is how many packets one repetition replays.
	Packets uint64
	// Reps is the number of measured repetitions (after one warm-up of
	// Packets/10).
	Reps int
	// CPU pins the measuring thread when Pin is set.
	Pin bool
	CPU int
	// Nice, if not zero, is the measuring thread's nice value (best
	// effort: an unprivileged process may not lower it).
	Nice int
}

// Measure replays frames into the sink newSink makes, Reps times, on one
// thread, and returns each repetition's time and allocations. Every
// replayed datagram must reach the application: a shortfall is an error.
func Measure(frames []replay.Packet, newSink func() (Sink, error), o Options) ([]report.CostRep, error) {
	if o.Packets == 0 || o.Reps <= 0 {
		return nil, errors.New("stack cost: need packets and reps")
	}
	type result struct {
		reps []report.CostRep
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// The thread is never unlocked: it ends with the goroutine, so a
		// pinned thread does not go back to the runtime's pool.
		runtime.LockOSThread()
		var r result
		defer func() { done <- r }()
		if o.Pin {
			if err := affinity.Pin(o.CPU); err != nil {
				r.err = err
				return
			}
		}
		if o.Nice != 0 {
			_ = setNice(o.Nice) // best effort
		}
		sink, err := newSink()
		if err != nil {
			r.err = err
			return
		}
		defer func() { r.err = errors.Join(r.err, sink.Close()) }()
		q := replay.New(frames, replay.Options{Repeat: -1})
		defer q.Close()
		p := poller.New(q, sink.Handler(), poller.Options{})
		if _, err := run(p, sink, max(o.Packets/10, 1)); err != nil {
			r.err = fmt.Errorf("warm-up: %w", err)
			return
		}
		for range o.Reps {
			c, err := run(p, sink, o.Packets)
			if err != nil {
				r.err = err
				return
			}
			r.reps = append(r.reps, c)
		}
	}()
	r := <-done
	return r.reps, r.err
}

// run replays n packets (rounded up to the poller's last round) and
// drains the socket after every round.
func run(p *poller.Poller, sink Sink, n uint64) (report.CostRep, error) {
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var c report.CostRep
	start := time.Now()
	cpu0, _ := sysstat.ProcessCPU()
	for c.Packets < n {
		k := p.Poll()
		if k == 0 {
			return c, errors.New("replay produced no frames")
		}
		c.Packets += uint64(k)
		c.Delivered += uint64(sink.Drain())
	}
	c.ElapsedNS = int64(time.Since(start))
	if cpu1, err := sysstat.ProcessCPU(); err == nil {
		c.CPUNS = int64(cpu1 - cpu0)
	}
	runtime.ReadMemStats(&ms1)
	c.Allocs = ms1.Mallocs - ms0.Mallocs
	c.Bytes = ms1.TotalAlloc - ms0.TotalAlloc
	if c.Delivered != c.Packets {
		return c, fmt.Errorf("%d packets replayed but %d datagrams read", c.Packets, c.Delivered)
	}
	return c, nil
}
