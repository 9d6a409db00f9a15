package stack

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/internal/loopstat"
	"golang.org/x/sys/cpu"
)

// Errors returned by the output path.
var (
	// ErrNoRoute: the destination is off-link and no gateway is set.
	ErrNoRoute = errors.New("no route to host")
	// ErrNeighborPending: the next hop is being resolved and its queue
	// of waiting packets is full.
	ErrNeighborPending = errors.New("neighbour resolution pending, queue full")
	// ErrNotAttached: no link to transmit on (Attach was not called).
	ErrNotAttached = errors.New("stack has no link attached")
	// ErrTxFull: the driver's transmit ring is full.
	ErrTxFull = errors.New("transmit ring full")
)

// LinkEndpoint is the device below the link layer, as the stack sees it:
// the seam the stack owns, like gVisor's stack.LinkEndpoint. The stack
// imports no driver; the assembly point (package rxpath) adapts a device's
// queues to this interface, and tests adapt whatever they like.
//
// Frames go the other way through Deliver: whoever drives the receive
// queues (a poller) hands each received frame to the stack.
type LinkEndpoint interface {
	// MAC is the device's hardware address.
	MAC() net.HardwareAddr
	// MTU is the largest IPv4 packet the device carries.
	MTU() int
	// WritePacket transmits one complete Ethernet frame on the transmit
	// queue that pairs with receive queue queue (the first queue when
	// there is no such queue). It copies frame before it returns and
	// reports false when the transmit ring had no room. It is called
	// concurrently, from pollers and application goroutines.
	WritePacket(queue int, frame []byte) bool
}

// BatchWriter is a LinkEndpoint that can also transmit several frames in
// one call, with one kick of the device for all of them: what a TxBatch
// flushes through. WritePackets copies the frames before it returns and
// reports how many it took; the rest found the transmit ring full.
type BatchWriter interface {
	WritePackets(queue int, frames [][]byte) int
}

// Options configures a Stack.
type Options struct {
	// MAC is the interface's hardware address.
	MAC net.HardwareAddr
	// Addrs are the local IPv4 addresses with their prefixes.
	Addrs []netip.Prefix
	// GatewayMAC is the next hop for off-link destinations (replies to
	// hosts outside our prefixes). Without it such sends fail with
	// ErrNoRoute.
	GatewayMAC net.HardwareAddr
	// MTU of the link (default 1500).
	MTU int
	// ARPCacheSize bounds the neighbour cache (default 1024).
	ARPCacheSize int
	// ARPTimeout is how long a resolved entry lives (default 60s); an
	// unanswered request is retried after a second and given up after
	// three tries.
	ARPTimeout time.Duration
	// Clock returns the time (default time.Now); tests use a fake.
	Clock func() time.Time
}

// Stats are the link layer's counters.
type Stats struct {
	Frames       uint64 `json:"frames"`
	Bytes        uint64 `json:"bytes"`
	TooShort     uint64 `json:"too_short"`
	NotForUs     uint64 `json:"not_for_us"`     // unicast to another MAC, or multicast we did not join
	UnknownType  uint64 `json:"unknown_type"`   // no protocol registered for the EtherType
	ARPMalformed uint64 `json:"arp_malformed"`  // bad hardware/protocol type or length, short
	ARPRequests  uint64 `json:"arp_requests"`   // requests for our addresses, answered
	ARPIgnored   uint64 `json:"arp_ignored"`    // requests for other hosts, unsolicited replies
	ARPReplies   uint64 `json:"arp_replies"`    // replies we asked for and learned
	ARPSent      uint64 `json:"arp_sent"`       // requests and replies we sent
	ARPCacheFull uint64 `json:"arp_cache_full"` // entries evicted to make room
	// ARPCacheRefused counts senders of requests not learned: the cache
	// was full of neighbours we send through (the request is answered).
	ARPCacheRefused uint64 `json:"arp_cache_refused"`
	// ARPProbes counts the requests that revalidate an expired entry,
	// sent while frames still go to the address it holds.
	ARPProbes     uint64 `json:"arp_probes"`
	Neighbors     int    `json:"neighbors"` // entries in the neighbour cache now (a gauge)
	TxFrames      uint64 `json:"tx_frames"`
	TxNoRoute     uint64 `json:"tx_no_route"`
	TxPendingDrop uint64 `json:"tx_pending_dropped"` // queued for an unresolved neighbour that never answered, or queue full
	TxRingFull    uint64 `json:"tx_ring_full"`
}

