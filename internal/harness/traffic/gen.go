// Package traffic is the traffic generator of the benchmark and of rate
// measurements: the fastest way to put frames on a veth on these machines.
//
// It runs a tiny XDP program with BPF_PROG_RUN in live-frame mode
// (BPF_F_TEST_XDP_LIVE_FRAMES): the kernel builds each frame from a
// template, the program stamps a big-endian 64-bit sequence number into the
// UDP payload from a counter map, and redirects the frame out of the peer
// veth with bpf_redirect. No socket, no skb, no qdisc: on a veth this
// reaches about 1.9 Mpps from one CPU, against 1.1 Mpps for AF_PACKET
// sendmmsg with PACKET_QDISC_BYPASS.
//
// A veth only accepts redirected frames when its peer has an XDP program
// (or GRO) on the receiving end; rxpath's own program satisfies that.
// Because the UDP payload changes per frame, the UDP checksum is zero
// (allowed over IPv4).
//
// With Options.Flows above one the program also stamps the UDP source port,
// Src.Port() + seq % Flows, so that consecutive frames belong to different
// flows (the port is not covered by any checksum: the IPv4 header checksum
// does not include it and the UDP checksum is zero).
//
// Some kernels load the program but refuse to run it with live frames
// (EPERM at BPF_PROG_RUN). Two fallbacks stamp the same sequence numbers
// and source ports in user space: XSKGenerator, a transmit-only AF_XDP
// socket on the peer veth that sends through the driver's own transmit
// path, and PacketGenerator, an AF_PACKET socket with PACKET_QDISC_BYPASS
// sending batches of 64 frames with sendmmsg.
//
// All three implement Sender. Open with MethodAuto probes them in that
// order with a real send of one frame and takes the first that works,
// reporting each refusal once.
//
// The other end of a comparison is the kernel's own: KernelReceiver reads
// a kernel UDP socket with recvmmsg on pinned threads and counts what
// arrives, and ForceRcvBuf gives that socket the queue rxpath's socket has.
// The benchmark's kernel rows and `rxpath demo` both measure it this way.
package traffic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/rxpath/rxpath/driver/memnic"
)

// Options describes the traffic.
type Options struct {
	// Ifindex is the interface to send out of, in the calling thread's
	// network namespace.
	Ifindex int
	SrcMAC  net.HardwareAddr
	DstMAC  net.HardwareAddr
	Src     netip.AddrPort
	Dst     netip.AddrPort
	// FrameLen is the Ethernet frame length without FCS (default 60, the
	// minimum; at least 50 to hold the sequence number).
	FrameLen int
	// Count stops after this many frames (0: Duration decides).
	Count uint64
	// Duration stops after this long (0: Count decides).
	Duration time.Duration
	// FirstSeq is the first sequence number stamped.
	FirstSeq uint64
	// Flows is the number of UDP source ports used, Src.Port() up to
	// Src.Port()+Flows-1, chosen by the sequence number (default 1: the
	// source port is Src.Port() for every frame).
	Flows int
	// TxQueue is the queue of Ifindex the AF_XDP generator binds and
	// sends on (default 0). On a veth, peer tx queue i arrives on rx
	// queue i of the other end.
	TxQueue int
}

// Sender is a traffic source made by Open, New, NewXSK or NewPacket. It is not safe for
// concurrent use: Send runs on the calling thread, which decides the
// sending CPU (pin it).
type Sender interface {
	// Send sends until count frames (0: no limit) have gone or d (0: no
	// limit) has passed; one of the two must be set. Each call continues
	// the sequence numbers where the previous one stopped.
	Send(count uint64, d time.Duration) (Result, error)
	// Kind names the method: MethodLive, MethodXSK or MethodPacket.
	Kind() string
	// Close releases the sender.
	Close() error
}

// Result is what a run sent.
type Result struct {
	Sent    uint64        // frames the program redirected, or the socket accepted
	Refused uint64        // AF_PACKET: frames the socket refused (ENOBUFS), retried
	Elapsed time.Duration // wall time of the run
}

// PPS is the send rate.
func (r Result) PPS() float64 { return float64(r.Sent) / r.Elapsed.Seconds() }

const (
	ethLen  = 14
	ipLen   = 20
	udpLen  = 8
	seqOff  = ethLen + ipLen + udpLen
	portOff = ethLen + ipLen // UDP source port
	maxFlow = 1 << 16
	minLen  = seqOff + 8
	maxLen  = 1514
	chunk   = 1 << 15
	xdpMDLo = 0 // offsetof(struct xdp_md, data)
	xdpMDHi = 4 // offsetof(struct xdp_md, data_end)
)

// Frame builds the template frame for o.
func Frame(o Options) ([]byte, error) {
	n := o.FrameLen
	if n == 0 {
		n = 60
	}
	if n < minLen || n > maxLen {
		return nil, fmt.Errorf("frame length %d out of range [%d, %d]", n, minLen, maxLen)
	}
	if !o.Src.Addr().Is4() || !o.Dst.Addr().Is4() {
		return nil, errors.New("source and destination must be IPv4")
	}
	if o.Flows < 0 || o.Flows > maxFlow || int(o.Src.Port())+max(o.Flows, 1)-1 > 0xffff {
		return nil, fmt.Errorf("%d flows from source port %d do not fit in the port range", o.Flows, o.Src.Port())
	}
	// The bytes are memnic's template's, so that a memnic run and a
	// veth run carry the same frames.
	f, err := memnic.UDPFrame(memnic.UDP{SrcMAC: o.SrcMAC, DstMAC: o.DstMAC, Src: o.Src, Dst: o.Dst, Len: n})
	if err != nil {
		return nil, fmt.Errorf("frame: %w", err)
	}
	return f, nil
}

// FrameLenForPayload returns the Ethernet frame length (without FCS) that
// carries a UDP payload of n bytes over IPv4: n + 42, at least 60.
func FrameLenForPayload(n int) int { return max(n+seqOff, 60) }

// Stamp writes sequence number seq, and with o.Flows > 1 the source port of
// its flow, into frame f built by Frame(o). The packet generator calls it
// per frame; tests use it to build the frames the live-frame program makes.
func Stamp(f []byte, o Options, seq uint64) {
	binary.BigEndian.PutUint64(f[seqOff:], seq)
	if o.Flows > 1 {
		binary.BigEndian.PutUint16(f[portOff:], o.Src.Port()+uint16(seq%uint64(o.Flows)))
	}
}
