package udp_test

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/udp"
)

// BenchmarkReadBatchHandoff measures the socket queue between a producer
// playing the poller (batches of 64 datagrams through Stack.Deliver, then
// Stack.EndBatch, on a pinned thread) and a reader draining it with
// ReadBatch(64) on another pinned thread: on the same CPU, where every
// handoff is a context switch, and on two CPUs. One op is one datagram.
//
// The producer stops when the reader is more than a window of datagrams
// behind, and is woken when it has caught up, so the benchmark measures
// the handoff, not the drop path (drops are reported and should be 0).
// stream: the window is 32 batches, far below RcvBuf, so the producer
// rarely waits; the figure is the pipeline's throughput. pingpong: the
// window is one batch, so the reader has drained each batch before the
// next one comes, and every batch is a wakeup of the reader (unless its
// spin covers the producer's own wakeup) and one of the producer.
//
// Besides the time per datagram it reports the CPU time the two threads
// used per datagram (cpu-ns/op), which a busy machine inflates less than
// the wall time, and the reader's wakeups per batch.
func BenchmarkReadBatchHandoff(b *testing.B) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		b.Fatal(err)
	}
	var cpus []int
	for i := 0; i < len(set)*64 && len(cpus) < 2; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	for _, mode := range []struct {
		name   string
		window uint64
	}{{"stream", 32 * handoffBatch}, {"pingpong", 0}} {
		b.Run("same-cpu/"+mode.name, func(b *testing.B) { benchHandoff(b, cpus[0], cpus[0], mode.window) })
		b.Run("cross-cpu/"+mode.name, func(b *testing.B) {
			if len(cpus) < 2 {
				b.Skip("needs two CPUs")
			}
			benchHandoff(b, cpus[len(cpus)-1], cpus[0], mode.window)
		})
	}
}

const handoffBatch = 64

func benchHandoff(b *testing.B, producerCPU, readerCPU int, window uint64) {
	const batch = handoffBatch
	s, _ := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}})
	u := udp.New(ipv4.New(s, ipv4.Options{}), udp.Options{})
	c, _ := u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000), udp.SocketOptions{})
	t := &testing.T{}
	var frames [batch][]byte
	for i := range frames {
		frames[i] = udpFrame(t, uint16(1000+i), 9000, make([]byte, 18))
		frames[i][40], frames[i][41] = 0, 0 // no checksum: the payload carries a sequence number
	}
	total := uint64((b.N + batch - 1) / batch * batch)

	msgs := make([]udp.Message, batch)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	var cpuNs atomic.Int64
	var read atomic.Uint64
	var producerWaiting atomic.Bool
	credit := make(chan struct{}, 1)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // the producer, a poller's stand-in
		defer wg.Done()
		if _, err := affinity.PinThread(producerCPU, 0); err != nil {
			errs <- err
			return
		}
		<-start
		defer addThreadCPU(&cpuNs)()
		p := new(stack.Packet)
		var seq uint32
		for sent := uint64(0); sent < total; sent += batch {
			for sent-read.Load() > window {
				producerWaiting.Store(true)
				if sent-read.Load() > window {
					<-credit
				}
				producerWaiting.Store(false)
			}
			for i := range frames {
				binary.BigEndian.PutUint32(frames[i][42:], seq)
				seq++
				*p = stack.Packet{Frame: frames[i]}
				s.Deliver(p)
			}
			s.EndBatch(0)
		}
	}()
	go func() { // the application's reader
		defer wg.Done()
		if _, err := affinity.PinThread(readerCPU, 0); err != nil {
			errs <- err
			return
		}
		<-start
		defer addThreadCPU(&cpuNs)()
		var got uint64
		for got < total {
			n, err := c.ReadBatch(msgs)
			if err != nil {
				errs <- err
				return
			}
			got += uint64(n)
			read.Store(got)
			if producerWaiting.Load() {
				select {
				case credit <- struct{}{}:
				default:
				}
			}
		}
	}()
	// One batch first, so that the socket's queue exists and the stack
	// knows queue 0 ends its batches.
	warm := new(stack.Packet)
	for i := range frames {
		*warm = stack.Packet{Frame: frames[i]}
		s.Deliver(warm)
	}
	s.EndBatch(0)
	if n, err := c.ReadBatch(msgs); n != batch || err != nil {
		b.Fatalf("warm-up read %d, %v", n, err)
	}
	w0 := c.Stats().Wakeups
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	st := c.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "drops/op")
	b.ReportMetric(float64(cpuNs.Load())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(st.Wakeups-w0)/float64(total/batch), "wakeups/batch")
	c.Close()
}

// addThreadCPU reads the calling thread's CPU time and returns a function
// that adds what it used since to total.
func addThreadCPU(total *atomic.Int64) func() {
	cpu := func() int64 {
		var ru unix.Rusage
		unix.Getrusage(unix.RUSAGE_THREAD, &ru)
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	t0 := cpu()
	return func() { total.Add(cpu() - t0) }
}
