package memnic_test

import (
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/memnic"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
)

// benchCPUs returns the producer's CPUs and the poller's CPU: the NIC on
// CPU 0 and the poller on CPU 1 when there are two, nothing pinned
// otherwise.
func benchCPUs() (nic []int, poll int, pin bool) {
	if runtime.NumCPU() < 2 || runtime.GOOS != "linux" {
		return nil, 0, false
	}
	return []int{0}, 1, true
}

// counter counts delivered frames on the poller goroutine and closes
// reached once target frames have arrived.
type counter struct {
	n       atomic.Uint64
	target  uint64
	reached chan struct{}
	once    sync.Once
}

func newCounter(target uint64) *counter {
	return &counter{target: target, reached: make(chan struct{})}
}

func (c *counter) add(k int) {
	if c.n.Add(uint64(k)) >= c.target {
		c.once.Do(func() { close(c.reached) })
	}
}

// cpuClock reads CPU time: the whole process's but the NIC's threads
// (every thread of the receive path counts: poller, reader, tap writer,
// GC) and the poller thread's alone. On a shared machine the wall clock
// also counts the time other processes took the poller's CPU; CPU time
// does not.
type cpuClock struct {
	nic    *memnic.NIC
	poller int
	ok     bool
	app    time.Duration
	poll   time.Duration
}

func startCPU(nic *memnic.NIC, poller int) *cpuClock {
	c := &cpuClock{nic: nic, poller: poller}
	c.app, c.poll, c.ok = c.read()
	return c
}

func (c *cpuClock) read() (app, poll time.Duration, ok bool) {
	app, err := sysstat.ProcessCPU()
	if err != nil || c.poller == 0 {
		return 0, 0, false
	}
	for _, tid := range c.nic.Threads() {
		t, err := sysstat.ThreadCPU(tid)
		if err != nil {
			return 0, 0, false
		}
		app -= t
	}
	if poll, err = sysstat.ThreadCPU(c.poller); err != nil {
		return 0, 0, false
	}
	return app, poll, true
}

// report adds the per-frame figures: b.N frames were offered, delivered
// reached the application in el, cpu measured from the start.
func report(b *testing.B, nic *memnic.NIC, delivered uint64, el time.Duration, cpu *cpuClock) {
	b.ReportMetric(float64(delivered)/el.Seconds()/1e6, "Mpps")
	b.ReportMetric(float64(el.Nanoseconds())/float64(delivered), "ns/frame")
	if app, poll, ok := cpu.read(); ok && cpu.ok {
		app, poll = app-cpu.app, poll-cpu.poll
		b.ReportMetric(float64(app.Nanoseconds())/float64(delivered), "cpu-ns/frame")
		b.ReportMetric(float64(poll.Nanoseconds())/float64(delivered), "poller-cpu-ns/frame")
		b.ReportMetric(float64(delivered)/app.Seconds()/1e6, "Mpps/cpu")
	}
	s := nic.Stats()[0]
	// The share of the NIC's passes that found the poller behind (no
	// fill buffer or no rx slot); near zero means the NIC set the rate.
	waits := s.FillEmptyWaits + s.RxFullWaits
	if posts := s.Posted / uint64(nic.Options().Batch); waits+posts > 0 {
		b.ReportMetric(100*float64(waits)/float64(waits+posts), "nic-wait%")
	}
	if lost := uint64(b.N) - delivered; lost > 0 {
		b.ReportMetric(100*float64(lost)/float64(b.N), "loss%")
	}
}

