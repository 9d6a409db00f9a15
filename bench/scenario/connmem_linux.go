package scenario

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/stack/tcp"
)

// The conn-memory row. Per rep, on a server port of its own (so that no
// TIME_WAIT entry of an earlier rep is in the way):
//
//  1. rxpath: rxpath.Open on the DUT end with a TCP listener, the default
//     TCP options, an accept loop that keeps each connection. The Go
//     heap's live bytes after runtime.GC, and the slab caches, are read
//     before the first connection, with Conns idle established
//     connections, and after the server has closed them all (it drops its
//     references) and the client has answered every FIN, so that the
//     server holds them in TIME_WAIT.
//  2. kernel: the same with a kernel listener on the DUT kernel (raw
//     socket calls, so that no Go object or epoll entry is made per
//     connection), behind an XDP_PASS program as in tcp-kernel; the slab
//     caches only.
//
// The client is the same in both: raw sockets on the generator thread in
// the peer namespace, blocking connects one after the other, the
// descriptors in a slice allocated before the first reading, so that it
// allocates nothing on the Go heap per connection. Its sockets are closed
// by the server first, so the client keeps no TIME_WAIT entry. Its slab
// delta in the rxpath run, where the server has no kernel socket, is
// subtracted from the kernel run's. After the kernel run its TIME_WAIT
// entries are destroyed (ss -K) so that their expiry, 60 s later, does
// not fall into a later reading.

// slabCaches are the caches a TCP connection's server end takes in the
// kernel: the socket, the TIME_WAIT and request socks, and the socket's
// inode, file and dentry.
var slabCaches = []string{"TCP", "tw_sock_TCP", "request_sock_TCP", "sock_inode_cache", "filp", "dentry"}

// connMemoryConns is how many connections a rep opens: 10,000 in full
// mode, 2,000 in quick mode.
func (c Config) connMemoryConns() int {
	return min(10_000, max(200, int(c.Duration.Seconds()*2000)))
}

// Settling: the slab caches must stand still for slabQuiet readings
// slabEvery apart (RCU frees inodes and dentries a grace period after
// close), at most slabSettleMax.
const (
	slabEvery     = 50 * time.Millisecond
	slabQuiet     = 3
	slabSettleMax = 3 * time.Second
	connWait      = 30 * time.Second // for every connection to be accepted or to reach TIME_WAIT
)

func (h *liveLab) runConnMemory(ctx context.Context, d Def, row *report.Scenario) (err error) {
	undo, err := h.prepareDUT(d)
	defer func() { err = errors.Join(err, undo()) }()
	if err != nil {
		return err
	}
	n := h.cfg.connMemoryConns()
	// Both ends' descriptors live in this process: the client's, and
	// the kernel server's. Without the privilege to raise the hard
	// limit, fewer connections fit.
	restoreLimit, fit, err := raiseNoFile(uint64(2*n + fdSpare))
	if err != nil {
		return err
	}
	defer restoreLimit()
	if fit < 2*n+fdSpare {
		m := (fit - fdSpare) / 2
		if m < 100 {
			return fmt.Errorf("the descriptor limit (%d) leaves room for %d connections", fit, max(m, 0))
		}
		row.Notes = append(row.Notes, fmt.Sprintf("%d connections per rep, not %d: the descriptor hard limit here (%d, not raisable without CAP_SYS_RESOURCE) holds both ends", m, n, fit))
		n = m
	}
	cl := &connClient{w: h.gens[0], fds: make([]int, 0, n), dst: h.l.DUTAddr}
	row.Receiver = fmt.Sprintf("%d connections per rep from raw client sockets on CPU %d; rxpath: default TCP options, a poller on CPU %d; "+
		"kernel: raw listener socket on the DUT kernel, XDP_PASS attached in native mode", n, GenCPU(0, h.ncpu), RxCPU(0, h.ncpu))
	h.p.printf("  %s", row.Receiver)
	for i := range h.cfg.Reps {
		if err := ctx.Err(); err != nil {
			return err
		}
		port := h.cfg.Port + 1 + uint16(i)
		rep := report.MemRep{Conns: n}
		if err := h.connMemRxpath(cl, port, &rep); err != nil {
			return fmt.Errorf("rep %d, rxpath server: %w", i+1, err)
		}
		if err := h.connMemKernel(cl, port, &rep); err != nil {
			return fmt.Errorf("rep %d, kernel server: %w", i+1, err)
		}
		row.Mem = append(row.Mem, rep)
		h.p.printf("  rep %d/%d: %d conns; idle: rxpath %.0f B, kernel %.0f B; TIME_WAIT (%d, %d): rxpath %.0f B, kernel %.0f B",
			i+1, h.cfg.Reps, n, rep.RxpathIdleBytes(), rep.KernelIdleBytes(), rep.RxpathTimeWaits, rep.KernelTimeWaits,
			rep.RxpathTimeWaitBytes(), rep.KernelTimeWaitBytes())
	}
	return nil
}

