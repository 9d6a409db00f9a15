package scenario

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/procs"
	"github.com/rxpath/rxpath/internal/sys/xdpsock"
	"github.com/rxpath/rxpath/rxring"
)

// xsk-minimal's shape: rxpath's default ring and frame sizes, so that the
// two differ only in what they do per frame.
const (
	xskFrameSize = 4096
	xskRingSize  = 2048 // fill and rx; also the frame count
	xskCompSize  = 64   // the kernel wants a completion ring; nothing uses it
	xskBatch     = 64   // descriptors per peek, the poller's default Weight
	// xskIdlePublish: the loop publishes its idle-pass count every so
	// many empty passes (and after every batch), not on each.
	xskIdlePublish = 1024
)

// xskMinimal is the smallest correct AF_XDP receiver, the floor of the
// ×xsk column. Per queue: one AF_XDP socket with a UMEM of its own (2048
// frames of 4096 bytes, every one of them posted to the fill ring), fill
// and rx rings of 2048 (package rxring), and one thread pinned to the
// receiver CPU that spins: peek up to 64 rx descriptors, read each
// frame's UDP destination port (counting the datagrams to the run's
// port), put the frame straight back on the fill ring, release the rx
// slots, kick the kernel if the fill ring asks for it. An XDP program
// redirects each frame to its queue's socket through an XSKMAP, as
// rxpath's does. No stack, no ledger, no clock read, no sleep: whatever
// an AF_XDP receiver adds on top of this is its own cost.
//
// Frames never leave the fill ring → kernel → rx ring → fill ring loop,
// and there are exactly as many as the fill ring has slots. Still, the
// kernel may publish an rx descriptor before it publishes that it took
// the frame off the fill ring (xsk_flush submits rx first), so a
// reservation on the fill ring can come up short for a moment: those
// frames wait in a small backlog and go back on the next pass.
type xskMinimal struct {
	ns, ifname string
	port       uint16
	xsks       *ebpf.Map
	prog       *ebpf.Program
	lnk        link.Link
	attach     string // "native" or "generic"
	socks      []*xskSock
	stop       atomic.Bool
	wg         sync.WaitGroup
	mu         sync.Mutex
	tids       []int
}

// xskSock is one queue's socket, its memory and rings, and the counters
// its thread publishes.
type xskSock struct {
	fd                int
	queue             int
	copyMode          bool
	mem, fMem, rxMem  []byte
	fill              *rxring.FillRing
	rx                *rxring.RxRing
	count, idle, kick atomic.Uint64
}

