package memnic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/rxpath/rxpath/driver/internal/xsk"
	"github.com/rxpath/rxpath/umem"
)

// ErrInvalid wraps every option validation failure.
var ErrInvalid = errors.New("invalid memnic options")

// Options configures a NIC. The zero value means DefaultOptions: one
// queue fed as fast as its poller takes frames with the 60-byte UDP frame
// of DefaultUDP, starting on the queue's first Refill.
type Options struct {
	// Name is the interface name the Device reports (default "memnic0").
	Name string
	// MAC is the interface's address (default: the destination MAC of
	// Frame, so the stack accepts the frames).
	MAC net.HardwareAddr

	// Frame is the template written into every received frame, from the
	// Ethernet header on (default: UDPFrame(DefaultUDP())). It is copied
	// at New.
	Frame []byte
	// SeqOffset is where each frame's big-endian 64-bit sequence number
	// goes (default 42: the UDP payload of an IPv4 frame without
	// options, where the traffic generators stamp it). Negative: no
	// sequence number.
	SeqOffset int
	// FirstSeq is the first sequence number stamped; every frame offered
	// takes the next one, including frames that are dropped.
	FirstSeq uint64
	// Flows above one stamps the UDP source port as the template's
	// source port plus seq%Flows, as the traffic generators do; Frame
	// must then be IPv4 (no options) and UDP.
	Flows int

	// Rate is the offered load per queue in frames per second. Zero
	// saturates: the NIC posts a frame whenever the fill ring has a
	// buffer and the rx ring a slot, and drops nothing, so the rate is
	// the poller's capacity. A positive Rate paces the frames like a
	// wire: a frame that is due while the fill ring is empty or the rx
	// ring is full is dropped and counted as AF_XDP counts it.
	Rate float64
	// Count stops each queue's producer after this many frames per run
	// (0: no limit).
	Count uint64
	// Duration stops each queue's producer this long after Start (0: no
	// limit).
	Duration time.Duration
	// Batch is the most rx descriptors the NIC posts per producer index
	// update (default 64, capped at the rx and fill ring sizes).
	Batch int
	// Manual keeps the producers idle until Start. By default the first
	// run starts on the first Refill of any queue, that is when the
	// first poller starts.
	Manual bool

	// Queues is the number of receive queues, each with its own producer
	// thread (default 1).
	Queues int
	// CPUs pins queue i's producer thread to CPUs[i%len(CPUs)] (default
	// unpinned). Put it on another CPU than the queue's poller.
	CPUs []int
	// KeepProcs leaves GOMAXPROCS alone. By default New raises it by one
	// per queue and Close lowers it again: a generating producer is a
	// goroutine that never blocks, so it holds one of the runtime's Ps
	// for as long as it runs, and without the extra P the application's
	// other goroutines (a socket reader, the tap's writer, the GC) would
	// run only when the scheduler preempts a spinning thread, which
	// hardware would not make them do.
	KeepProcs bool

	// UMEM configures each queue's frame area (umem defaults: 4096
	// frames of 4096 bytes, 512 of them for transmit).
	UMEM umem.Options
	// Ring sizes, powers of two (defaults as package afxdp: fill and rx
	// 4096, tx and completion 512).
	FillSize, RxSize, TxSize, CompSize uint32
}