// BenchmarkPollerRaw is the poller alone on a saturating memnic: a raw
// handler that counts the frames, nothing else. Its Mpps is the capacity
// of one core (the poller's) for the driver, the ledger and the poll loop.
func BenchmarkPollerRaw(b *testing.B) {
	cpus, pcpu, pin := benchCPUs()
	nic, err := memnic.New(memnic.Options{Manual: true, Count: uint64(b.N), CPUs: cpus})
	if err != nil {
		b.Fatal(err)
	}
	defer nic.Close()
	c := newCounter(uint64(b.N))
	p := poller.New(nic.Queues()[0], func(bt *poller.Batch) { c.add(len(bt.Frames)) }, poller.Options{Pin: pin, CPU: pcpu})
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(nic, p.ThreadID())
	start := time.Now()
	if err := nic.Start(); err != nil {
		b.Fatal(err)
	}
	<-c.reached
	el := time.Since(start)
	b.StopTimer()
	report(b, nic, c.n.Load(), el, cpu)
	if err := p.Stop(); err != nil {
		b.Fatal(err)
	}
	if err := nic.Close(); err != nil {
		b.Fatal(err)
	}
	if err := nic.Queues()[0].Check(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRxpath runs the rxbench memnic rows as a user builds them:
// rxpath.Open on a saturating memnic, the poller pinned, the NIC on the
// other CPU.
//
//   - raw: Config.Handler counts the frames.
//   - udp-handler: the stack, a UDP socket in handler mode.
//   - udp-readbatch: the stack, a UDP socket read with ReadBatch(64) by a
//     thread pinned to the poller's CPU (as the veth rows pin it).
//   - tap-devnull: udp-handler with a pcap tap writing to /dev/null.
func BenchmarkRxpath(b *testing.B) {
	for _, row := range []string{"raw", "udp-handler", "udp-readbatch", "tap-devnull"} {
		b.Run(row, func(b *testing.B) { benchRxpath(b, row) })
	}
}

func benchRxpath(b *testing.B, row string) {
	cpus, pcpu, pin := benchCPUs()
	u := memnic.DefaultUDP()
	nic, err := memnic.New(memnic.Options{Manual: true, Count: uint64(b.N), CPUs: cpus})
	if err != nil {
		b.Fatal(err)
	}
	defer nic.Close()
	c := newCounter(uint64(b.N))
	var conn *udp.Conn
	cfg := rxpath.Config{Interface: "memnic0", OpenDevice: nic.OpenDevice}
	if pin {
		cfg.CPUs = []int{pcpu}
	}
	var tp *tap.Tap
	switch row {
	case "raw":
		cfg.Handler = func(bt *poller.Batch) { c.add(len(bt.Frames)) }
	case "tap-devnull":
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer devnull.Close()
		if tp, err = tap.New(devnull, tap.Options{}); err != nil {
			b.Fatal(err)
		}
		defer tp.Close()
		cfg.Tap = tp
	}
	if row != "raw" {
		cfg.Addr = netip.PrefixFrom(u.Dst.Addr(), 24)
		cfg.Setup = func(n *rxpath.Node) (err error) {
			if conn, err = n.ListenUDP(u.Dst); err != nil {
				return err
			}
			if row != "udp-readbatch" {
				conn.SetHandler(func(udp.Datagram) { c.add(1) })
			}
			return nil
		}
	}
	n, err := rxpath.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var reader sync.WaitGroup
	if row == "udp-readbatch" {
		reader.Add(1)
		go func() {
			defer reader.Done()
			if pin {
				if _, err := affinity.PinThread(pcpu, 0); err != nil {
					panic(err)
				}
			}
			msgs := make([]udp.Message, 64)
			for i := range msgs {
				msgs[i].Buf = make([]byte, 2048)
			}
			for {
				k, err := conn.ReadBatch(msgs)
				if err != nil {
					return
				}
				c.add(k)
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(nic, n.Pollers()[0].ThreadID())
	start := time.Now()
	if err := nic.Start(); err != nil {
		b.Fatal(err)
	}
	if row == "udp-readbatch" {
		// The socket may drop (its receive buffer is full): the run
		// ends when the NIC is done, the poller has taken every frame
		// and the reader has emptied the socket.
		<-nic.Done()
		p := n.Pollers()[0]
		for p.Stats().Processed < uint64(b.N) || conn.Stats().Queued > 0 {
			time.Sleep(time.Millisecond)
		}
	} else {
		<-c.reached
	}
	el := time.Since(start)
	b.StopTimer()
	delivered := c.n.Load()
	report(b, nic, delivered, el, cpu)
	if tp != nil {
		s := tp.Stats()
		if s.Seen > 0 {
			b.ReportMetric(100*float64(s.Written)/float64(s.Seen), "tap-written%")
		}
	}
	if conn != nil {
		conn.Close()
	}
	reader.Wait()
	if err := n.Close(); err != nil {
		b.Fatal(err)
	}
}