func newXSKMinimal(h *liveLab) (_ receiver, err error) {
	x := &xskMinimal{ns: h.l.DUTNS, ifname: h.l.DUTIf, port: h.cfg.Port}
	defer func() {
		if err != nil {
			x.Close()
		}
	}()
	x.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Name: "rxb_xsk_min", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(h.cfg.Queues)})
	if err != nil {
		return nil, fmt.Errorf("xsk-minimal: XSKMAP: %w", err)
	}
	x.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "rxb_xsk_min", Type: ebpf.XDP, License: "Dual BSD/GPL",
		// return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // offsetof(struct xdp_md, rx_queue_index)
			asm.LoadMapPtr(asm.R1, x.xsks.FD()),
			asm.Mov.Imm(asm.R3, 2), // XDP_PASS when the queue has no socket
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("xsk-minimal: load XDP program: %w", err)
	}
	err = lab.InNS(h.l.DUTNS, func() error {
		ifi, err := net.InterfaceByName(h.l.DUTIf)
		if err != nil {
			return err
		}
		for q := range h.cfg.Queues {
			s, err := openXSKSock(ifi.Index, q)
			if s != nil {
				x.socks = append(x.socks, s)
			}
			if err != nil {
				return fmt.Errorf("xsk-minimal: queue %d: %w", q, err)
			}
			if err := x.xsks.Put(uint32(q), uint32(s.fd)); err != nil {
				return fmt.Errorf("xsk-minimal: XSKMAP entry for queue %d: %w", q, err)
			}
		}
		x.attach = "native"
		x.lnk, err = link.AttachXDP(link.XDPOptions{Program: x.prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
		if err != nil {
			x.attach = "generic"
			x.lnk, err = link.AttachXDP(link.XDPOptions{Program: x.prog, Interface: ifi.Index, Flags: link.XDPGenericMode})
		}
		if err != nil {
			return fmt.Errorf("xsk-minimal: attach XDP: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ready := make(chan error, len(x.socks))
	for _, s := range x.socks {
		x.wg.Add(1)
		go x.spin(s, RxCPU(s.queue, h.ncpu), h.cfg.Nice, ready)
	}
	for range x.socks {
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	return x, nil
}

// openXSKSock builds queue q's socket: UMEM, rings, every frame on the
// fill ring, bind (zero-copy if the driver has it, else copy; with
// need-wakeup, as rxpath binds). On error it returns what it built, for
// Close.
func openXSKSock(ifindex, q int) (*xskSock, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket AF_XDP", err)
	}
	s := &xskSock{fd: fd, queue: q}
	if s.mem, err = unix.Mmap(-1, 0, xskRingSize*xskFrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE); err != nil {
		return s, os.NewSyscallError("mmap umem", err)
	}
	if err := xskRegisterUMEM(fd, s.mem, xskFrameSize); err != nil {
		return s, err
	}
	for _, o := range []struct {
		opt  int
		name string
		size int
	}{{unix.XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING", xskRingSize}, {unix.XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING", xskCompSize},
		{unix.XDP_RX_RING, "XDP_RX_RING", xskRingSize}} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.size); err != nil {
			return s, os.NewSyscallError("setsockopt "+o.name, err)
		}
	}
	fOff, rxOff, err := xskRingOffsets(fd)
	if err != nil {
		return s, err
	}
	const rw, shared = unix.PROT_READ | unix.PROT_WRITE, unix.MAP_SHARED | unix.MAP_POPULATE
	if s.fMem, err = unix.Mmap(fd, unix.XDP_UMEM_PGOFF_FILL_RING, int(fOff.Desc)+xskRingSize*rxring.AddrSize, rw, shared); err != nil {
		return s, os.NewSyscallError("mmap fill ring", err)
	}
	if s.rxMem, err = unix.Mmap(fd, unix.XDP_PGOFF_RX_RING, int(rxOff.Desc)+xskRingSize*rxring.DescSize, rw, shared); err != nil {
		return s, os.NewSyscallError("mmap rx ring", err)
	}
	if s.fill, err = rxring.NewFillRing(s.fMem, fOff, xskRingSize); err != nil {
		return s, err
	}
	if s.rx, err = rxring.NewRxRing(s.rxMem, rxOff, xskRingSize); err != nil {
		return s, err
	}
	idx, got := s.fill.Reserve(xskRingSize)
	for i := range got {
		s.fill.Set(idx+i, uint64(i)*xskFrameSize)
	}
	s.fill.Submit(got)
	for _, mode := range []uint16{unix.XDP_ZEROCOPY, unix.XDP_COPY} {
		err = bindRetry(fd, &unix.SockaddrXDP{Flags: unix.XDP_USE_NEED_WAKEUP | mode, Ifindex: uint32(ifindex), QueueID: uint32(q)})
		if err == nil {
			s.copyMode = mode == unix.XDP_COPY
			return s, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) {
			break
		}
	}
	return s, fmt.Errorf("bind: %w", err)
}

// bindRetry retries EBUSY for a while: the previous row's socket on the
// same queue is released by deferred kernel work.
func bindRetry(fd int, sa *unix.SockaddrXDP) error {
	deadline := time.Now().Add(5 * time.Second)
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		err := unix.Bind(fd, sa)
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return os.NewSyscallError("bind", err)
		}
		time.Sleep(backoff)
	}
}

// spin is one queue's receive loop, on a thread of its own pinned to cpu.
func (x *xskMinimal) spin(s *xskSock, cpu, nice int, ready chan<- error) {
	defer x.wg.Done()
	tid, err := affinity.PinThread(cpu, nice)
	if err != nil {
		ready <- err
		return
	}
	defer procs.Reserve()() // it spins, as rxpath's pollers do
	x.mu.Lock()
	x.tids = append(x.tids, tid)
	x.mu.Unlock()
	ready <- nil
	var n, idle, kick uint64
	// back holds frames the fill ring had no published room for yet.
	back := make([]uint64, 0, xskRingSize)
	for !x.stop.Load() {
		if len(back) > 0 {
			k := s.fill.Produce(back)
			back = back[:copy(back, back[k:])]
		}
		idx, got := s.rx.Peek(xskBatch)
		if got == 0 {
			if idle++; idle%xskIdlePublish == 0 {
				s.idle.Store(idle)
			}
			continue
		}
		fidx, fgot := s.fill.Reserve(got)
		for i := range got {
			d := s.rx.Desc(idx + i)
			if udpDstPort(s.mem, d) == x.port {
				n++
			}
			if addr := d.Addr &^ (xskFrameSize - 1); i < fgot {
				s.fill.Set(fidx+i, addr)
			} else {
				back = append(back, addr)
			}
		}
		s.fill.Submit(fgot)
		s.rx.Release(got)
		if s.fill.NeedWakeup() {
			kick++
			unix.Recvfrom(s.fd, nil, unix.MSG_DONTWAIT)
		}
		s.count.Store(n)
		s.idle.Store(idle)
		s.kick.Store(kick)
	}
	s.idle.Store(idle)
}

// udpDstPort is the UDP destination port of the IPv4 frame d points to in
// mem, or 0 for anything else.
func udpDstPort(mem []byte, d rxring.Desc) uint16 {
	if d.Len < 42 || d.Addr+uint64(d.Len) > uint64(len(mem)) {
		return 0
	}
	f := mem[d.Addr : d.Addr+uint64(d.Len)]
	ihl := int(f[14]&0x0f) * 4
	if f[12] != 0x08 || f[13] != 0x00 || f[23] != unix.IPPROTO_UDP || 14+ihl+4 > len(f) {
		return 0
	}
	return binary.BigEndian.Uint16(f[14+ihl+2:])
}

func (x *xskMinimal) Describe() string {
	mode := "zero-copy"
	for _, s := range x.socks {
		if s.copyMode {
			mode = "copy"
		}
	}
	return fmt.Sprintf("XDP, %s, %s; minimal AF_XDP receiver: fill and rx rings of %d, %d-byte frames, peek %d, read the UDP port, "+
		"refill, release; one spinning thread per queue, no stack", x.attach, mode, xskRingSize, xskFrameSize, xskBatch)
}

func (x *xskMinimal) Delivered() uint64 {
	var n uint64
	for _, s := range x.socks {
		n += s.count.Load()
	}
	return n
}

// IdlePasses counts the empty peeks, published every xskIdlePublish.
func (x *xskMinimal) IdlePasses() uint64 {
	var n uint64
	for _, s := range x.socks {
		n += s.idle.Load()
	}
	return n
}

func (x *xskMinimal) IdleThreads() []int { return x.Threads() }

func (x *xskMinimal) SleepsWhenIdle() bool { return false }

func (x *xskMinimal) Threads() []int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]int(nil), x.tids...)
}