// DefaultOptions returns the options the zero value stands for.
func DefaultOptions() Options {
	f, err := UDPFrame(DefaultUDP())
	if err != nil {
		panic(err) // DefaultUDP is valid
	}
	return Options{
		Name:      "memnic0",
		MAC:       DefaultUDP().DstMAC,
		Frame:     f,
		SeqOffset: seqOff,
		Batch:     64,
		Queues:    1,
		UMEM:      umem.DefaultOptions(),
		FillSize:  xsk.DefaultFillSize,
		RxSize:    xsk.DefaultRxSize,
		TxSize:    xsk.DefaultTxSize,
		CompSize:  xsk.DefaultCompSize,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Name == "" {
		o.Name = d.Name
	}
	if o.Frame == nil {
		o.Frame = d.Frame
	}
	o.Frame = append([]byte(nil), o.Frame...)
	if o.MAC == nil && len(o.Frame) >= 6 {
		o.MAC = net.HardwareAddr(o.Frame[0:6])
	}
	o.MAC = append(net.HardwareAddr(nil), o.MAC...)
	if o.SeqOffset == 0 {
		o.SeqOffset = d.SeqOffset
	}
	if o.Flows == 0 {
		o.Flows = 1
	}
	if o.Batch == 0 {
		o.Batch = d.Batch
	}
	if o.Queues == 0 {
		o.Queues = d.Queues
	}
	o.CPUs = append([]int(nil), o.CPUs...)
	xsk.SizeDefaults(&o.FillSize, &o.RxSize, &o.TxSize, &o.CompSize)
	return o
}

// validate checks what New can check before building anything; the UMEM
// and the rings validate their own options.
func (o Options) validate() error {
	if err := xsk.CheckSizes(o.FillSize, o.RxSize, o.TxSize, o.CompSize); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch {
	case len(o.Frame) < ethLen:
		return fmt.Errorf("%w: a %d-byte frame has no Ethernet header", ErrInvalid, len(o.Frame))
	case len(o.MAC) != 6:
		return fmt.Errorf("%w: MAC %v is not 6 bytes", ErrInvalid, o.MAC)
	case o.SeqOffset >= 0 && o.SeqOffset+8 > len(o.Frame):
		return fmt.Errorf("%w: sequence number at offset %d does not fit a %d-byte frame", ErrInvalid, o.SeqOffset, len(o.Frame))
	case o.Flows < 1 || o.Flows > 1<<16:
		return fmt.Errorf("%w: %d flows (want 1 to 65536)", ErrInvalid, o.Flows)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("%w: rate %v is not zero or a positive finite number", ErrInvalid, o.Rate)
	case o.Duration < 0:
		return fmt.Errorf("%w: negative duration %v", ErrInvalid, o.Duration)
	case o.Batch < 1:
		return fmt.Errorf("%w: batch %d", ErrInvalid, o.Batch)
	case o.Queues < 1 || o.Queues > 1024:
		return fmt.Errorf("%w: %d queues (want 1 to 1024)", ErrInvalid, o.Queues)
	}
	if o.Flows > 1 {
		f := o.Frame
		if len(f) < seqOff || binary.BigEndian.Uint16(f[12:14]) != 0x0800 || f[ethLen] != 0x45 || f[ethLen+9] != 17 {
			return fmt.Errorf("%w: %d flows need an IPv4 UDP frame without IP options", ErrInvalid, o.Flows)
		}
		if int(binary.BigEndian.Uint16(f[portOff:]))+o.Flows-1 > 0xffff {
			return fmt.Errorf("%w: %d flows from source port %d do not fit in the port range", ErrInvalid, o.Flows, binary.BigEndian.Uint16(f[portOff:]))
		}
	}
	return nil
}

// Offsets in an IPv4 UDP frame without IP options.
const (
	ethLen  = 14
	ipLen   = 20
	udpLen  = 8
	portOff = ethLen + ipLen          // UDP source port
	seqOff  = ethLen + ipLen + udpLen // UDP payload
)

// UDP describes the IPv4 UDP frame UDPFrame builds.
type UDP struct {
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.AddrPort
	// Len is the Ethernet frame length without FCS (default 60, the
	// minimum; at least 50 to hold a sequence number).
	Len int
}

// DefaultUDP is the template of DefaultOptions: 10.0.0.1:9000 at
// 02:00:00:00:00:01 to 10.0.0.2:9000 at 02:00:00:00:00:02, 60 bytes.
func DefaultUDP() UDP {
	return UDP{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src:    netip.MustParseAddrPort("10.0.0.1:9000"),
		Dst:    netip.MustParseAddrPort("10.0.0.2:9000"),
		Len:    60,
	}
}

// UDPFrame builds an IPv4 UDP frame from u with a zero payload and a zero
// UDP checksum (allowed over IPv4, and the payload changes per frame).
// internal/harness/traffic's veth generators send the same frames, built
// here, so that a memnic run and a veth run carry the same bytes.
func UDPFrame(u UDP) ([]byte, error) {
	n := u.Len
	if n == 0 {
		n = 60
	}
	switch {
	case n < seqOff+8 || n > 1514:
		return nil, fmt.Errorf("%w: frame length %d out of range [%d, 1514]", ErrInvalid, n, seqOff+8)
	case !u.Src.Addr().Is4() || !u.Dst.Addr().Is4():
		return nil, fmt.Errorf("%w: UDP frame addresses %v and %v must be IPv4", ErrInvalid, u.Src, u.Dst)
	case len(u.SrcMAC) != 6 || len(u.DstMAC) != 6:
		return nil, fmt.Errorf("%w: UDP frame MACs %v and %v must be 6 bytes", ErrInvalid, u.SrcMAC, u.DstMAC)
	}
	f := make([]byte, n)
	copy(f[0:6], u.DstMAC)
	copy(f[6:12], u.SrcMAC)
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	ip := f[ethLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(n-ethLen))
	ip[6] = 0x40 // DF
	ip[8] = 64
	ip[9] = 17
	s, d := u.Src.Addr().As4(), u.Dst.Addr().As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:ipLen]))
	udp := ip[ipLen:]
	binary.BigEndian.PutUint16(udp[0:2], u.Src.Port())
	binary.BigEndian.PutUint16(udp[2:4], u.Dst.Port())
	binary.BigEndian.PutUint16(udp[4:6], uint16(n-ethLen-ipLen))
	return f, nil
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
