package traffic

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/sys/affinity"
)

// ForceRcvBuf sets c's receive buffer to n bytes, past net.core.rmem_max
// (SO_RCVBUFFORCE, needs CAP_NET_ADMIN).
func ForceRcvBuf(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt SO_RCVBUFFORCE", serr)
}

// KernelReceiver is the kernel's side of a comparison with rxpath: a kernel
// UDP socket read with recvmmsg (x/net ipv4.PacketConn.ReadBatch, batches
// of KernelBatch) by one reader thread per CPU in KernelOptions.CPUs, each
// pinned with affinity.PinThread, counting the datagrams. Its methods are
// safe for concurrent use.
type KernelReceiver struct {
	conn  *net.UDPConn
	pc    *ipv4.PacketConn
	spin  bool
	tids  []int // set before NewKernelReceiver returns
	count atomic.Uint64
	idle  atomic.Uint64 // spinning reads that found nothing (EAGAIN)
	stop  atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error // the first read error that is not Close's; guarded by mu
}

// pinned is what a reader reports once its thread is pinned, or not.
type pinned struct {
	tid int
	err error
}

// NewKernelReceiver starts the readers of c and returns once each is
// pinned. The receiver owns c from then on: Close closes it, and so does
// a failed NewKernelReceiver.
func NewKernelReceiver(c *net.UDPConn, o KernelOptions) (*KernelReceiver, error) {
	if len(o.CPUs) == 0 {
		c.Close()
		return nil, errors.New("kernel receiver: no CPU to read on")
	}
	r := &KernelReceiver{conn: c, pc: ipv4.NewPacketConn(c), spin: o.Spin}
	ready := make(chan pinned, len(o.CPUs))
	for _, cpu := range o.CPUs {
		r.wg.Add(1)
		go r.read(cpu, o.Nice, ready)
	}
	var errs []error
	for range o.CPUs {
		p := <-ready
		if p.err != nil {
			errs = append(errs, p.err)
			continue
		}
		r.tids = append(r.tids, p.tid)
	}
	if err := errors.Join(errs...); err != nil {
		r.Close()
		return nil, fmt.Errorf("kernel receiver: %w", err)
	}
	return r, nil
}

// read is one reader thread. It pins itself, reports on ready, and reads
// until Close.
func (r *KernelReceiver) read(cpu, nice int, ready chan<- pinned) {
	defer r.wg.Done()
	tid, err := affinity.PinThread(cpu, nice)
	ready <- pinned{tid, err}
	if err != nil {
		return
	}
	msgs := make([]ipv4.Message, KernelBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	flags := 0
	if r.spin {
		flags = unix.MSG_DONTWAIT
	}
	for !r.stop.Load() {
		n, err := r.pc.ReadBatch(msgs, flags)
		if n > 0 {
			r.count.Add(uint64(n))
		}
		if err != nil {
			if r.spin && errors.Is(err, unix.EAGAIN) {
				r.idle.Add(1)
				continue
			}
			if !r.stop.Load() && !errors.Is(err, net.ErrClosed) {
				r.mu.Lock()
				if r.err == nil {
					r.err = err
				}
				r.mu.Unlock()
			}
			return
		}
	}
}

// Received is the number of datagrams read so far.
func (r *KernelReceiver) Received() uint64 { return r.count.Load() }

// IdlePasses is the number of spinning reads (KernelOptions.Spin) that
// found no datagram; always 0 for blocking readers.
func (r *KernelReceiver) IdlePasses() uint64 { return r.idle.Load() }

// Threads are the reader threads' ids.
func (r *KernelReceiver) Threads() []int { return slices.Clone(r.tids) }

// Close closes the socket, waits for the readers and returns the first
// error a reader met, if any. Received stays valid after Close.
func (r *KernelReceiver) Close() error {
	r.stop.Store(true)
	err := r.conn.Close()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(err, r.err)
}
