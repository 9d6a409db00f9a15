package stackcost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/sys/affinity"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
	"github.com/rxpath/rxpath/poller"
)

// The TCP stream's shape: a Linux client's full-size segments on a
// 1500-byte MTU with timestamps (12 bytes of options), one frame per
// segment.
const (
	// SegmentPayload is the payload of every data segment.
	SegmentPayload = 1448
	// TCPFrameLen is the length of a data segment's frame without FCS.
	TCPFrameLen = 14 + 20 + 32 + SegmentPayload

	// Offsets into a data frame (Ethernet, IPv4 without options, TCP
	// with NOP, NOP, timestamps).
	offTCP   = 14 + 20
	offSeq   = offTCP + 4
	offCsum  = offTCP + 16
	offTSVal = offTCP + 20 + 4

	// passFrames is how many frames one pass of the arena holds: they are
	// stamped with their sequence numbers between passes, outside the
	// timed sections.
	passFrames = 1024
	// maxLag bounds the stream bytes fed but not yet read, so that a stack
	// that delivers asynchronously (gVisor) never runs out of receive
	// buffer and drops a segment that nothing would retransmit.
	maxLag = 512 << 10
	// stallTimeout is how long the stream may make no progress before the
	// measurement fails.
	stallTimeout = 10 * time.Second
	// peerISN and peerTS are the client's initial sequence number and
	// timestamp clock.
	peerISN = 1_000_000
	peerTS  = 1000
)

// TCPSink is a stack under test listening on Dst, for MeasureTCP.
type TCPSink interface {
	// Handler is given to the poller.
	Handler() poller.Handler
	// Outbound returns the next frame the stack transmitted, waiting up
	// to timeout for one; nil if none came. Only used for the handshake.
	Outbound(timeout time.Duration) []byte
	// DiscardOutbound drops what the stack transmitted and returns how
	// many frames that was.
	DiscardOutbound() int
	// Accept waits up to timeout for the connection of the handshake.
	Accept(timeout time.Duration) error
	// Drain reads every stream byte the connection holds, copying it out
	// as an application does, and returns how many it read.
	Drain() int
	// WaitReadable waits up to timeout for bytes to read, for a stack that
	// delivers on goroutines of its own.
	WaitReadable(timeout time.Duration)
	// Close releases the stack.
	Close() error
}

// stream is the client's side of the connection: the handshake frames,
// then an arena of data frames stamped pass after pass.
type stream struct {
	tmpl  []byte   // a data frame with sequence number seq0 and timestamp ts0
	arena [][]byte // passFrames frames, one backing array
	seq0  uint32
	ts0   uint32
	seq   uint32 // next sequence number to send
	ts    uint32 // the client's timestamp clock
	ack   uint32 // the stack's ISN + 1
	tsEcr uint32 // the stack's last timestamp
	csum  uint16 // tmpl's TCP checksum
}

func serialize(ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, err
	}
	return append([]byte(nil), buf.Bytes()...), nil
}

// segment builds one frame from the client with gopacket.
func segment(tcp *layers.TCP, payload []byte) ([]byte, error) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
		SrcIP: Src.Addr().AsSlice(), DstIP: Dst.Addr().AsSlice()}
	tcp.SrcPort, tcp.DstPort = layers.TCPPort(Src.Port()), layers.TCPPort(Dst.Port())
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	return serialize(&layers.Ethernet{SrcMAC: SrcMAC, DstMAC: DstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, tcp, gopacket.Payload(payload))
}

func tsOption(val, ecr uint32) layers.TCPOption {
	d := make([]byte, 8)
	binary.BigEndian.PutUint32(d, val)
	binary.BigEndian.PutUint32(d[4:], ecr)
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: d}
}

// synFrame is a Linux client's SYN: MSS 1460, SACK permitted, timestamps,
// window scale 7.
func synFrame() ([]byte, error) {
	return segment(&layers.TCP{Seq: peerISN, SYN: true, Window: 64240, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		tsOption(peerTS, 0),
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}}, nil)
}