type counters struct {
	frames, bytes, tooShort, notForUs, unknownType                                            atomic.Uint64
	arpMalformed, arpRequests, arpIgnored, arpReplies, arpSent, arpCacheFull, arpCacheRefused atomic.Uint64
	arpProbes                                                                                 atomic.Uint64
	txFrames, txNoRoute, txPendingDrop, txRingFull                                            atomic.Uint64
}

// Packet is one received packet on its way up. It is a view into the
// driver's frame, valid only during the handler call.
type Packet struct {
	// Frame is the whole Ethernet frame.
	Frame []byte
	// Data is the current layer's bytes: the network header onwards after
	// the link layer, the transport header onwards after IPv4.
	Data []byte
	// Queue is the index of the rx queue it arrived on.
	Queue int
	// Src and Dst are the IPv4 addresses, set by the IPv4 layer.
	Src, Dst [4]byte
	// Network is the IPv4 header, set by the IPv4 layer (for a
	// reassembled datagram, the first fragment's header).
	Network header.IPv4
	// Broadcast is set when the IPv4 destination is a broadcast or
	// multicast address.
	Broadcast bool
	// Batched is set by Deliver when the loop delivering the frame's
	// queue ends its batches (EndBatch) and so is the only goroutine
	// delivering that queue's frames: the layers may count the frame in
	// that loop's own counters, published at the end of the batch.
	Batched bool
	// Reassembled is set when Data comes from reassembly (a heap copy).
	Reassembled bool
}

// NetworkHandler receives packets of one EtherType, with Data set to the
// network header onwards.
type NetworkHandler func(p *Packet)

// Stack is the link layer. See the package documentation.
type Stack struct {
	mac     header.MAC
	gateway header.MAC
	hasGW   bool
	addrs   []netip.Prefix
	// The addresses precomputed for the per-packet checks.
	local  []uint32 // our addresses
	nets   []ipNet  // our prefixes
	bcasts []uint32 // directed broadcast addresses of our prefixes
	mtu    int
	clock  func() time.Time

	// protos is the ptype_base table, copied on write so lookups take
	// no lock and allocate nothing.
	protos atomic.Pointer[[]protoEntry]
	// batchHooks run at the end of each received batch (EndBatch),
	// copied on write like protos.
	batchHooks atomic.Pointer[[]func(queue int)]
	ipv4       atomic.Pointer[NetworkHandler]
	regMu      sync.Mutex

	multicast atomic.Pointer[map[header.MAC]struct{}]

	link  atomic.Pointer[linkBox]
	neigh *neighbors

	txPool sync.Pool // *TxBuffer
	ipID   atomic.Uint32

	st    counters
	loops [loopstat.MaxLoops]linkLoop
}

// linkLoop is the link layer's side of the receive loop of one queue:
// counters the loop adds to without a locked instruction and publishes at
// the end of each batch (package loopstat).
type linkLoop struct {
	batched       atomic.Bool // the loop has ended a batch
	frames, bytes loopstat.Counter
	_             cpu.CacheLinePad
}

// New returns a stack. Attach a link to transmit, and hand received frames
// to Deliver.
func New(o Options) (*Stack, error) {
	if len(o.MAC) != 6 {
		return nil, fmt.Errorf("stack: MAC %v is not a 6-byte Ethernet address", o.MAC)
	}
	if len(o.Addrs) == 0 {
		return nil, errors.New("stack: no IPv4 address")
	}
	for _, p := range o.Addrs {
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("stack: %v is not an IPv4 prefix", p)
		}
	}
	if o.MTU == 0 {
		o.MTU = 1500
	}
	if o.MTU < 576 || o.MTU > 65535 {
		return nil, fmt.Errorf("stack: MTU %d out of range [576, 65535]", o.MTU)
	}
	if o.ARPCacheSize <= 0 {
		o.ARPCacheSize = 1024
	}
	if o.ARPTimeout <= 0 {
		o.ARPTimeout = 60 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &Stack{addrs: o.Addrs, mtu: o.MTU, clock: o.Clock}
	for _, p := range o.Addrs {
		mask := ^uint32(0) << (32 - p.Bits())
		if p.Bits() == 0 {
			mask = 0
		}
		a := be32(p.Addr().As4())
		s.local = append(s.local, a)
		s.nets = append(s.nets, ipNet{a & mask, mask})
		if p.Bits() < 31 {
			s.bcasts = append(s.bcasts, a|^mask)
		}
	}
	copy(s.mac[:], o.MAC)
	if len(o.GatewayMAC) == 6 {
		copy(s.gateway[:], o.GatewayMAC)
		s.hasGW = true
	}
	s.neigh = newNeighbors(s, o.ARPCacheSize, o.ARPTimeout)
	s.txPool.New = func() any { return &TxBuffer{b: make([]byte, header.EthernetSize+65535)} }
	s.ipID.Store(uint32(o.Clock().UnixNano()))
	return s, nil
}

