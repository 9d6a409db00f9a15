package ipv4

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/internal/loopstat"
	"github.com/rxpath/rxpath/stack/ipv4/fragment"
	"golang.org/x/sys/cpu"
)

// Protocol numbers.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// Options configures the IPv4 layer. The zero value means the defaults.
type Options struct {
	// Reassembly configures fragment reassembly (4 MiB high, 3 MiB low,
	// 30 s timeout by default).
	Reassembly fragment.Options
	// Filter is the rule table consulted at PRE_ROUTING and LOCAL_IN.
	Filter *filter.Table
	// ICMPErrorRate and ICMPErrorBurst shape the token bucket for ICMP
	// errors (default 1000/s, burst 50).
	ICMPErrorRate  int
	ICMPErrorBurst int
	// TTL of packets we send (default 64).
	TTL uint8
}

// TransportHandler receives packets of one IP protocol with p.Data set to
// the transport header onwards.
type TransportHandler func(p *stack.Packet)

// Stats are the IPv4 and ICMP counters, one per drop reason.
type Stats struct {
	Received       uint64 `json:"received"`
	Delivered      uint64 `json:"delivered"`
	TooShort       uint64 `json:"too_short"`
	BadVersion     uint64 `json:"bad_version"`
	BadIHL         uint64 `json:"bad_ihl"`
	BadTotalLength uint64 `json:"bad_total_length"`
	LengthBeyond   uint64 `json:"total_length_beyond_frame"`
	BadChecksum    uint64 `json:"bad_checksum"`
	BadOptions     uint64 `json:"bad_options"`
	SourceRoute    uint64 `json:"source_route"`
	Martian        uint64 `json:"martian_source"`
	TTLZero        uint64 `json:"ttl_zero"`
	NotForUs       uint64 `json:"not_for_us"`
	FilterPre      uint64 `json:"filter_prerouting_dropped"`
	FilterIn       uint64 `json:"filter_input_dropped"`
	Fragments      uint64 `json:"fragments"`
	Reassembled    uint64 `json:"reassembled"`
	UnknownProto   uint64 `json:"unknown_protocol"`

	ICMPIn           uint64 `json:"icmp_in"`
	ICMPBadChecksum  uint64 `json:"icmp_bad_checksum"`
	ICMPTooShort     uint64 `json:"icmp_too_short"`
	ICMPEchoReplies  uint64 `json:"icmp_echo_replies"`
	ICMPEchoIgnored  uint64 `json:"icmp_echo_broadcast_ignored"`
	ICMPOtherIgnored uint64 `json:"icmp_other_ignored"`
	ICMPErrorsSent   uint64 `json:"icmp_errors_sent"`
	ICMPRateLimited  uint64 `json:"icmp_rate_limited"`

	Sent       uint64         `json:"sent"`
	SentFrags  uint64         `json:"sent_fragments"`
	SendErrors uint64         `json:"send_errors"`
	TooBigNoDF uint64         `json:"too_big_df"`
	Reassembly fragment.Stats `json:"reassembly"`
}

type counters struct {
	received, delivered, tooShort, badVersion, badIHL, badTotalLength, lengthBeyond atomic.Uint64
	badChecksum, badOptions, sourceRoute, martian, ttlZero, notForUs                atomic.Uint64
	filterPre, filterIn, fragments, reassembled, unknownProto                       atomic.Uint64
	icmpIn, icmpBadChecksum, icmpTooShort, icmpEchoReplies, icmpEchoIgnored         atomic.Uint64
	icmpOtherIgnored, icmpErrorsSent, icmpRateLimited                               atomic.Uint64
	sent, sentFrags, sendErrors, tooBigDF                                           atomic.Uint64
}

// IPv4 is the IPv4 layer of a stack. Safe for concurrent use.
type IPv4 struct {
	s      *stack.Stack
	opts   Options
	filter *filter.Table
	reasm  *fragment.Reassembler
	protos [256]atomic.Pointer[TransportHandler]

	bucketMu sync.Mutex
	tokens   float64
	last     time.Time

	st    counters
	loops [loopstat.MaxLoops]ipLoop
}

// ipLoop is the counters of the per-frame path that the receive loop of
// one queue keeps itself when the stack marks its packets Batched,
// published at the end of each batch (package loopstat).
type ipLoop struct {
	received, delivered loopstat.Counter
	_                   cpu.CacheLinePad
}

