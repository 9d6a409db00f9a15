package scenario

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
)

// kernelRcvBuf is the kernel socket's receive buffer, the size of
// rxpath's default socket queue (udp.DefaultRcvBuf).
const kernelRcvBuf = 4 << 20

// kernelRx is a kernel UDP socket in the DUT namespace read by
// traffic.KernelReceiver: recvmmsg on one reader thread per queue, on the
// receiver CPUs.
type kernelRx struct {
	ns   string
	spin bool
	r    *traffic.KernelReceiver
}

func newKernel(h *liveLab, spin bool) (receiver, error) {
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.l.DUTAddr, h.cfg.Port))
	var conn *net.UDPConn
	err := lab.InNS(h.l.DUTNS, func() (err error) {
		conn, err = net.ListenUDP("udp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kernel socket on %v: %w", addr, err)
	}
	if err := traffic.ForceRcvBuf(conn, kernelRcvBuf); err != nil {
		conn.Close()
		return nil, fmt.Errorf("kernel socket: %w", err)
	}
	cpus := make([]int, h.cfg.Queues)
	for q := range cpus {
		cpus[q] = RxCPU(q, h.ncpu)
	}
	r, err := traffic.NewKernelReceiver(conn, traffic.KernelOptions{CPUs: cpus, Nice: h.cfg.Nice, Spin: spin})
	if err != nil {
		return nil, err
	}
	k := &kernelRx{ns: h.l.DUTNS, spin: spin, r: r}
	if spin {
		return kernelSpinRx{k}, nil
	}
	return k, nil
}

// kernelSpinRx is the spinning kernel receiver: it counts the reads that
// found nothing, for the busy time.
type kernelSpinRx struct{ *kernelRx }

func (k kernelSpinRx) IdlePasses() uint64 { return k.r.IdlePasses() }

func (k kernelSpinRx) IdleThreads() []int { return k.r.Threads() }

func (k kernelSpinRx) SleepsWhenIdle() bool { return false }

func (k *kernelRx) Describe() string {
	mode := "blocking"
	if k.spin {
		mode = "MSG_DONTWAIT spin"
	}
	return fmt.Sprintf("kernel UDP socket, recvmmsg batches of %d (%s), SO_RCVBUF %d MiB, GRO on the veth", traffic.KernelBatch, mode, kernelRcvBuf>>20)
}

func (k *kernelRx) Delivered() uint64 { return k.r.Received() }

func (k *kernelRx) Threads() []int { return k.r.Threads() }

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

func (k *kernelRx) Close() error { return k.r.Close() }
