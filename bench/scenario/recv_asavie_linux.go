package scenario

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/sys/affinity"
)

// asavieRx is github.com/asavie/xdp receiving and dropping, the way its
// examples do: fill the fill ring with free descriptors, Poll, Receive,
// count. One socket and one reader thread per queue, on the receiver
// CPUs. Its program is attached in native mode only (its Detach waits
// forever for a generic-mode program to go), and it is detached here with
// lab.DetachXDP (`ip link set dev X xdpdrv off`), not with its Detach.
type asavieRx struct {
	ns, ifname string
	prog       *xdp.Program
	socks      []*xdp.Socket
	attached   bool
	count      atomic.Uint64
	stop       atomic.Bool
	mu         sync.Mutex
	tids       []int
	wg         sync.WaitGroup
	err        error
}

// asavieOptions gives asavie the ring sizes rxpath uses (fill and rx
// 2048) and room in its UMEM for them.
var asavieOptions = xdp.SocketOptions{
	NumFrames:              4096,
	FrameSize:              2048,
	FillRingNumDescs:       2048,
	CompletionRingNumDescs: 64,
	RxRingNumDescs:         2048,
	TxRingNumDescs:         64,
}

func newAsavie(h *liveLab) (_ receiver, err error) {
	a := &asavieRx{ns: h.l.DUTNS, ifname: h.l.DUTIf}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	err = lab.InNS(h.l.DUTNS, func() error {
		ifi, err := net.InterfaceByName(h.l.DUTIf)
		if err != nil {
			return err
		}
		xdp.DefaultXdpFlags = unix.XDP_FLAGS_DRV_MODE
		if a.prog, err = xdp.NewProgram(h.cfg.Queues); err != nil {
			return fmt.Errorf("asavie: new program: %w", err)
		}
		if err := a.prog.Attach(ifi.Index); err != nil {
			return fmt.Errorf("asavie: attach native XDP: %w", err)
		}
		a.attached = true
		for q := range h.cfg.Queues {
			s, err := xdp.NewSocket(ifi.Index, q, &asavieOptions)
			if err != nil {
				return fmt.Errorf("asavie: socket for queue %d: %w", q, err)
			}
			a.socks = append(a.socks, s)
			if err := a.prog.Register(q, s.FD()); err != nil {
				return fmt.Errorf("asavie: register queue %d: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ready := make(chan error, len(a.socks))
	for q, s := range a.socks {
		a.wg.Add(1)
		go a.read(s, RxCPU(q, h.ncpu), h.cfg.Nice, ready)
	}
	for range a.socks {
		if err := <-ready; err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *asavieRx) read(s *xdp.Socket, cpu, nice int, ready chan<- error) {
	defer a.wg.Done()
	tid, err := affinity.PinThread(cpu, nice)
	if err != nil {
		ready <- err
		return
	}
	a.mu.Lock()
	a.tids = append(a.tids, tid)
	a.mu.Unlock()
	ready <- nil
	for !a.stop.Load() {
		if n := s.NumFreeFillSlots(); n > 0 {
			s.Fill(s.GetDescs(n, true))
		}
		numRx, _, err := s.Poll(100) // ms, so that stop is noticed
		if err != nil {
			a.mu.Lock()
			a.err = fmt.Errorf("asavie: poll: %w", err)
			a.mu.Unlock()
			return
		}
		if numRx > 0 {
			a.count.Add(uint64(len(s.Receive(numRx))))
		}
	}
}

func (a *asavieRx) Describe() string {
	return "asavie/xdp (pinned pseudo-version), native XDP, its own Poll loop, fill and rx rings of 2048"
}

func (a *asavieRx) Delivered() uint64 { return a.count.Load() }

func (a *asavieRx) Threads() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.tids...)
}

func (a *asavieRx) Counters() map[string]uint64 {
	c := map[string]uint64{}
	for _, s := range a.socks {
		st, err := s.Stats()
		if err != nil {
			continue
		}
		k := st.KernelStats
		c["xsk.rx_dropped"] += k.Rx_dropped
		c["xsk.rx_ring_full"] += k.Rx_ring_full
		c["xsk.rx_fill_ring_empty"] += k.Rx_fill_ring_empty_descs
		c["xsk.rx_invalid_descs"] += k.Rx_invalid_descs
	}
	return c
}

func (a *asavieRx) Loss(d map[string]int64) report.Loss {
	redirected := pos(d["xsk.rx_ring_full"]) + pos(d["xsk.rx_dropped"])
	return report.Loss{Veth: vethLoss(d, true, redirected), RingFull: pos(d["xsk.rx_ring_full"]), FillEmpty: pos(d["xsk.rx_fill_ring_empty"])}
}

func (a *asavieRx) Finish(*report.Scenario) {}

// unmapSocket unmaps every mapping of the socket named inode
// ("socket:[N]") left in this process. asavie's Close never unmaps its
// four rings; while they are mapped the kernel keeps the socket, and with
// it the binding to the veth queue, so every later AF_XDP bind on that
// queue would fail with EBUSY until the process exits.
func unmapSocket(inode string) error {
	if !strings.HasPrefix(inode, "socket:[") {
		return nil
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != inode {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(start), uintptr(end-start), 0); e != 0 {
			errs = append(errs, fmt.Errorf("asavie: unmap its ring at %#x: %w", start, e))
		}
	}
	return errors.Join(errs...)
}

func (a *asavieRx) Close() error {
	a.stop.Store(true)
	a.wg.Wait() // readers notice within one Poll timeout
	var errs []error
	if a.attached {
		if err := lab.DetachXDP(a.ns, a.ifname); err != nil {
			errs = append(errs, fmt.Errorf("asavie: detach: %w", err))
		}
	}
	for _, s := range a.socks {
		inode, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", s.FD()))
		errs = append(errs, s.Close())
		errs = append(errs, unmapSocket(inode))
	}
	if a.prog != nil {
		errs = append(errs, a.prog.Close())
	}
	errs = append(errs, a.err)
	return errors.Join(errs...)
}
