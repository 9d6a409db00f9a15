package scenario

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
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
	"github.com/rxpath/rxpath/internal/sys/sysstat"
)

// tcpReceiver is a live TCP row's receiver: Delivered counts the stream
// bytes its application got.
type tcpReceiver interface {
	receiver
	// Segments is how many segments reached the receiver's TCP, from the
	// deltas of Counters.
	Segments(d map[string]int64) uint64
}

// tcpClient is the kernel TCP client of the live TCP rows: one connection
// from the peer namespace, made and written on the first generator's
// thread (pinned to the generator CPU).
type tcpClient struct {
	w    *genWorker
	conn *net.TCPConn
	buf  []byte
}

// dialTCP connects to the DUT's address and the run's port.
func (h *liveLab) dialTCP() (*tcpClient, error) {
	c := &tcpClient{w: h.gens[0], buf: make([]byte, 1<<20)}
	dst := netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port).String()
	var err error
	c.w.do(func() {
		d := net.Dialer{Timeout: 5 * time.Second}
		var nc net.Conn
		if nc, err = d.Dial("tcp4", dst); err == nil {
			c.conn = nc.(*net.TCPConn)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("kernel TCP client: %w", err)
	}
	return c, nil
}

// send writes as fast as the connection takes it for d and returns the
// bytes written and the time taken.
func (c *tcpClient) send(d time.Duration) (n uint64, elapsed time.Duration, err error) {
	c.w.do(func() {
		start := time.Now()
		if err = c.conn.SetWriteDeadline(start.Add(d)); err != nil {
			return
		}
		for {
			k, werr := c.conn.Write(c.buf)
			n += uint64(k)
			if werr != nil {
				if !errors.Is(werr, os.ErrDeadlineExceeded) {
					err = fmt.Errorf("kernel TCP client: %w", werr)
				}
				break
			}
		}
		elapsed = time.Since(start)
	})
	return n, elapsed, err
}

// unacked is the bytes in the client's send queue that the receiver has
// not acknowledged yet (SIOCOUTQ).
func (c *tcpClient) unacked() (int, error) {
	rc, err := c.conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, os.NewSyscallError("ioctl SIOCOUTQ", ierr)
	}
	return n, nil
}

// waitAcked waits (at most drainMax) until the receiver has acknowledged
// everything the client wrote, so that every segment sent has been
// counted by the receiver's TCP.
func (c *tcpClient) waitAcked() error {
	for deadline := time.Now().Add(drainMax); ; time.Sleep(time.Millisecond) {
		n, err := c.unacked()
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return nil // counted as loss, and seen in the next rep
		}
	}
}

func (c *tcpClient) Close() error { return c.conn.Close() }

// tcpKernelRx is a kernel TCP server in the DUT namespace: one reader
// thread on the receiver CPU accepts the client's connection and reads it
// into a 256 KiB buffer. An XDP program that passes every frame is
// attached to the DUT veth in native mode, as rxpath's is, so that both
// TCP rows see the same veth (MTU, GSO, NAPI).
type tcpKernelRx struct {
	ns    string
	prog  *ebpf.Program
	lnk   link.Link
	ln    *net.TCPListener
	count atomic.Uint64
	stop  atomic.Bool
	wg    sync.WaitGroup

	mu   sync.Mutex
	tid  int
	conn net.Conn
	err  error
}

func newTCPKernel(h *liveLab) (_ receiver, err error) {
	k := &tcpKernelRx{ns: h.l.DUTNS}
	defer func() {
		if err != nil {
			k.Close()
		}
	}()
	if k.prog, k.lnk, err = h.attachXDPPass(); err != nil {
		return nil, err
	}
	addr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port))
	err = lab.InNS(h.l.DUTNS, func() (err error) {
		k.ln, err = net.ListenTCP("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kernel TCP server on %v: %w", addr, err)
	}
	ready := make(chan error, 1)
	k.wg.Add(1)
	go k.serve(RxCPU(0, h.ncpu), h.cfg.Nice, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return k, nil
}

// attachXDPPass attaches a program that passes every frame to the DUT
// veth in native mode, as rxpath's is attached, so that a kernel server
// sees the same veth (MTU, GSO, NAPI) as rxpath. The caller closes both.
func (h *liveLab) attachXDPPass() (*ebpf.Program, link.Link, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "rxb_xdp_pass", Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load XDP_PASS program: %w", err)
	}
	var lnk link.Link
	err = lab.InNS(h.l.DUTNS, func() error {
		ifi, err := net.InterfaceByName(h.l.DUTIf)
		if err != nil {
			return err
		}
		lnk, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
		if err != nil {
			return fmt.Errorf("attach native XDP_PASS: %w", err)
		}
		return nil
	})
	if err != nil {
		prog.Close()
		return nil, nil, err
	}
	return prog, lnk, nil
}