// parseSYNACK checks that frame is the stack's SYN-ACK to synFrame and
// returns its sequence number and timestamp. ok is false for a frame that
// is not TCP (a gratuitous ARP).
func parseSYNACK(frame []byte) (isn, tsVal uint32, ok bool, err error) {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	t, isTCP := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !isTCP {
		return 0, 0, false, nil
	}
	if !t.SYN || !t.ACK || t.RST || t.Ack != peerISN+1 {
		return 0, 0, true, fmt.Errorf("want a SYN-ACK acking %d, got seq %d ack %d flags SYN %v ACK %v RST %v",
			peerISN+1, t.Seq, t.Ack, t.SYN, t.ACK, t.RST)
	}
	for _, o := range t.Options {
		if o.OptionType == layers.TCPOptionKindTimestamps && len(o.OptionData) == 8 {
			return t.Seq, binary.BigEndian.Uint32(o.OptionData), true, nil
		}
	}
	return 0, 0, true, errors.New("the SYN-ACK has no timestamps")
}

// newStream builds the data frames of a connection whose SYN-ACK carried
// isn and tsVal.
func newStream(isn, tsVal uint32) (*stream, error) {
	st := &stream{seq0: peerISN + 1, ts0: peerTS + 1, ack: isn + 1, tsEcr: tsVal}
	st.seq, st.ts = st.seq0, st.ts0
	payload := make([]byte, SegmentPayload)
	for i := range payload {
		payload[i] = byte(i % 251)
	}
	var err error
	st.tmpl, err = segment(&layers.TCP{Seq: st.seq0, Ack: st.ack, ACK: true, Window: 0xffff, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		tsOption(st.ts0, st.tsEcr),
	}}, payload)
	if err != nil {
		return nil, err
	}
	if len(st.tmpl) != TCPFrameLen {
		return nil, fmt.Errorf("data frame is %d bytes, want %d", len(st.tmpl), TCPFrameLen)
	}
	st.csum = binary.BigEndian.Uint16(st.tmpl[offCsum:])
	back := make([]byte, passFrames*TCPFrameLen)
	st.arena = make([][]byte, passFrames)
	for i := range st.arena {
		st.arena[i] = back[i*TCPFrameLen : (i+1)*TCPFrameLen : (i+1)*TCPFrameLen]
		copy(st.arena[i], st.tmpl)
	}
	return st, nil
}

// handshakeACK is the client's ACK of the SYN-ACK.
func (st *stream) handshakeACK() ([]byte, error) {
	return segment(&layers.TCP{Seq: st.seq0, Ack: st.ack, ACK: true, Window: 0xffff, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		tsOption(peerTS, st.tsEcr),
	}}, nil)
}

// stamp gives the arena's first n frames the next sequence numbers and a
// new timestamp, updating the TCP checksum incrementally (RFC 1624), and
// returns them.
func (st *stream) stamp(n int) [][]byte {
	st.ts++
	for _, f := range st.arena[:n] {
		binary.BigEndian.PutUint32(f[offSeq:], st.seq)
		binary.BigEndian.PutUint32(f[offTSVal:], st.ts)
		c := csumAdjust(st.csum, st.seq0, st.seq)
		binary.BigEndian.PutUint16(f[offCsum:], csumAdjust(c, st.ts0, st.ts))
		st.seq += SegmentPayload
	}
	return st.arena[:n]
}