// MAC returns the stack's hardware address.
func (s *Stack) MAC() header.MAC { return s.mac }

// Addrs returns the local addresses.
func (s *Stack) Addrs() []netip.Prefix { return s.addrs }

// MTU returns the link MTU.
func (s *Stack) MTU() int { return s.mtu }

// Now returns the stack's clock.
func (s *Stack) Now() time.Time { return s.clock() }

// NextIPID returns an IPv4 identification value.
func (s *Stack) NextIPID() uint16 { return uint16(s.ipID.Add(1)) }

type ipNet struct{ net, mask uint32 }

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// IsLocal reports whether a is one of our addresses.
func (s *Stack) IsLocal(a [4]byte) bool {
	v := be32(a)
	for _, l := range s.local {
		if l == v {
			return true
		}
	}
	return false
}

// IsBroadcast reports whether a is the limited broadcast address or the
// directed broadcast of one of our prefixes.
func (s *Stack) IsBroadcast(a [4]byte) bool {
	v := be32(a)
	if v == 0xffffffff {
		return true
	}
	for _, b := range s.bcasts {
		if b == v {
			return true
		}
	}
	return false
}

// OnLink reports whether a is inside one of our prefixes.
func (s *Stack) OnLink(a [4]byte) bool {
	v := be32(a)
	for _, n := range s.nets {
		if v&n.mask == n.net {
			return true
		}
	}
	return false
}

// SourceFor returns the local address to send to dst from: one whose
// prefix contains dst, else the first.
func (s *Stack) SourceFor(dst [4]byte) [4]byte {
	ad := netip.AddrFrom4(dst)
	for _, p := range s.addrs {
		if p.Contains(ad) {
			return p.Addr().As4()
		}
	}
	return s.addrs[0].Addr().As4()
}

type protoEntry struct {
	typ uint16
	h   NetworkHandler
}

// JoinMulticast accepts frames sent to the multicast MAC m.
func (s *Stack) JoinMulticast(m header.MAC) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	next := map[header.MAC]struct{}{m: {}}
	if cur := s.multicast.Load(); cur != nil {
		for k := range *cur {
			next[k] = struct{}{}
		}
	}
	s.multicast.Store(&next)
}

// LeaveMulticast stops accepting frames sent to m.
func (s *Stack) LeaveMulticast(m header.MAC) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	next := map[header.MAC]struct{}{}
	if cur := s.multicast.Load(); cur != nil {
		for k := range *cur {
			if k != m {
				next[k] = struct{}{}
			}
		}
	}
	s.multicast.Store(&next)
}

func (s *Stack) joined(m header.MAC) bool {
	cur := s.multicast.Load()
	if cur == nil {
		return false
	}
	_, ok := (*cur)[m]
	return ok
}

// RegisterNetworkProtocol registers h for frames of etherType, like
// dev_add_pack, replacing an earlier registration. IPv4 takes a fast
// path; ARP is built in.
func (s *Stack) RegisterNetworkProtocol(etherType uint16, h NetworkHandler) {
	if etherType == header.EtherTypeIPv4 {
		s.ipv4.Store(&h)
		return
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	var next []protoEntry
	if cur := s.protos.Load(); cur != nil {
		for _, e := range *cur {
			if e.typ != etherType {
				next = append(next, e)
			}
		}
	}
	next = append(next, protoEntry{etherType, h})
	s.protos.Store(&next)
}

// OnBatchEnd registers fn to run at the end of every received batch, on
// the receiving goroutine, with the batch's queue: where a layer publishes
// what the batch's frames produced once per batch rather than once per
// frame (socket queues, readers to wake, ACKs to send). Layers register
// from their constructors; fn must not block.
func (s *Stack) OnBatchEnd(fn func(queue int)) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	var next []func(int)
	if cur := s.batchHooks.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, fn)
	s.batchHooks.Store(&next)
}