// endBatch is the stack's batch-end hook: it publishes queue q's counters.
func (ip *IPv4) endBatch(q int) {
	if uint(q) < loopstat.MaxLoops {
		l := &ip.loops[q]
		l.received.Publish()
		l.delivered.Publish()
	}
}

// New creates the IPv4 layer and registers it with s for EtherType 0x0800.
func New(s *stack.Stack, o Options) *IPv4 {
	if o.ICMPErrorRate <= 0 {
		o.ICMPErrorRate = 1000
	}
	if o.ICMPErrorBurst <= 0 {
		o.ICMPErrorBurst = 50
	}
	if o.TTL == 0 {
		o.TTL = 64
	}
	if o.Reassembly.Clock == nil {
		o.Reassembly.Clock = s.Now
	}
	ip := &IPv4{s: s, opts: o, filter: o.Filter, reasm: fragment.New(o.Reassembly), tokens: float64(o.ICMPErrorBurst)}
	if ip.filter == nil {
		ip.filter = filter.NewTable(nil)
	}
	s.RegisterNetworkProtocol(header.EtherTypeIPv4, ip.receive)
	s.OnBatchEnd(ip.endBatch)
	return ip
}

// Stack returns the link layer below.
func (ip *IPv4) Stack() *stack.Stack { return ip.s }

// Filter returns the rule table.
func (ip *IPv4) Filter() *filter.Table { return ip.filter }

// RegisterTransport registers h for IP protocol proto, like
// inet_add_protocol, replacing an earlier registration.
func (ip *IPv4) RegisterTransport(proto uint8, h TransportHandler) {
	ip.protos[proto].Store(&h)
}

// Expire drops timed-out reassembly state (the layer also does it lazily,
// when fragments arrive) and runs the stack's neighbour timers
// (stack.Stack.Expire).
func (ip *IPv4) Expire() {
	ip.reasm.Expire()
	ip.s.Expire()
}

// ExpireEvery calls Expire every d on a goroutine of its own until stop is
// called, so that what a fragment flood left behind is freed at its
// timeout even when no fragment follows (ip_expire's timer). Callers with
// a fake clock call Expire themselves instead.
func (ip *IPv4) ExpireEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				ip.Expire()
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-exited })
	}
}

func isMartianSource(a [4]byte) bool {
	return a[0] == 127 || a[0]&0xf0 == 0xe0 || a[0]&0xf0 == 0xf0 || a == [4]byte{}
}

// receive is ip_rcv.
func (ip *IPv4) receive(p *stack.Packet) {
	c := &ip.st
	if p.Batched {
		ip.loops[p.Queue].received.Add(1)
	} else {
		c.received.Add(1)
	}
	h := header.IPv4(p.Data)
	switch h.Validate(len(p.Data)) {
	case header.IPv4OK:
	case header.IPv4TooShort:
		c.tooShort.Add(1)
		return
	case header.IPv4BadVersion:
		c.badVersion.Add(1)
		return
	case header.IPv4BadIHL:
		c.badIHL.Add(1)
		return
	case header.IPv4BadTotalLength:
		c.badTotalLength.Add(1)
		return
	default:
		c.lengthBeyond.Add(1)
		return
	}
	if !h.IsChecksumValid() {
		c.badChecksum.Add(1)
		return
	}
	h = h[:h.TotalLength()] // drop link-layer padding
	if h.HeaderLength() > header.IPv4MinimumSize {
		srcRoute := false
		err := header.ParseIPv4Options(h.Options(), func(typ byte, _ []byte) bool {
			if typ == header.IPv4OptionLSRR || typ == header.IPv4OptionSSRR {
				srcRoute = true
				return false
			}
			return true
		})
		if err != nil {
			c.badOptions.Add(1)
			return
		}
		if srcRoute {
			c.sourceRoute.Add(1)
			return
		}
	}
	src, dst := h.Src(), h.Dst()
	if isMartianSource(src) || ip.s.IsBroadcast(src) || ip.s.IsLocal(src) {
		c.martian.Add(1)
		return
	}
	if h.TTL() == 0 {
		c.ttlZero.Add(1)
		return
	}
	bcast := ip.s.IsBroadcast(dst) || dst[0]&0xf0 == 0xe0
	if !bcast && !ip.s.IsLocal(dst) {
		c.notForUs.Add(1)
		return
	}
	p.Network, p.Src, p.Dst, p.Broadcast = h, src, dst, bcast
	p.Data = h.Payload()

	var fp filter.Packet
	if ip.filter.Len() > 0 {
		ip.filterPacket(&fp, p, !h.IsFragment() || h.FragmentOffset() == 0)
		if v, _ := ip.filter.Match(filter.PreRouting, &fp); v == filter.Drop {
			c.filterPre.Add(1)
			return
		}
	}
	if h.IsFragment() {
		c.fragments.Add(1)
		payload, first, done := ip.reasm.Process(fragment.Key{Src: src, Dst: dst, ID: h.ID(), Proto: h.Protocol()},
			h[:h.HeaderLength()], h.FragmentOffset(), h.More(), p.Data)
		if !done {
			return
		}
		c.reassembled.Add(1)
		fh := header.IPv4(first)
		p.Network, p.Data, p.Reassembled = fh, payload, true
	}
	ip.deliver(p, &fp)
}