// connMemRxpath measures one rep against an rxpath server.
func (h *liveLab) connMemRxpath(cl *connClient, port uint16, rep *report.MemRep) (err error) {
	node, l, err := h.openRxpathTCP(port, tcpServerBacklog)
	if err != nil {
		return err
	}
	conns := make([]*tcp.Conn, rep.Conns)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range conns {
			c, err := l.AcceptTCP()
			if err != nil {
				return // the listener closed
			}
			conns[i] = c
			accepted.Add(1)
		}
	})
	defer func() {
		errs := []error{err, l.Close()}
		wg.Wait()
		for _, c := range conns {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
		cl.closeAll()
		err = errors.Join(append(errs, node.Close())...)
	}()
	s0, err := settledSlabs()
	if err != nil {
		return err
	}
	rep.RxpathHeapBase = liveHeap()
	if err := cl.connect(port, rep.Conns); err != nil {
		return err
	}
	if err := waitFor(func() bool { return accepted.Load() == int64(rep.Conns) }, connWait); err != nil {
		return fmt.Errorf("%d of %d connections accepted: %w", accepted.Load(), rep.Conns, err)
	}
	rep.RxpathHeapEstab = liveHeap()
	s1, err := settledSlabs()
	if err != nil {
		return err
	}
	for i, c := range conns {
		err := c.Close()
		conns[i] = nil // the application keeps nothing of a closed connection
		if err != nil {
			return err
		}
	}
	if err := cl.drainAndClose(); err != nil {
		return err
	}
	if err := waitFor(func() bool { return node.TCP.TimeWaits() >= rep.Conns }, connWait); err != nil {
		return fmt.Errorf("%d of %d connections in TIME_WAIT: %w", node.TCP.TimeWaits(), rep.Conns, err)
	}
	s2, err := settledSlabs()
	if err != nil {
		return err
	}
	rep.RxpathHeapTimeWait = liveHeap()
	rep.RxpathTimeWaits = node.TCP.TimeWaits()
	rep.ClientSlabEstab = slabDelta(s0, s1, slabCaches)
	rep.ClientSlabTimeWait = slabDelta(s0, s2, slabCaches)
	return nil
}