// csumAdjust updates an Internet checksum for a 32-bit field that changed
// from old to new (RFC 1624, eqn. 3).
func csumAdjust(c uint16, old, new uint32) uint16 {
	s := uint32(^c) + uint32(^uint16(old>>16)) + uint32(^uint16(old)) + new>>16 + new&0xffff
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// handshake runs the three-way handshake through the poller, reading the
// SYN-ACK the stack sent, and returns the stream of the connection.
func handshake(p *poller.Poller, f *Feed, sink TCPSink) (*stream, error) {
	syn, err := synFrame()
	if err != nil {
		return nil, err
	}
	f.load([][]byte{syn})
	if n := p.Poll(); n != 1 {
		return nil, fmt.Errorf("handshake: the SYN was not received (%d frames)", n)
	}
	var isn, tsVal uint32
	for {
		fr := sink.Outbound(5 * time.Second)
		if fr == nil {
			return nil, errors.New("handshake: no SYN-ACK")
		}
		var ok bool
		isn, tsVal, ok, err = parseSYNACK(fr)
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		if ok {
			break
		}
	}
	st, err := newStream(isn, tsVal)
	if err != nil {
		return nil, err
	}
	ack, err := st.handshakeACK()
	if err != nil {
		return nil, err
	}
	f.load([][]byte{ack})
	if n := p.Poll(); n != 1 {
		return nil, fmt.Errorf("handshake: the ACK was not received (%d frames)", n)
	}
	if err := sink.Accept(5 * time.Second); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	f.setCapture(false)
	sink.DiscardOutbound()
	return st, nil
}

// MeasureTCP runs, on one thread, a three-way handshake into the sink
// newSink makes, then streams in-order full-size segments of that one
// connection through a poller into it: Reps repetitions of at least
// Packets segments (whole passes of 1024) after a warm-up of a tenth of
// that. The application drains the connection after every poll round.
// Every stream byte fed must be read: a shortfall is an error.
//
// The frames are stamped with their sequence numbers between passes,
// outside the timed sections; the time, the process CPU time and the
// allocations are those of the poll rounds and the reads, plus, for a
// stack that delivers on goroutines of its own, the wait at the end of
// each pass until every byte is read.
func MeasureTCP(newSink func(*Feed) (TCPSink, error), o Options) ([]report.CostRep, error) {
	if o.Packets == 0 || o.Reps <= 0 {
		return nil, errors.New("stack cost: need packets and reps")
	}
	type result struct {
		reps []report.CostRep
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: a pinned thread must not go back to the pool.
		runtime.LockOSThread()
		var r result
		defer func() { done <- r }()
		if o.Pin {
			if err := affinity.Pin(o.CPU); err != nil {
				r.err = err
				return
			}
		}
		if o.Nice != 0 {
			_ = setNice(o.Nice) // best effort
		}
		f := newFeed()
		sink, err := newSink(f)
		if err != nil {
			r.err = err
			return
		}
		defer func() { r.err = errors.Join(r.err, sink.Close()) }()
		p := poller.New(f, sink.Handler(), poller.Options{})
		st, err := handshake(p, f, sink)
		if err != nil {
			r.err = err
			return
		}
		if _, err := st.run(p, f, sink, max(o.Packets/10, 1)); err != nil {
			r.err = fmt.Errorf("warm-up: %w", err)
			return
		}
		for range o.Reps {
			c, err := st.run(p, f, sink, o.Packets)
			if err != nil {
				r.err = err
				return
			}
			r.reps = append(r.reps, c)
		}
		r.err = f.Check()
	}()
	r := <-done
	return r.reps, r.err
}

// run streams at least n segments, whole passes, and reads them.
func (st *stream) run(p *poller.Poller, f *Feed, sink TCPSink, n uint64) (report.CostRep, error) {
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var c report.CostRep
	var read uint64
	for c.Packets < n {
		frames := st.stamp(passFrames)
		f.load(frames)
		fed := c.Packets * SegmentPayload
		start := time.Now()
		cpu0, _ := sysstat.ProcessCPU()
		for f.pending() > 0 {
			k := p.Poll()
			if k == 0 {
				return c, errors.New("the feed produced no frames")
			}
			fed += uint64(k) * SegmentPayload
			c.TxFrames += uint64(sink.DiscardOutbound())
			read += uint64(sink.Drain())
			if err := st.catchUp(sink, &c, &read, fed, maxLag); err != nil {
				return c, err
			}
		}
		if err := st.catchUp(sink, &c, &read, fed, 0); err != nil {
			return c, err
		}
		cpu1, err := sysstat.ProcessCPU()
		c.ElapsedNS += int64(time.Since(start))
		if err == nil {
			c.CPUNS += int64(cpu1 - cpu0)
		}
		c.Packets += uint64(len(frames))
	}
	runtime.ReadMemStats(&ms1)
	c.Allocs = ms1.Mallocs - ms0.Mallocs
	c.Bytes = ms1.TotalAlloc - ms0.TotalAlloc
	c.DeliveredBytes = read
	c.Delivered = read / SegmentPayload
	if read != c.Packets*SegmentPayload {
		return c, fmt.Errorf("%d segments (%d bytes) fed but %d bytes read", c.Packets, c.Packets*SegmentPayload, read)
	}
	return c, nil
}

// catchUp reads until no more than lag bytes of the fed ones are unread,
// or fails once the stream stalls.
func (st *stream) catchUp(sink TCPSink, c *report.CostRep, read *uint64, fed, lag uint64) error {
	var deadline time.Time
	for fed-*read > lag {
		if deadline.IsZero() {
			deadline = time.Now().Add(stallTimeout)
		} else if time.Now().After(deadline) {
			return fmt.Errorf("stream stalled: %d of %d bytes read after %v", *read, fed, stallTimeout)
		}
		sink.WaitReadable(10 * time.Millisecond)
		c.TxFrames += uint64(sink.DiscardOutbound())
		*read += uint64(sink.Drain())
	}
	return nil
}