// filterPacket describes p for the rule table.
func (ip *IPv4) filterPacket(fp *filter.Packet, p *stack.Packet, ports bool) {
	*fp = filter.Packet{Proto: p.Network.Protocol(), Src: p.Src, Dst: p.Dst, Queue: p.Queue, Len: len(p.Network)}
	if !ports {
		return
	}
	switch fp.Proto {
	case ProtoUDP, ProtoTCP:
		if len(p.Data) >= 4 {
			fp.SrcPort = uint16(p.Data[0])<<8 | uint16(p.Data[1])
			fp.DstPort = uint16(p.Data[2])<<8 | uint16(p.Data[3])
			fp.HasPorts = true
		}
	}
}

// deliver is ip_local_deliver_finish: LOCAL_IN, then the protocol table.
func (ip *IPv4) deliver(p *stack.Packet, fp *filter.Packet) {
	c := &ip.st
	proto := p.Network.Protocol()
	if ip.filter.Len() > 0 {
		ip.filterPacket(fp, p, true)
		if p.Reassembled {
			fp.Len = header.IPv4MinimumSize + len(p.Data)
		}
		if v, _ := ip.filter.Match(filter.LocalIn, fp); v == filter.Drop {
			c.filterIn.Add(1)
			return
		}
	}
	var h *TransportHandler
	if proto != ProtoICMP {
		if h = ip.protos[proto].Load(); h == nil {
			c.unknownProto.Add(1)
			return
		}
	}
	if p.Batched {
		ip.loops[p.Queue].delivered.Add(1)
	} else {
		c.delivered.Add(1)
	}
	if h == nil {
		ip.receiveICMP(p)
		return
	}
	(*h)(p)
}

// Stats returns the counters.
func (ip *IPv4) Stats() Stats {
	c := &ip.st
	received, delivered := c.received.Load(), c.delivered.Load()
	for i := range ip.loops {
		received += ip.loops[i].received.Load()
		delivered += ip.loops[i].delivered.Load()
	}
	return Stats{
		Received: received, Delivered: delivered, TooShort: c.tooShort.Load(),
		BadVersion: c.badVersion.Load(), BadIHL: c.badIHL.Load(), BadTotalLength: c.badTotalLength.Load(),
		LengthBeyond: c.lengthBeyond.Load(), BadChecksum: c.badChecksum.Load(), BadOptions: c.badOptions.Load(),
		SourceRoute: c.sourceRoute.Load(), Martian: c.martian.Load(), TTLZero: c.ttlZero.Load(),
		NotForUs: c.notForUs.Load(), FilterPre: c.filterPre.Load(), FilterIn: c.filterIn.Load(),
		Fragments: c.fragments.Load(), Reassembled: c.reassembled.Load(), UnknownProto: c.unknownProto.Load(),
		ICMPIn: c.icmpIn.Load(), ICMPBadChecksum: c.icmpBadChecksum.Load(), ICMPTooShort: c.icmpTooShort.Load(),
		ICMPEchoReplies: c.icmpEchoReplies.Load(), ICMPEchoIgnored: c.icmpEchoIgnored.Load(),
		ICMPOtherIgnored: c.icmpOtherIgnored.Load(), ICMPErrorsSent: c.icmpErrorsSent.Load(),
		ICMPRateLimited: c.icmpRateLimited.Load(), Sent: c.sent.Load(), SentFrags: c.sentFrags.Load(),
		SendErrors: c.sendErrors.Load(), TooBigNoDF: c.tooBigDF.Load(), Reassembly: ip.reasm.Stats(),
	}
}