// connMemKernel measures one rep against a kernel server.
func (h *liveLab) connMemKernel(cl *connClient, port uint16, rep *report.MemRep) (err error) {
	pfx := netip.PrefixFrom(h.l.DUTAddr, h.l.PeerAddr.Bits())
	if err := lab.AddAddr(h.l.DUTNS, h.l.DUTIf, pfx); err != nil {
		return fmt.Errorf("give the DUT kernel %s: %w", pfx, err)
	}
	defer func() { err = errors.Join(err, lab.DelAddr(h.l.DUTNS, h.l.DUTIf, pfx)) }()
	prog, lnk, err := h.attachXDPPass()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, lnk.Close(), prog.Close()) }()
	var lfd int
	err = lab.InNS(h.l.DUTNS, func() (err error) {
		lfd, err = listenRaw(netip.AddrPortFrom(h.l.DUTAddr, port), tcpServerBacklog)
		return err
	})
	if err != nil {
		return err
	}
	fds := make([]int, 0, rep.Conns)
	var accepted atomic.Int64
	var acceptErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for len(fds) < rep.Conns {
			fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				acceptErr = os.NewSyscallError("accept4", err)
				return
			}
			fds = append(fds, fd)
			accepted.Add(1)
		}
	})
	defer func() {
		unix.Shutdown(lfd, unix.SHUT_RDWR) // wakes a blocked accept
		wg.Wait()
		errs := []error{err, acceptErr, os.NewSyscallError("close", unix.Close(lfd))}
		for _, fd := range fds {
			unix.Close(fd) // those not closed by the measurement
		}
		cl.closeAll()
		// Their expiry must not fall into a later reading.
		if out, kerr := lab.Exec(h.l.DUTNS, "ss", "-K", "-t", "state", "time-wait", "( sport = :"+strconv.Itoa(int(port))+" )"); kerr != nil {
			errs = append(errs, fmt.Errorf("ss -K: %w: %s", kerr, out))
		}
		err = errors.Join(errs...)
	}()
	s0, err := settledSlabs()
	if err != nil {
		return err
	}
	if err := cl.connect(port, rep.Conns); err != nil {
		return err
	}
	if err := waitFor(func() bool { return accepted.Load() == int64(rep.Conns) }, connWait); err != nil {
		return fmt.Errorf("%d of %d connections accepted: %w", accepted.Load(), rep.Conns, err)
	}
	wg.Wait()
	s1, err := settledSlabs()
	if err != nil {
		return err
	}
	for _, fd := range fds {
		if err := unix.Close(fd); err != nil {
			return os.NewSyscallError("close", err)
		}
	}
	fds = fds[:0]
	if err := cl.drainAndClose(); err != nil {
		return err
	}
	tw := 0
	if err := waitFor(func() bool {
		tw, err = timeWaits(h.l.DUTNS, port)
		return err != nil || tw >= rep.Conns
	}, connWait); err != nil {
		return fmt.Errorf("%d of %d connections in TIME_WAIT: %w", tw, rep.Conns, err)
	}
	if err != nil {
		return err
	}
	s2, err := settledSlabs()
	if err != nil {
		return err
	}
	rep.KernelTimeWaits = tw
	rep.KernelSlabEstab = slabDelta(s0, s1, slabCaches)
	rep.KernelSlabTimeWait = slabDelta(s0, s2, slabCaches)
	return nil
}

// connClient opens and closes the row's connections with raw socket
// calls on a generator thread (in the peer namespace).
type connClient struct {
	w   *genWorker
	dst netip.Addr
	fds []int // capacity allocated once
}

// connect opens n connections to port, one after the other.
func (c *connClient) connect(port uint16, n int) error {
	var err error
	sa := &unix.SockaddrInet4{Port: int(port), Addr: c.dst.As4()}
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	c.w.do(func() {
		for range n {
			var fd int
			if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
				err = os.NewSyscallError("socket", err)
				return
			}
			c.fds = append(c.fds, fd)
			if err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				err = os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
				return
			}
			if err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
				err = os.NewSyscallError("setsockopt SO_SNDTIMEO", err)
				return
			}
			for {
				if err = unix.Connect(fd, sa); !errors.Is(err, unix.EINTR) {
					break
				}
			}
			if err != nil {
				err = fmt.Errorf("connection %d of %d: %w", len(c.fds), n, os.NewSyscallError("connect", err))
				return
			}
		}
	})
	return err
}