func (x *xskMinimal) Counters() map[string]uint64 {
	c := map[string]uint64{}
	for _, s := range x.socks {
		st, err := xdpsock.Statistics(s.fd)
		if err != nil {
			continue
		}
		c["xsk.rx_dropped"] += st.Rx_dropped
		c["xsk.rx_ring_full"] += st.Rx_ring_full
		c["xsk.rx_fill_ring_empty"] += st.Rx_fill_ring_empty_descs
		c["xsk.rx_invalid_descs"] += st.Rx_invalid_descs
		c["xsk.fill_kicks"] += s.kick.Load()
	}
	return c
}

func (x *xskMinimal) Loss(d map[string]int64) report.Loss {
	redirected := pos(d["xsk.rx_ring_full"]) + pos(d["xsk.rx_dropped"])
	return report.Loss{Veth: vethLoss(d, true, redirected), RingFull: pos(d["xsk.rx_ring_full"]), FillEmpty: pos(d["xsk.rx_fill_ring_empty"])}
}

// Finish notes when the spinning threads did not have their CPUs to
// themselves: a spinner gives way to other runnable threads, so the
// floor of ×xsk is low in such a run.
func (x *xskMinimal) Finish(row *report.Scenario) {
	if sh := report.SpinShare(row, len(x.socks)); sh < 0.9 {
		row.Notes = append(row.Notes, fmt.Sprintf("its spinning threads ran only %.0f%% of the send time: other work on the machine "+
			"took their CPU, so ×xsk (rx rate over this row's) reads high in this run; rxbench --isolate avoids that", 100*sh))
	}
}

// Close stops the threads, detaches the program and releases the
// sockets: rings unmapped before the socket is closed (a mapped ring
// keeps the socket, and its queue binding, alive), the UMEM after.
func (x *xskMinimal) Close() error {
	x.stop.Store(true)
	x.wg.Wait()
	var errs []error
	if x.lnk != nil {
		errs = append(errs, x.lnk.Close())
	}
	if x.prog != nil {
		errs = append(errs, x.prog.Close())
	}
	if x.xsks != nil {
		errs = append(errs, x.xsks.Close())
	}
	for _, s := range x.socks {
		for _, m := range [][]byte{s.rxMem, s.fMem} {
			if m != nil {
				errs = append(errs, os.NewSyscallError("munmap ring", unix.Munmap(m)))
			}
		}
		errs = append(errs, os.NewSyscallError("close", unix.Close(s.fd)))
		if s.mem != nil {
			errs = append(errs, os.NewSyscallError("munmap umem", unix.Munmap(s.mem)))
		}
	}
	x.socks, x.lnk, x.prog, x.xsks = nil, nil, nil, nil
	return errors.Join(errs...)
}