// serve accepts one connection and reads it until it ends.
func (k *tcpKernelRx) serve(cpu, nice int, ready chan<- error) {
	defer k.wg.Done()
	tid, err := affinity.PinThread(cpu, nice)
	if err != nil {
		ready <- err
		return
	}
	k.mu.Lock()
	k.tid = tid
	k.mu.Unlock()
	ready <- nil
	c, err := k.ln.Accept()
	if err != nil {
		k.fail(err)
		return
	}
	k.mu.Lock()
	k.conn = c
	stopped := k.stop.Load()
	k.mu.Unlock()
	if stopped {
		c.Close()
		return
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		k.count.Add(uint64(n))
		if err != nil {
			if !errors.Is(err, io.EOF) { // EOF: the client closed first
				k.fail(err)
			}
			return
		}
	}
}

func (k *tcpKernelRx) fail(err error) {
	if k.stop.Load() {
		return // ended by Close
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.err = err
	}
}

func (k *tcpKernelRx) Describe() string {
	return "kernel TCP socket, read(256 KiB) on a pinned thread; XDP_PASS program attached in native mode, GRO off (the veth default)"
}

func (k *tcpKernelRx) Delivered() uint64 { return k.count.Load() }

func (k *tcpKernelRx) Threads() []int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tid == 0 {
		return nil
	}
	return []int{k.tid}
}

// Counters are the DUT namespace's Ip, Tcp and TcpExt MIBs and the softnet
// backlog drops (machine-wide).
func (k *tcpKernelRx) Counters() map[string]uint64 {
	c := map[string]uint64{}
	var snmp, ext sysstat.SNMP
	err := lab.InNS(k.ns, func() (err error) {
		if snmp, err = sysstat.ReadSNMP(); err != nil {
			return err
		}
		ext, err = sysstat.ReadNetstat()
		return err
	})
	if err == nil {
		for _, proto := range []string{"Ip", "Tcp"} {
			for f, v := range snmp[proto] {
				c["snmp."+proto+"."+f] = v
			}
		}
		for f, v := range ext["TcpExt"] {
			c["netstat.TcpExt."+f] = v
		}
	}
	c["softnet.dropped"] = softnetDropped()
	return c
}

func (k *tcpKernelRx) Segments(d map[string]int64) uint64 { return pos(d["snmp.Tcp.InSegs"]) }

func (k *tcpKernelRx) Loss(d map[string]int64) report.Loss {
	return report.Loss{
		Veth: vethLoss(d, true, 0),
		Stack: pos(d["snmp.Tcp.InErrs"]) + pos(d["snmp.Ip.InHdrErrors"]) + pos(d["snmp.Ip.InAddrErrors"]) +
			pos(d["snmp.Ip.InDiscards"]) + pos(d["snmp.Ip.InUnknownProtos"]) + pos(d["softnet.dropped"]),
		Socket: pos(d["netstat.TcpExt.TCPRcvQDrop"]) + pos(d["netstat.TcpExt.TCPBacklogDrop"]) + pos(d["netstat.TcpExt.TCPZeroWindowDrop"]),
	}
}

func (k *tcpKernelRx) Finish(*report.Scenario) {}

func (k *tcpKernelRx) Close() error {
	k.stop.Store(true)
	var errs []error
	if k.ln != nil {
		errs = append(errs, k.ln.Close()) // ends a waiting Accept
	}
	k.mu.Lock()
	if k.conn != nil {
		errs = append(errs, k.conn.Close()) // ends the reader
	}
	k.mu.Unlock()
	k.wg.Wait()
	if k.lnk != nil {
		errs = append(errs, k.lnk.Close())
	}
	if k.prog != nil {
		errs = append(errs, k.prog.Close())
	}
	k.mu.Lock()
	errs = append(errs, k.err)
	k.mu.Unlock()
	return errors.Join(errs...)
}