// drainAndClose waits for the server's FIN on every connection (a read
// that returns 0) and closes it.
func (c *connClient) drainAndClose() error {
	var err error
	c.w.do(func() {
		var buf [64]byte
		for i, fd := range c.fds {
			var k int
			for {
				if k, err = unix.Read(fd, buf[:]); !errors.Is(err, unix.EINTR) {
					break
				}
			}
			if err != nil || k != 0 {
				err = fmt.Errorf("connection %d: no FIN from the server (read %d bytes): %w", i+1, k, os.NewSyscallError("read", err))
				return
			}
		}
	})
	if err != nil {
		return err
	}
	c.closeAll()
	return nil
}

// closeAll closes every connection still open.
func (c *connClient) closeAll() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = c.fds[:0]
}

// listenRaw makes a kernel TCP listener on addr in the calling thread's
// namespace.
func listenRaw(addr netip.AddrPort, backlog int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %v: %w", addr, os.NewSyscallError("bind", err))
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// timeWaits counts the TIME_WAIT sockets of local port in namespace ns.
func timeWaits(ns string, port uint16) (int, error) {
	var b []byte
	err := lab.InNS(ns, func() (err error) { b, err = os.ReadFile("/proc/thread-self/net/tcp"); return err })
	if err != nil {
		return 0, err
	}
	return countTCPState(b, port, 0x06)
}

// countTCPState counts the sockets of /proc/net/tcp (text b) in state st
// with local port port.
func countTCPState(b []byte, port uint16, st uint8) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // the header
	n := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		_, lport, ok := strings.Cut(f[1], ":")
		if !ok {
			return 0, fmt.Errorf("/proc/net/tcp: local address %q", f[1])
		}
		p, err1 := strconv.ParseUint(lport, 16, 16)
		s, err2 := strconv.ParseUint(f[3], 16, 8)
		if err := errors.Join(err1, err2); err != nil {
			return 0, fmt.Errorf("/proc/net/tcp: %w", err)
		}
		if uint16(p) == port && uint8(s) == st {
			n++
		}
	}
	return n, sc.Err()
}

// settledSlabs reads /proc/slabinfo until the row's caches stand still.
func settledSlabs() (map[string]slabCache, error) {
	read := func() (map[string]slabCache, int64, error) {
		f, err := os.Open("/proc/slabinfo")
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		m, err := parseSlabinfo(f)
		var total int64
		for _, n := range slabCaches {
			total += m[n].ActiveBytes()
		}
		return m, total, err
	}
	m, last, err := read()
	if err != nil {
		return nil, err
	}
	still := 0
	for deadline := time.Now().Add(slabSettleMax); still < slabQuiet && time.Now().Before(deadline); {
		time.Sleep(slabEvery)
		var total int64
		if m, total, err = read(); err != nil {
			return nil, err
		}
		if total == last {
			still++
		} else {
			last, still = total, 0
		}
	}
	return m, nil
}

// liveHeap collects the garbage and returns the heap's live bytes. Twice:
// what sync.Pools held survives one collection in their victim caches.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// waitFor polls cond every millisecond until it holds or d has passed.
func waitFor(cond func() bool, d time.Duration) error {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %v", d)
		}
	}
	return nil
}

// fdSpare is the descriptors kept for everything but the row's
// connections.
const fdSpare = 1024

// raiseNoFile raises this process's descriptor limit towards n: to n if
// it may, else to its hard limit. It returns the limit it set and what
// puts the old one back.
func raiseNoFile(n uint64) (restore func(), limit int, err error) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		return nil, 0, os.NewSyscallError("getrlimit", err)
	}
	if old.Cur >= n {
		return func() {}, int(min(old.Cur, 1<<30)), nil
	}
	lim := unix.Rlimit{Cur: n, Max: max(n, old.Max)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		// No CAP_SYS_RESOURCE: as far as the hard limit goes.
		lim = unix.Rlimit{Cur: old.Max, Max: old.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return nil, 0, fmt.Errorf("raise the descriptor limit to %d (from %d, hard %d): %w", old.Max, old.Cur, old.Max, os.NewSyscallError("setrlimit", err))
		}
	}
	return func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) }, int(min(lim.Cur, 1<<30)), nil
}