// EndBatch tells the stack that a batch of frames from queue has been
// delivered: it publishes the counters the queue's loop kept for the batch
// and runs the OnBatchEnd hooks. A receive loop calls it after
// the last Deliver of each batch (package rxpath's StackHandler does).
// Layers rely on one rule: only the loop that ends queue q's batches
// delivers q's frames, so what a hook publishes for q has one writer.
func (s *Stack) EndBatch(queue int) {
	if uint(queue) < loopstat.MaxLoops {
		l := &s.loops[queue]
		if !l.batched.Load() {
			l.batched.Store(true)
		}
		l.frames.Publish()
		l.bytes.Publish()
	}
	if hs := s.batchHooks.Load(); hs != nil {
		for _, h := range *hs {
			h(queue)
		}
	}
}

func (s *Stack) protocol(typ uint16) NetworkHandler {
	if cur := s.protos.Load(); cur != nil {
		for _, e := range *cur {
			if e.typ == typ {
				return e.h
			}
		}
	}
	return nil
}

// linkBox holds the attached link behind an atomic pointer.
type linkBox struct{ l LinkEndpoint }

// Attach makes l the link the stack transmits on, replacing an earlier
// one (a device bound again after it went away), and sends a gratuitous
// ARP for each local address. It fails if l's MAC is not the stack's or
// l carries less than the stack's MTU. Safe for concurrent use.
func (s *Stack) Attach(l LinkEndpoint) error {
	if mac := l.MAC(); !bytes.Equal(mac, s.mac[:]) {
		return fmt.Errorf("stack: link MAC %v is not the stack's %v", mac, net.HardwareAddr(s.mac[:]))
	}
	if m := l.MTU(); m < s.mtu {
		return fmt.Errorf("stack: link MTU %d is below the stack's %d", m, s.mtu)
	}
	s.link.Store(&linkBox{l})
	for _, p := range s.addrs {
		s.neigh.gratuitous(p.Addr().As4())
	}
	return nil
}

// Deliver runs one received frame through the link layer. p.Frame and
// p.Queue must be set; the rest of p is scratch that Deliver overwrites.
// The frame is a view that Deliver does not keep (what must outlive the
// call is copied). Deliver allocates nothing for a frame that is not kept:
// a receive loop reuses one Packet per goroutine. Safe for concurrent use
// by several receive loops, each with its own Packet.
func (s *Stack) Deliver(p *Packet) {
	f := p.Frame
	p.Batched = false
	if uint(p.Queue) < loopstat.MaxLoops {
		if l := &s.loops[p.Queue]; l.batched.Load() {
			p.Batched = true
			l.frames.Add(1)
			l.bytes.Add(uint64(len(f)))
		}
	}
	if !p.Batched {
		s.st.frames.Add(1)
		s.st.bytes.Add(uint64(len(f)))
	}
	eth := header.Ethernet(f)
	if !eth.IsValid() {
		s.st.tooShort.Add(1)
		return
	}
	if dst := eth.Dst(); dst != s.mac && !dst.IsBroadcast() && !(dst.IsMulticast() && s.joined(dst)) {
		s.st.notForUs.Add(1)
		return
	}
	p.Data = eth.Payload()
	switch typ := eth.Type(); typ {
	case header.EtherTypeIPv4:
		if h := s.ipv4.Load(); h != nil {
			(*h)(p)
			return
		}
		s.st.unknownType.Add(1)
	case header.EtherTypeARP:
		s.neigh.handleARP(p)
	default:
		if h := s.protocol(typ); h != nil {
			h(p)
			return
		}
		s.st.unknownType.Add(1)
	}
}

// Stats returns the link-layer counters.
func (s *Stack) Stats() Stats {
	c := &s.st
	frames, bytes := c.frames.Load(), c.bytes.Load()
	for i := range s.loops {
		frames += s.loops[i].frames.Load()
		bytes += s.loops[i].bytes.Load()
	}
	return Stats{
		Frames: frames, Bytes: bytes, TooShort: c.tooShort.Load(), NotForUs: c.notForUs.Load(),
		UnknownType: c.unknownType.Load(), ARPMalformed: c.arpMalformed.Load(), ARPRequests: c.arpRequests.Load(),
		ARPIgnored: c.arpIgnored.Load(), ARPReplies: c.arpReplies.Load(), ARPSent: c.arpSent.Load(),
		ARPCacheFull: c.arpCacheFull.Load(), ARPCacheRefused: c.arpCacheRefused.Load(), ARPProbes: c.arpProbes.Load(), TxFrames: c.txFrames.Load(), TxNoRoute: c.txNoRoute.Load(),
		TxPendingDrop: c.txPendingDrop.Load(), TxRingFull: c.txRingFull.Load(),
		Neighbors: s.neigh.len(),
	}
}

// Neighbors returns the number of entries in the neighbour cache.
func (s *Stack) Neighbors() int { return s.neigh.len() }
