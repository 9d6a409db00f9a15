package scenario

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
)

// kernelRcvBuf is the kernel socket's receive buffer, the size of
// rxpath's default socket queue (udp.DefaultRcvBuf).
const kernelRcvBuf = 4 << 20

// kernelRx is a kernel UDP socket in the DUT namespace read with recvmmsg
// (x/net ipv4.PacketConn.ReadBatch) by one reader thread per queue on the
// receiver CPUs.
type kernelRx struct {
	ns    string
	spin  bool
	conn  *net.UDPConn
	pc    *ipv4.PacketConn
	count atomic.Uint64
	stop  atomic.Bool
	tids  []int
	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error
}

func newKernel(h *liveLab, spin bool) (receiver, error) {
	k := &kernelRx{ns: h.l.DUTNS, spin: spin}
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port))
	err := lab.InNS(h.l.DUTNS, func() (err error) {
		k.conn, err = net.ListenUDP("udp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kernel socket on %v: %w", addr, err)
	}
	if err := setRcvBufForce(k.conn, kernelRcvBuf); err != nil {
		k.conn.Close()
		return nil, err
	}
	k.pc = ipv4.NewPacketConn(k.conn)
	ready := make(chan error, h.cfg.Queues)
	for q := range h.cfg.Queues {
		k.wg.Add(1)
		go k.read(RxCPU(q, h.ncpu), h.cfg.Nice, ready)
	}
	for range h.cfg.Queues {
		if err := <-ready; err != nil {
			k.Close()
			return nil, err
		}
	}
	return k, nil
}

func setRcvBufForce(c *net.UDPConn, n int) error {
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
	if serr != nil {
		return fmt.Errorf("kernel socket: %w", os.NewSyscallError("setsockopt SO_RCVBUFFORCE", serr))
	}
	return nil
}

func (k *kernelRx) read(cpu, nice int, ready chan<- error) {
	defer k.wg.Done()
	tid, err := affinity.PinThread(cpu, nice)
	if err != nil {
		ready <- err
		return
	}
	k.errMu.Lock()
	k.tids = append(k.tids, tid)
	k.errMu.Unlock()
	ready <- nil
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	flags := 0
	if k.spin {
		flags = unix.MSG_DONTWAIT
	}
	for !k.stop.Load() {
		n, err := k.pc.ReadBatch(msgs, flags)
		if n > 0 {
			k.count.Add(uint64(n))
		}
		if err != nil {
			if k.spin && errors.Is(err, unix.EAGAIN) {
				continue
			}
			if !k.stop.Load() && !errors.Is(err, net.ErrClosed) {
				k.errMu.Lock()
				k.err = err
				k.errMu.Unlock()
			}
			return
		}
	}
}

func (k *kernelRx) Describe() string {
	mode := "blocking"
	if k.spin {
		mode = "MSG_DONTWAIT spin"
	}
	return fmt.Sprintf("kernel UDP socket, recvmmsg batches of 64 (%s), SO_RCVBUF %d MiB, GRO on the veth", mode, kernelRcvBuf>>20)
}

func (k *kernelRx) Delivered() uint64 { return k.count.Load() }

func (k *kernelRx) Threads() []int {
	k.errMu.Lock()
	defer k.errMu.Unlock()
	return append([]int(nil), k.tids...)
}

// Counters are the DUT namespace's Ip and Udp MIBs and the softnet
// backlog drops (those are machine-wide).
func (k *kernelRx) Counters() map[string]uint64 {
	c := map[string]uint64{}
	var snmp sysstat.SNMP
	if err := lab.InNS(k.ns, func() (err error) { snmp, err = sysstat.ReadSNMP(); return err }); err == nil {
		for _, proto := range []string{"Ip", "Udp"} {
			for f, v := range snmp[proto] {
				c["snmp."+proto+"."+f] = v
			}
		}
	}
	c["softnet.dropped"] = softnetDropped()
	return c
}

// softnetDropped sums the second column of /proc/net/softnet_stat (input
// backlog overflows, all CPUs).
func softnetDropped() uint64 {
	f, err := os.Open("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	var n uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 1 {
			v, _ := strconv.ParseUint(fs[1], 16, 64)
			n += v
		}
	}
	return n
}

func (k *kernelRx) Loss(d map[string]int64) report.Loss {
	udpErr := pos(d["snmp.Udp.InErrors"] - d["snmp.Udp.RcvbufErrors"])
	return report.Loss{
		Veth: vethLoss(d, true, 0),
		Stack: udpErr + pos(d["snmp.Udp.NoPorts"]) + pos(d["snmp.Ip.InHdrErrors"]) + pos(d["snmp.Ip.InAddrErrors"]) +
			pos(d["snmp.Ip.InDiscards"]) + pos(d["snmp.Ip.InUnknownProtos"]) + pos(d["softnet.dropped"]),
		Socket: pos(d["snmp.Udp.RcvbufErrors"]),
	}
}

func (k *kernelRx) Finish(*report.Scenario) {}

func (k *kernelRx) Close() error {
	k.stop.Store(true)
	err := k.conn.Close()
	k.wg.Wait()
	k.errMu.Lock()
	defer k.errMu.Unlock()
	return errors.Join(err, k.err)
}
