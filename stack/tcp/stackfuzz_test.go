package tcp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/channel"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/ipv4/fragment"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
)

// FuzzWholeStack drives the whole receive stack from one input: Ethernet
// and ARP, IPv4 with the filter and reassembly, ICMP, UDP (a queue socket
// and a handler socket) and TCP (an accept-mode listener, a handler-mode
// listener, active opens), through the channel driver and the real poller,
// on a fake clock. The input is a sequence of records, each behind a 2-byte
// big-endian header h:
//
//   - h&0x8000 == 0: a frame from the peer. A control byte follows, then
//     h bytes of frame (fewer if the input ends). The control byte's low 5
//     bits d advance the clock by d²·40 ms (up to 38 s) before the frame
//     arrives, running the timers due; 0x80 recomputes the IPv4 header and
//     the ICMP, UDP (unless zero) and TCP checksums of an unfragmented
//     datagram; 0x20 sets the IPv4 total length to the frame's (and a UDP
//     length to the datagram's); 0x40 makes a TCP segment's numbers
//     relative to its connection (our ISN is added to the ACK field, the
//     peer's ISN, once seen, to the sequence number, our last TSval to
//     the timestamp echo) and implies 0x80. So the fuzzer reaches deep TCP
//     states without guessing ISNs and checksums, and still sends raw
//     bytes when those bits are clear.
//   - h&0x8000 != 0: an application call, (h>>8)&0x7f selecting it and the
//     low byte its argument (see fuzzOp): accept, read, write, close,
//     close-write, dial, close a listener, UDP read and send, sleep,
//     cancel the dials in progress.
//
// After every record it checks (fuzzWorld.check):
//
//   - the ledger: every frame handed to the stack came back to the driver;
//   - the counters add up exactly at each layer: link frames = frames
//     injected = every link drop + ARP + IPv4 received; IPv4 received =
//     every drop reason + fragments held + delivered; delivered = ICMP +
//     UDP + TCP segments in; ICMP in = every ICMP outcome (a failed echo
//     reply, which has no ICMP counter, is checked frame by frame against
//     the IPv4 send errors); UDP = delivered + drops, and delivered = what
//     the sockets got; the filter's drop rules = the IPv4 filter drops;
//     TCP segments in >= the sum of the per-segment outcome counters (TCP
//     has no counter for segments it processes normally, see tcpSegsOut);
//   - memory: reassembly bytes <= its high mark, the neighbour cache <= its
//     size, the UDP queue <= its rcvbuf, per TCP connection the receive
//     buffer <= RcvBuf, the out-of-order queue <= RcvBuf, the send buffer
//     <= SndBuf; SYN queue <= SynQueue and accept queue <= Backlog per
//     listener; TIME_WAIT <= MaxTimeWait;
//   - TCP bookkeeping: every connection in the table is in exactly one
//     place (a listener's SYN queue or accept queue, or the application's
//     hands), CurrEstab = the table's size, no closed or TIME_WAIT
//     connection in the table, SND.UNA <= SND.NXT <= SND.MAX, and every
//     byte the connection acknowledged (RCV.NXT − IRS − 1, less the FIN)
//     reached the application exactly once (read, handed to the handler,
//     or buffered);
//   - every frame the stack sends is well formed, with correct checksums.
//
// At the end it closes the listeners and every connection, cancels the
// dials, lets the clock run until every timer has fired and checks that
// everything drained: no connection, no TIME_WAIT entry, no armed timer,
// empty listener queues, no reassembly state, the ledger balanced.
func FuzzWholeStack(f *testing.F) {
	// Each world allocates the UDP port table (512 KiB of pointers): with
	// the default GOGC the collector would run every few inputs and take
	// most of the time scanning it.
	defer debug.SetGCPercent(debug.SetGCPercent(800))
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		wd := time.AfterFunc(30*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic("fuzz input hung:\n" + string(buf[:n]))
		})
		defer wd.Stop()
		w := newFuzzWorld(t)
		w.run(in)
		w.finish()
	})
}

// The world's configuration: small buffers and short timers, so that short
// inputs reach the limits.
const (
	fzRcvBuf      = 8 << 10
	fzSndBuf      = 16 << 10
	fzRcvMem      = 16 << 10
	fzUDPRcvBuf   = 2 << 10
	fzReasmHigh   = 24 << 10
	fzARPCache    = 4
	fzMaxTimeWait = 3
	fzMaxDials    = 3
	fzTimeWait    = 3 * time.Second
	fzMaxRTO      = 4 * time.Second
	fzMaxRetries  = 3
)

// Control byte of a frame record.
const (
	ctrlFixChecksums = 0x80
	ctrlRelative     = 0x40
	ctrlFixLengths   = 0x20
	ctrlClock        = 0x1f
)

// fuzzOp is an application call record's selector.
type fuzzOp byte

const (
	opAccept        fuzzOp = iota // arg&1: listener (0: :80 accept mode, 1: :81 handler mode)
	opRead                        // arg&15: connection, (arg>>4+1)·512 bytes at most
	opWrite                       // arg&15: connection, (arg>>4+1)·300 bytes at most
	opClose                       // arg: connection
	opCloseWrite                  // arg: connection
	opDial                        // peer port 7000+arg%4
	opCloseListener               // arg&1: listener
	opUDPRead                     // one datagram from the queue socket
	opUDPSend                     // arg bytes to one of four destinations (arg&3)
	opSleep                       // advance the clock arg·250 ms
	opCancelDials                 // cancel the dials in progress (RFC 9293 CLOSE in SYN-SENT, SYN-RECEIVED)
	numOps
)

type fzTuple struct {
	peer         [4]byte
	pport, lport uint16
}

// fzISN is what the relative mode adds: our ISN, the peer's once seen,
// and the last timestamp we sent.
type fzISN struct {
	ours, peer uint32
	peerKnown  bool
	tsval      uint32
}

// fuzzWorld is one stack on a channel driver with its sockets, and the
// application's view of it.
type fuzzWorld struct {
	t      testing.TB
	now    atomic.Int64 // fake clock, Unix nanoseconds (Dial goroutines read it)
	q      *channel.Queue
	p      *poller.Poller
	s      *stack.Stack
	ip     *ipv4.IPv4
	filter *filter.Table
	udp    *udp.UDP
	uq, uh *udp.Conn
	tcp    *tcp.TCP
	l      [2]*tcp.Listener

	user    []*tcp.Conn // connections the application holds: accepted or dialed
	isUser  map[*tcp.Conn]bool
	got     map[*tcp.Conn]int // stream bytes the application took: read or handled
	isn     map[fzTuple]*fzISN
	dials   int
	ctx     context.Context
	cancel  context.CancelFunc
	dialsWG sync.WaitGroup

	injected, echoFailed, udpHandled, udpRead uint64
	frame, scratch, payload                   []byte
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	w := &fuzzWorld{t: tb, isUser: map[*tcp.Conn]bool{}, got: map[*tcp.Conn]int{}, isn: map[fzTuple]*fzISN{},
		scratch: make([]byte, 8<<10), payload: bytes.Repeat([]byte("0123456789abcdef"), 300)}
	w.now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	clock := func() time.Time { return time.Unix(0, w.now.Load()) }
	s, err := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}, Clock: clock,
		ARPCacheSize: fzARPCache})
	if err != nil {
		tb.Fatal(err)
	}
	w.s = s
	var rules []filter.Rule
	for _, r := range []string{"accept tcp dport 80", "drop udp dport 9002", "prerouting drop proto 47", "drop tcp dport 82"} {
		rule, err := filter.Parse(r)
		if err != nil {
			tb.Fatal(err)
		}
		rules = append(rules, rule)
	}
	w.filter = filter.NewTable(rules)
	w.ip = ipv4.New(s, ipv4.Options{Filter: w.filter, ICMPErrorBurst: 4,
		Reassembly: fragment.Options{HighBytes: fzReasmHigh, LowBytes: fzReasmHigh / 2, Timeout: time.Second, Clock: clock, MaxFragments: 8}})
	w.udp = udp.New(w.ip, udp.Options{PortUnreachable: true, RcvBuf: fzUDPRcvBuf})
	if w.uq, err = w.udp.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000), udp.SocketOptions{}); err != nil {
		tb.Fatal(err)
	}
	if w.uh, err = w.udp.Listen(netip.AddrPortFrom(ourIP, 9001), udp.SocketOptions{}); err != nil {
		tb.Fatal(err)
	}
	w.uh.SetHandler(func(d udp.Datagram) {
		w.udpHandled++
		_ = bytes.Count(d.Payload, []byte{0}) // touch every byte of the view
	})
	w.tcp = tcp.New(w.ip, tcp.Options{RcvBuf: fzRcvBuf, SndBuf: fzSndBuf, RcvMem: fzRcvMem, TimeWait: fzTimeWait,
		MaxTimeWait: fzMaxTimeWait, MaxRTO: fzMaxRTO, MaxRetries: fzMaxRetries, FinTimeout: fzTimeWait,
		Clock: clock, ManualTimers: true, CookieSecret: bytes.Repeat([]byte{7}, 32)})
	if w.l[0], err = w.tcp.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), tcp.ListenOptions{Backlog: 2, SynQueue: 2, SynRetries: 2}); err != nil {
		tb.Fatal(err)
	}
	handler := func(c *tcp.Conn) func([]byte) {
		return func(b []byte) { w.got[c] += len(b) }
	}
	if w.l[1], err = w.tcp.Listen(netip.AddrPortFrom(ourIP, 81), tcp.ListenOptions{Backlog: 3, SynQueue: 1, SynRetries: 2, Handler: handler}); err != nil {
		tb.Fatal(err)
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.q = channel.New(0, 64, 1024)
	rxpath.AttachQueues(s, w.q)
	w.p = poller.New(w.q, rxpath.StackHandler(s), poller.Options{})
	w.drainOut()
	return w
}

// run executes an input's records.
func (w *fuzzWorld) run(in []byte) {
	for len(in) >= 2 {
		h := binary.BigEndian.Uint16(in)
		in = in[2:]
		if h&0x8000 != 0 {
			w.op(fuzzOp(h>>8&0x7f), byte(h))
			w.drainOut()
			w.check()
			continue
		}
		if len(in) == 0 {
			return
		}
		ctrl := in[0]
		in = in[1:]
		n := min(int(h), len(in))
		w.inject(ctrl, in[:n])
		in = in[n:]
	}
}

// advance moves the clock and runs the timers due.
func (w *fuzzWorld) advance(d time.Duration) {
	if d <= 0 {
		return
	}
	w.tcp.Advance(time.Unix(0, w.now.Add(int64(d))))
	w.drainOut()
	w.check()
}

// inject delivers one frame record through the driver and the poller.
func (w *fuzzWorld) inject(ctrl byte, f []byte) {
	d := time.Duration(ctrl & ctrlClock)
	w.advance(d * d * 40 * time.Millisecond)
	w.frame = append(w.frame[:0], f...)
	w.fixup(ctrl, w.frame)
	before := w.ip.Stats()
	if !w.q.Inject(w.frame) {
		w.t.Fatalf("channel queue refused a frame with %d held", w.q.Stats().Buffers.Held)
	}
	w.injected++
	for w.p.Poll() > 0 {
	}
	after := w.ip.Stats()
	// One frame is at most one ICMP message. An echo request that got no
	// reply and no other verdict must have failed in the output path,
	// which counts it as an IPv4 send error only.
	in := after.ICMPIn - before.ICMPIn
	verdicts := icmpVerdicts(after) - icmpVerdicts(before)
	switch {
	case in > 1 || verdicts > in:
		w.t.Fatalf("one frame: ICMP in +%d, verdicts +%d", in, verdicts)
	case in == 1 && verdicts == 0:
		if after.SendErrors == before.SendErrors {
			w.t.Fatalf("an ICMP message vanished: no verdict and no send error\nbefore %+v\nafter %+v", before, after)
		}
		w.echoFailed++
	}
	w.drainOut()
	w.check()
}

func icmpVerdicts(s ipv4.Stats) uint64 {
	return s.ICMPTooShort + s.ICMPBadChecksum + s.ICMPOtherIgnored + s.ICMPEchoIgnored + s.ICMPEchoReplies
}

// fixup applies the control byte's rewrites to an IPv4 frame.
func (w *fuzzWorld) fixup(ctrl byte, f []byte) {
	if ctrl&(ctrlFixChecksums|ctrlRelative|ctrlFixLengths) == 0 || len(f) < header.EthernetSize+header.IPv4MinimumSize ||
		binary.BigEndian.Uint16(f[12:14]) != header.EtherTypeIPv4 {
		return
	}
	b := f[header.EthernetSize:]
	ihl := int(b[0]&0x0f) * 4
	if ihl < header.IPv4MinimumSize || ihl > len(b) {
		return
	}
	h := header.IPv4(b)
	if ctrl&ctrlFixLengths != 0 {
		h.SetTotalLength(uint16(min(len(b), 0xffff)))
	}
	if tl := int(h.TotalLength()); tl >= ihl && tl <= len(b) && !h.IsFragment() {
		h = h[:tl]
		src, dst := h.Src(), h.Dst()
		l4 := h[ihl:]
		switch h.Protocol() {
		case ipv4.ProtoTCP:
			if len(l4) < header.TCPMinimumSize {
				break
			}
			seg := header.TCP(l4)
			if ctrl&ctrlRelative != 0 {
				w.relative(src, seg)
			}
			if ctrl&(ctrlRelative|ctrlFixChecksums) != 0 {
				seg.SetChecksum(header.TCPChecksum(seg, src, dst))
			}
		case ipv4.ProtoUDP:
			if len(l4) < header.UDPSize {
				break
			}
			u := header.UDP(l4)
			if ctrl&ctrlFixLengths != 0 {
				binary.BigEndian.PutUint16(u[4:6], uint16(len(l4)))
			}
			if ctrl&(ctrlRelative|ctrlFixChecksums) != 0 && u.Checksum() != 0 && u.IsValid() {
				u.SetChecksum(header.UDPChecksum(u, src, dst))
			}
		case ipv4.ProtoICMP:
			if ctrl&(ctrlRelative|ctrlFixChecksums) != 0 && len(l4) >= header.ICMPv4MinimumSize {
				m := header.ICMPv4(l4)
				m.SetChecksum(0)
				m.SetChecksum(^header.Checksum(m, 0))
			}
		}
	}
	h = header.IPv4(b)
	h.SetChecksum(h.CalculateChecksum())
}

// relative rebases a segment's numbers on the connection's ISNs.
func (w *fuzzWorld) relative(src [4]byte, seg header.TCP) {
	e := w.isn[fzTuple{peer: src, pport: seg.SrcPort(), lport: seg.DstPort()}]
	if e == nil {
		return
	}
	binary.BigEndian.PutUint32(seg[8:12], seg.Ack()+e.ours)
	if e.peerKnown {
		binary.BigEndian.PutUint32(seg[4:8], seg.Seq()+e.peer)
	} else if seg.Flags()&header.TCPFlagSYN != 0 {
		e.peer, e.peerKnown = seg.Seq(), true // the SYN-ACK of an active open
	}
	// The timestamp echo, relative to our last TSval (SYN cookies check it).
	if off := seg.DataOffset(); off >= header.TCPMinimumSize && off <= len(seg) {
		for o := seg[header.TCPMinimumSize:off]; len(o) > 0 && o[0] != 0; {
			if o[0] == 1 {
				o = o[1:]
				continue
			}
			if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
				break
			}
			if o[0] == 8 && o[1] == 10 {
				binary.BigEndian.PutUint32(o[6:10], binary.BigEndian.Uint32(o[6:10])+e.tsval)
			}
			o = o[o[1]:]
		}
	}
}

// drainOut reads what the stack sent: it checks every frame and learns
// ISNs from SYNs for the relative mode.
func (w *fuzzWorld) drainOut() {
	for {
		select {
		case f := <-w.q.Outbound():
			w.checkOut(f)
		default:
			return
		}
	}
}

func (w *fuzzWorld) checkOut(f []byte) {
	eth := header.Ethernet(f)
	if !eth.IsValid() || eth.Src() != header.MAC(ourMAC) {
		w.t.Fatalf("sent a bad Ethernet frame % x", f)
	}
	switch eth.Type() {
	case header.EtherTypeARP:
		if !header.ARP(eth.Payload()).IsValid() {
			w.t.Fatalf("sent a bad ARP packet % x", f)
		}
		return
	case header.EtherTypeIPv4:
	default:
		w.t.Fatalf("sent EtherType %#x", eth.Type())
	}
	h := header.IPv4(eth.Payload())
	if !h.IsValid(len(h)) || !h.IsChecksumValid() || h.Src() != ourIP.As4() {
		w.t.Fatalf("sent a bad IPv4 packet % x", f)
	}
	if h.IsFragment() {
		return
	}
	src, dst, l4 := h.Src(), h.Dst(), h.Payload()
	switch h.Protocol() {
	case ipv4.ProtoICMP:
		if m := header.ICMPv4(l4); !m.IsValid() || !m.IsChecksumValid() {
			w.t.Fatalf("sent a bad ICMP message % x", f)
		}
	case ipv4.ProtoUDP:
		if u := header.UDP(l4); !u.IsValid() || int(u.Length()) != len(l4) || !u.IsChecksumValid(src, dst) {
			w.t.Fatalf("sent a bad UDP datagram % x", f)
		}
	case ipv4.ProtoTCP:
		seg := header.TCP(l4)
		if !seg.IsValid() || !seg.IsChecksumValid(src, dst) {
			w.t.Fatalf("sent a bad TCP segment % x", f)
		}
		var o header.TCPOptions
		if err := header.ParseTCPOptions(seg.Options(), &o); err != nil {
			w.t.Fatalf("sent bad TCP options % x: %v", seg.Options(), err)
		}
		k := fzTuple{peer: dst, pport: seg.DstPort(), lport: seg.SrcPort()}
		if seg.Flags()&header.TCPFlagSYN != 0 {
			e := &fzISN{ours: seg.Seq()}
			if seg.Flags()&header.TCPFlagACK != 0 {
				e.peer, e.peerKnown = seg.Ack()-1, true
			}
			w.isn[k] = e
		}
		if e := w.isn[k]; e != nil && o.HasTS {
			e.tsval = o.TSVal
		}
	default:
		w.t.Fatalf("sent IP protocol %d", h.Protocol())
	}
}

// conn returns the application's connection number i, or nil.
func (w *fuzzWorld) conn(i byte) *tcp.Conn {
	if len(w.user) == 0 {
		return nil
	}
	return w.user[int(i)%len(w.user)]
}

func (w *fuzzWorld) addUser(c *tcp.Conn) {
	if w.isUser[c] {
		w.t.Fatalf("connection %v handed out twice", c.RemoteAddrPort())
	}
	w.isUser[c] = true
	w.user = append(w.user, c)
}

// op runs an application call; none of them blocks.
func (w *fuzzWorld) op(op fuzzOp, arg byte) {
	switch op % numOps {
	case opAccept:
		l := w.l[arg&1]
		if i := l.FuzzInfo(); i.Closed || i.AcceptQ == 0 {
			return
		}
		c, err := l.AcceptTCP()
		if err != nil {
			w.t.Fatalf("accept with a connection queued: %v", err)
		}
		if i := c.FuzzInfo(); i.Listener != nil {
			w.t.Fatalf("accepted connection still points at its listener")
		}
		w.addUser(c)
	case opRead:
		c := w.conn(arg & 15)
		if c == nil {
			return
		}
		rcv, _ := c.Buffered()
		if rcv == 0 {
			return // Read would block
		}
		n, err := c.Read(w.scratch[:min(rcv, (int(arg>>4)+1)*512)])
		if err != nil && n > 0 {
			w.t.Fatalf("read %d bytes and %v", n, err)
		}
		w.got[c] += n
	case opWrite:
		c := w.conn(arg & 15)
		if c == nil {
			return
		}
		_, snd := c.Buffered()
		if n := min(fzSndBuf-snd, (int(arg>>4)+1)*300); n > 0 { // Write blocks only when the buffer is full
			c.Write(w.payload[:n])
		}
	case opClose:
		if c := w.conn(arg); c != nil {
			c.Close()
		}
	case opCloseWrite:
		if c := w.conn(arg); c != nil {
			c.CloseWrite()
		}
	case opDial:
		if w.dials >= fzMaxDials {
			return
		}
		w.dials++
		before := w.tcp.Stats().ActiveOpens
		raddr := netip.AddrPortFrom(peerIP, 7000+uint16(arg%4))
		w.dialsWG.Add(1)
		go func() {
			defer w.dialsWG.Done()
			w.tcp.Dial(w.ctx, raddr) // the connection is found below; its fate is checked by check
		}()
		for w.tcp.Stats().ActiveOpens == before { // Dial sent its SYN
			runtime.Gosched()
		}
		var dialed *tcp.Conn
		for _, c := range w.tcp.FuzzConns() {
			if !w.isUser[c] && c.FuzzInfo().State == tcp.StateSynSent {
				if dialed != nil {
					w.t.Fatal("two connections in SYN-SENT after one dial")
				}
				dialed = c
			}
		}
		if dialed == nil {
			w.t.Fatal("no connection in SYN-SENT after a dial")
		}
		w.addUser(dialed)
	case opCloseListener:
		w.l[arg&1].Close()
	case opUDPRead:
		if w.uq.Stats().Queued == 0 {
			return
		}
		if _, _, err := w.uq.ReadFromUDPAddrPort(w.scratch); err != nil {
			w.t.Fatalf("udp read with a datagram queued: %v", err)
		}
		w.udpRead++
	case opUDPSend:
		dst := [...]netip.Addr{peerIP, netip.MustParseAddr("10.99.0.3"), netip.MustParseAddr("10.99.0.255"),
			netip.MustParseAddr("192.0.2.1")}[arg&3]
		w.uq.WriteToUDPAddrPort(w.payload[:arg], netip.AddrPortFrom(dst, 7))
	case opSleep:
		w.advance(time.Duration(arg) * 250 * time.Millisecond)
	case opCancelDials:
		w.cancel()
		w.dialsWG.Wait()
		w.ctx, w.cancel = context.WithCancel(context.Background())
	}
}

// tcpSegsOut is the sum of the TCP counters that each count a segment's
// one and only outcome, so InSegs is at least this sum; it is not equal
// because
//   - segments processed normally have no counter, as in Linux: data and
//     ACKs on a connection, a SYN that creates one, an ACK answered in
//     TIME_WAIT;
//   - counters that can count twice for one segment, or along with one of
//     these, are left out: ListenDrops, ListenOverflows, TimeWaitReused,
//     ChallengeACKs;
//   - some drops have no counter: in SYN-SENT a segment with an
//     unacceptable ACK (answered with a RST, counted only in OutRsts), a
//     RST without ACK or with a bad one, a segment without SYN or RST; in
//     SYN-RECEIVED (and FIN-WAIT-1 after a CLOSE there) an ACK of the
//     wrong number (a RST, in OutRsts); data after the peer's FIN
//     (CLOSE-WAIT, CLOSING, LAST-ACK), which RFC 9293 ignores.
func tcpSegsOut(s tcp.Stats) uint64 {
	return s.BadHeader + s.InCsumErrors + s.NotUnicast + s.BadOptions + s.NoPort + // tcp_v4_rcv
		s.TimeWaitRSTIgnore + // TIME_WAIT
		s.ListenRSTDropped + s.ListenBadACK + s.SyncookiesDataDropped + s.SyncookiesACKDropped + s.SyncookiesRecv + s.SyncookiesSent + // LISTEN
		s.PAWSRejected + s.RSTOutOfWindow + s.KeepaliveACKs + s.OutOfWindow + s.RSTInWindow + s.RSTAccepted + // connections
		s.SYNChallenges + s.DataNoACK + s.ACKOutOfRange
}

// check verifies the invariants listed on FuzzWholeStack.
func (w *fuzzWorld) check() {
	t := w.t
	if err := w.q.Check(); err != nil {
		t.Fatal(err)
	}
	ls, is, us, ts := w.s.Stats(), w.ip.Stats(), w.udp.Stats(), w.tcp.Stats()

	// Link layer.
	if ls.Frames != w.injected {
		t.Fatalf("link saw %d frames, %d injected", ls.Frames, w.injected)
	}
	if sum := ls.TooShort + ls.NotForUs + ls.UnknownType + ls.ARPMalformed + ls.ARPRequests + ls.ARPIgnored + ls.ARPReplies + is.Received; sum != ls.Frames {
		t.Fatalf("link: %d frames, %d accounted for\nlink %+v\nipv4 %+v", ls.Frames, sum, ls, is)
	}
	if n := w.s.Neighbors(); n > fzARPCache {
		t.Fatalf("neighbour cache holds %d entries, size %d", n, fzARPCache)
	}

	// IPv4: every datagram received is dropped for one reason, held in
	// reassembly, or delivered.
	drops := is.TooShort + is.BadVersion + is.BadIHL + is.BadTotalLength + is.LengthBeyond + is.BadChecksum + is.BadOptions +
		is.SourceRoute + is.Martian + is.TTLZero + is.NotForUs + is.FilterPre + is.FilterIn + is.UnknownProto
	if held := is.Fragments - is.Reassembled; is.Received != drops+held+is.Delivered {
		t.Fatalf("ipv4: %d received, %d dropped + %d fragments absorbed + %d delivered\n%+v", is.Received, drops, held, is.Delivered, is)
	}
	r := is.Reassembly
	if r.Fragments != is.Fragments || r.Reassembled != is.Reassembled {
		t.Fatalf("ipv4 counts %d fragments and %d reassembled, reassembly %d and %d", is.Fragments, is.Reassembled, r.Fragments, r.Reassembled)
	}
	if r.Bytes > fzReasmHigh || r.Bytes < 0 || (r.Bytes == 0) != (r.Datagrams == 0) {
		t.Fatalf("reassembly holds %d bytes in %d datagrams, high mark %d", r.Bytes, r.Datagrams, fzReasmHigh)
	}
	if r.DroppedDatagrams < r.Timeouts+r.Evicted {
		t.Fatalf("reassembly dropped %d datagrams, fewer than %d timeouts + %d evicted", r.DroppedDatagrams, r.Timeouts, r.Evicted)
	}
	var filtered uint64
	for _, rs := range w.filter.Stats() {
		if rs.Verdict == "drop" {
			filtered += rs.Packets
		}
	}
	if filtered != is.FilterPre+is.FilterIn {
		t.Fatalf("filter drop rules matched %d packets, ipv4 dropped %d+%d", filtered, is.FilterPre, is.FilterIn)
	}
	udpIn := us.InDatagrams + us.NoPorts + us.InErrors
	if is.Delivered != is.ICMPIn+udpIn+ts.InSegs {
		t.Fatalf("ipv4 delivered %d: icmp %d + udp %d + tcp %d", is.Delivered, is.ICMPIn, udpIn, ts.InSegs)
	}

	// ICMP.
	if sum := icmpVerdicts(is) + w.echoFailed; sum != is.ICMPIn {
		t.Fatalf("icmp: %d in, %d accounted for (%d failed replies)\n%+v", is.ICMPIn, sum, w.echoFailed, is)
	}

	// UDP.
	if us.InErrors != us.BadLength+us.CsumErrors+us.RcvbufErrors {
		t.Fatalf("udp errors: %+v", us)
	}
	qs, hs := w.uq.Stats(), w.uh.Stats()
	if us.InDatagrams != qs.Received+hs.Received || hs.Received != w.udpHandled || qs.Received != w.udpRead+uint64(qs.Queued) {
		t.Fatalf("udp delivered %d; queue socket %+v (read %d); handler socket %+v (handled %d)", us.InDatagrams, qs, w.udpRead, hs, w.udpHandled)
	}
	if qs.QueuedLen > fzUDPRcvBuf {
		t.Fatalf("udp queue holds %d bytes, rcvbuf %d", qs.QueuedLen, fzUDPRcvBuf)
	}

	// TCP counters.
	if out := tcpSegsOut(ts); ts.InSegs < out {
		t.Fatalf("tcp: %d segments in, %d outcomes counted\n%+v", ts.InSegs, out, ts)
	}
	conns := w.tcp.FuzzConns()
	if ts.CurrEstab != int64(len(conns)) {
		t.Fatalf("tcp CurrEstab %d, %d connections", ts.CurrEstab, len(conns))
	}
	if n := w.tcp.TimeWaits(); n > fzMaxTimeWait {
		t.Fatalf("%d TIME_WAIT entries, limit %d", n, fzMaxTimeWait)
	}

	// Where each connection is.
	place := make(map[*tcp.Conn]string, len(conns))
	put := func(c *tcp.Conn, where string) {
		if p, ok := place[c]; ok {
			t.Fatalf("connection %v is both %s and %s", c.RemoteAddrPort(), p, where)
		}
		place[c] = where
	}
	for li, l := range w.l {
		i := l.FuzzInfo()
		if i.SynQ != i.Half || i.SynQ > i.SynQueue || i.AcceptQ != i.Pending || i.AcceptQ > i.Backlog {
			t.Fatalf("listener %d: SYN queue %d (%d half-open, max %d), accept queue %d (%d pending, backlog %d)",
				li, i.SynQ, i.Half, i.SynQueue, i.AcceptQ, i.Pending, i.Backlog)
		}
		if i.Closed && (i.SynQ != 0 || i.AcceptQ != 0) {
			t.Fatalf("closed listener %d holds %d half-open and %d established connections", li, i.SynQ, i.AcceptQ)
		}
		for _, c := range i.HalfConns {
			put(c, [...]string{"half-open at listener 0", "half-open at listener 1"}[li])
			if ci := c.FuzzInfo(); ci.State != tcp.StateSynReceived || !ci.SynCounted || ci.Listener != l {
				t.Fatalf("half-open connection at listener %d: %+v", li, ci)
			}
		}
		for _, c := range i.AcceptedConns {
			put(c, [...]string{"queued at listener 0", "queued at listener 1"}[li])
			if ci := c.FuzzInfo(); ci.SynCounted || ci.Listener != l || !ci.Established {
				t.Fatalf("connection queued at listener %d: %+v", li, ci)
			}
		}
	}
	for c := range w.isUser {
		if w.tcp.FuzzHasConn(c) {
			put(c, "the application's")
		}
	}
	for c, where := range place {
		if !w.tcp.FuzzHasConn(c) {
			t.Fatalf("connection %v %s is not in the table", c.RemoteAddrPort(), where)
		}
	}
	for _, c := range conns {
		where, ok := place[c]
		if !ok {
			t.Fatalf("connection %v (%v) is in the table but nowhere else: leaked", c.RemoteAddrPort(), c.FuzzInfo().State)
		}
		w.checkConn(c, where)
	}
}

// checkConn verifies one connection's bounds and bookkeeping.
func (w *fuzzWorld) checkConn(c *tcp.Conn, where string) {
	t := w.t
	i := c.FuzzInfo()
	fail := func(format string, args ...any) {
		t.Fatalf("connection %v (%s, %v): %s\n%+v", c.RemoteAddrPort(), where, i.State, fmt.Sprintf(format, args...), i)
	}
	switch i.State {
	case tcp.StateClosed, tcp.StateListen, tcp.StateTimeWait:
		fail("in the connection table")
	}
	if i.RcvBuffered > fzRcvBuf || i.OOOMem > fzRcvBuf || i.SndBuffered > fzSndBuf {
		fail("buffers: receive %d, out-of-order %d (memory %d), send %d; limits %d and %d", i.RcvBuffered, i.OOOBytes, i.OOOMem, i.SndBuffered, fzRcvBuf, fzSndBuf)
	}
	if i.Handler && i.RcvBuffered != 0 {
		fail("handler mode with %d bytes buffered", i.RcvBuffered)
	}
	if int32(i.SndNxt-i.SndUna) < 0 || int32(i.SndMax-i.SndNxt) < 0 {
		fail("SND.UNA %d, SND.NXT %d, SND.MAX %d out of order", i.SndUna, i.SndNxt, i.SndMax)
	}
	// Unsent counts an acknowledged FIN as a byte, so it means something
	// only while our FIN is not acknowledged: not in FIN-WAIT-2.
	if i.Established && !i.SynOutstanding && i.State != tcp.StateFinWait2 && (i.Unsent < 0 || i.Unsent > i.SndBuffered) {
		fail("%d bytes unsent of %d buffered", i.Unsent, i.SndBuffered)
	}
	if i.State == tcp.StateSynSent {
		return
	}
	want := i.RcvNxt - i.IRS - 1
	if i.FinReceived {
		want--
	}
	if got := uint32(w.got[c] + i.RcvBuffered); got != want {
		fail("acknowledged %d stream bytes, the application got %d (%d taken, %d buffered)", want, got, w.got[c], i.RcvBuffered)
	}
}

// finish closes everything, lets every timer run out and checks that the
// stack drained.
func (w *fuzzWorld) finish() {
	t := w.t
	t.Helper()
	for _, l := range w.l {
		l.Close()
	}
	for _, c := range w.user {
		c.Close()
	}
	w.cancel()
	w.dialsWG.Wait() // a dial in SYN-SENT is deleted, one in SYN-RECEIVED closes
	w.drainOut()
	w.check()
	for i := 0; i < 600 && (w.tcp.Conns() > 0 || w.tcp.TimeWaits() > 0 || w.tcp.FuzzTimers() > 0); i++ {
		w.advance(time.Second)
	}
	if n, tw, tm := w.tcp.Conns(), w.tcp.TimeWaits(), w.tcp.FuzzTimers(); n != 0 || tw != 0 || tm != 0 {
		var states []string
		for _, c := range w.tcp.FuzzConns() {
			states = append(states, fmt.Sprintf("%v %+v", c.RemoteAddrPort(), c.FuzzInfo()))
		}
		t.Fatalf("10 minutes after closing everything: %d connections, %d TIME_WAIT, %d timers armed\n%v", n, tw, tm, states)
	}
	if st := w.tcp.Stats(); st.CurrEstab != 0 {
		t.Fatalf("CurrEstab %d with no connection", st.CurrEstab)
	}
	w.now.Add(int64(time.Minute))
	w.ip.Expire()
	if r := w.ip.Stats().Reassembly; r.Bytes != 0 || r.Datagrams != 0 {
		t.Fatalf("reassembly after expiry: %+v", r)
	}
	w.uq.Close()
	w.uh.Close()
	w.tcp.Close()
	if err := w.q.Check(); err != nil {
		t.Fatal(err)
	}
}

// seedBuilder writes a FuzzWholeStack input while running it, so that
// seeds with absolute sequence numbers can answer our ISNs.
type seedBuilder struct {
	tb testing.TB
	w  *fuzzWorld
	in []byte
}

func newSeed(tb testing.TB) *seedBuilder { return &seedBuilder{tb: tb, w: newFuzzWorld(tb)} }

// newTCPSeed starts a seed with the peer's ARP request, so that our
// replies need no resolution.
func newTCPSeed(tb testing.TB) *seedBuilder {
	b := newSeed(tb)
	b.frame(0, fzARP(tb, layers.ARPRequest, peerIP, layers.EthernetBroadcast, ourIP))
	return b
}

func (b *seedBuilder) record(rec []byte) {
	b.in = append(b.in, rec...)
	b.w.run(rec)
}

// frame appends a frame record.
func (b *seedBuilder) frame(ctrl byte, f []byte) {
	rec := binary.BigEndian.AppendUint16(nil, uint16(len(f)))
	b.record(append(append(rec, ctrl), f...))
}

// op appends an application call.
func (b *seedBuilder) op(op fuzzOp, arg byte) { b.record([]byte{0x80 | byte(op), arg}) }

// ourISN is the ISN we sent to the peer's port pport from port lport.
func (b *seedBuilder) ourISN(lport, pport uint16) uint32 {
	e := b.w.isn[fzTuple{peer: peerIP.As4(), pport: pport, lport: lport}]
	if e == nil {
		b.tb.Fatalf("no SYN sent from port %d to %d", lport, pport)
	}
	return e.ours
}

func (b *seedBuilder) done() []byte {
	b.w.finish()
	return b.in
}

func fzSer(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func fzEth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: typ}
}

func fzIP(p layers.IPProtocol, dst netip.Addr) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Id: 77, Protocol: p, SrcIP: peerIP.AsSlice(), DstIP: dst.AsSlice()}
}

// fzSeg is a TCP segment from the peer, gopacket-built with correct
// checksums.
type fzSeg struct {
	sport, dport uint16
	seq, ack     uint32
	flags        string // any of "SAFRP"
	win          uint16
	opts         []layers.TCPOption
	data         []byte
}

func (s fzSeg) frame(tb testing.TB) []byte {
	ip := fzIP(layers.IPProtocolTCP, ourIP)
	t := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack, Window: s.win, Options: s.opts}
	setFlags(t, s.flags)
	t.SetNetworkLayerForChecksum(ip)
	return fzSer(tb, fzEth(layers.EthernetTypeIPv4), ip, t, gopacket.Payload(s.data))
}

func fzUDP(tb testing.TB, dst netip.Addr, sport, dport uint16, data []byte) []byte {
	ip := fzIP(layers.IPProtocolUDP, dst)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return fzSer(tb, fzEth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload(data))
}

func fzARP(tb testing.TB, op uint16, sender netip.Addr, dstMAC net.HardwareAddr, target netip.Addr) []byte {
	return fzSer(tb, &layers.Ethernet{SrcMAC: peerMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: op, SourceHwAddress: peerMAC, SourceProtAddress: sender.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
}

func fzEcho(tb testing.TB, dst netip.Addr) []byte {
	return fzSer(tb, fzEth(layers.EthernetTypeIPv4), fzIP(layers.IPProtocolICMPv4, dst),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1}, gopacket.Payload("abcdefgh"))
}

// fuzzSeeds are the seed inputs: every protocol, and TCP connections
// through their states, both with exact numbers (answering our ISNs) and
// in the relative mode.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	synOpts := []layers.TCPOption{opt(layers.TCPOptionKindMSS, 0x05, 0xb4), opt(layers.TCPOptionKindSACKPermitted),
		tsOpt(100, 0), opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindWindowScale, 7)}
	ts := func(v, e uint32) []layers.TCPOption {
		return []layers.TCPOption{opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindNop), tsOpt(v, e)}
	}
	data := func(n int) []byte { return bytes.Repeat([]byte{'d'}, n) }

	{ // Link, ARP, ICMP, UDP, fragments, the filter.
		b := newSeed(tb)
		b.frame(0, fzARP(tb, layers.ARPRequest, peerIP, layers.EthernetBroadcast, ourIP))
		b.frame(0, fzEcho(tb, ourIP))
		b.frame(0, fzEcho(tb, netip.MustParseAddr("10.99.0.255")))
		b.frame(0, fzUDP(tb, ourIP, 1, 9000, []byte("0123456789")))
		b.frame(0, fzUDP(tb, ourIP, 1, 9001, []byte("handled")))
		b.frame(0, fzUDP(tb, ourIP, 1, 9999, nil))
		b.frame(0, fzUDP(tb, ourIP, 1, 9002, []byte("filtered")))
		b.frame(0, fzSer(tb, fzEth(layers.EthernetTypeIPv4), fzIP(47, ourIP), gopacket.Payload("gre")))
		b.op(opUDPRead, 0)
		whole := make([]byte, 32) // a UDP header without checksum, then 24 bytes
		binary.BigEndian.PutUint16(whole[0:], 7)
		binary.BigEndian.PutUint16(whole[2:], 9000)
		binary.BigEndian.PutUint16(whole[4:], 32)
		f1, f2 := fzIP(layers.IPProtocolUDP, ourIP), fzIP(layers.IPProtocolUDP, ourIP)
		f1.Flags, f2.FragOffset = layers.IPv4MoreFragments, 2
		b.frame(ctrlClock&1, fzSer(tb, fzEth(layers.EthernetTypeIPv4), f1, gopacket.Payload(whole[:16])))
		b.frame(0, fzSer(tb, fzEth(layers.EthernetTypeIPv4), f2, gopacket.Payload(whole[16:])))
		b.frame(0, fzSer(tb, fzEth(layers.EthernetTypeIPv4), f1, gopacket.Payload(whole[:16]))) // times out
		b.op(opUDPSend, 0x10)
		b.op(opUDPSend, 0x11) // 10.99.0.3: ARP pending
		b.op(opUDPSend, 0x12) // broadcast
		b.op(opUDPSend, 0x13) // off-link, no gateway
		b.frame(0, fzARP(tb, layers.ARPReply, netip.MustParseAddr("10.99.0.3"), ourMAC, ourIP))
		b.frame(0, fzARP(tb, layers.ARPRequest, netip.MustParseAddr("10.99.0.9"), layers.EthernetBroadcast, netip.MustParseAddr("10.99.0.7")))
		other := fzUDP(tb, ourIP, 1, 9000, []byte("x"))
		other[0] = 0x04 // another unicast MAC
		b.frame(0, other)
		b.frame(0, []byte{1, 2, 3})
		b.frame(ctrlFixChecksums|ctrlFixLengths|3, fzUDP(tb, ourIP, 2, 9000, []byte("fixed up")))
		b.op(opSleep, 8)
		b.op(opUDPRead, 0)
		seeds = append(seeds, b.done())
	}
	{ // Passive open with every option, data in and out of order, a read,
		// the peer's FIN, our close: LAST-ACK to CLOSED. Exact numbers.
		b := newTCPSeed(tb)
		b.frame(0, fzSeg{sport: 40000, dport: 80, seq: 999, flags: "S", opts: synOpts, win: 65535}.frame(tb))
		isn := b.ourISN(80, 40000)
		b.frame(0, fzSeg{sport: 40000, dport: 80, seq: 1000, ack: isn + 1, flags: "A", win: 512, opts: ts(101, 0)}.frame(tb))
		b.frame(0, fzSeg{sport: 40000, dport: 80, seq: 1000, ack: isn + 1, flags: "AP", win: 512, opts: ts(102, 0), data: []byte("hello")}.frame(tb))
		b.frame(0, fzSeg{sport: 40000, dport: 80, seq: 1010, ack: isn + 1, flags: "AP", win: 512, opts: ts(103, 0), data: []byte("world")}.frame(tb))
		b.frame(0, fzSeg{sport: 40000, dport: 80, seq: 1005, ack: isn + 1, flags: "AP", win: 512, opts: ts(104, 0), data: []byte(", the ")}.frame(tb))
		b.op(opAccept, 0)
		b.op(opRead, 0)
		b.op(opWrite, 0x30)
		b.frame(2, fzSeg{sport: 40000, dport: 80, seq: 1015, ack: isn + 1 + 600, flags: "AF", win: 512, opts: ts(105, 0)}.frame(tb))
		b.op(opClose, 0)
		b.frame(0, fzSeg{sport: 40000, dport: 80, seq: 1016, ack: isn + 1 + 1200 + 1, flags: "A", win: 512, opts: ts(106, 0)}.frame(tb))
		seeds = append(seeds, b.done())
	}
	{ // Our active close into TIME_WAIT and its reuse by a new SYN; the
		// handler-mode listener with a RST in the window. Relative numbers.
		b := newTCPSeed(tb)
		rel := byte(ctrlRelative)
		b.frame(rel, fzSeg{sport: 40001, dport: 80, seq: 5000, flags: "S", win: 8192}.frame(tb))
		b.frame(rel, fzSeg{sport: 40001, dport: 80, seq: 1, ack: 1, flags: "A", win: 8192}.frame(tb))
		b.op(opAccept, 0)
		b.op(opWrite, 0x10)
		b.frame(rel, fzSeg{sport: 40001, dport: 80, seq: 1, ack: 601, flags: "A", win: 8192, data: data(100)}.frame(tb))
		b.op(opRead, 0)
		b.op(opClose, 0)
		b.frame(rel, fzSeg{sport: 40001, dport: 80, seq: 101, ack: 602, flags: "A", win: 8192}.frame(tb))
		b.frame(rel, fzSeg{sport: 40001, dport: 80, seq: 101, ack: 602, flags: "AF", win: 8192}.frame(tb))
		b.frame(rel|1, fzSeg{sport: 40001, dport: 80, seq: 101, ack: 602, flags: "AF", win: 8192}.frame(tb)) // retransmitted FIN in TIME_WAIT
		b.frame(rel, fzSeg{sport: 40001, dport: 80, seq: 100000, flags: "S", win: 8192}.frame(tb))           // reuses the 4-tuple
		b.frame(rel, fzSeg{sport: 40002, dport: 81, seq: 7000, flags: "S", win: 4096}.frame(tb))
		b.frame(rel, fzSeg{sport: 40002, dport: 81, seq: 1, ack: 1, flags: "A", win: 4096, data: data(1000)}.frame(tb))
		b.frame(rel, fzSeg{sport: 40002, dport: 81, seq: 2001, ack: 1, flags: "A", win: 4096, data: data(500)}.frame(tb))
		b.frame(rel, fzSeg{sport: 40002, dport: 81, seq: 1001, ack: 1, flags: "A", win: 4096, data: data(1000)}.frame(tb))
		b.frame(rel, fzSeg{sport: 40002, dport: 81, seq: 3000, ack: 1, flags: "R"}.frame(tb)) // in the window: challenged
		b.frame(rel, fzSeg{sport: 40002, dport: 81, seq: 2501, ack: 1, flags: "R"}.frame(tb)) // at RCV.NXT: resets
		b.op(opSleep, 40)
		seeds = append(seeds, b.done())
	}
	{ // A SYN flood past the SYN queue: SYN cookies, a cookie ACK with
		// data, the accept queue full.
		b := newTCPSeed(tb)
		for p := uint16(41000); p < 41005; p++ {
			b.frame(ctrlRelative, fzSeg{sport: p, dport: 80, seq: uint32(p) * 1000, flags: "S", opts: synOpts[:3], win: 1000}.frame(tb))
		}
		for p := uint16(41000); p < 41005; p++ {
			b.frame(ctrlRelative, fzSeg{sport: p, dport: 80, seq: 1, ack: 1, flags: "AP", win: 1000, opts: ts(101, 0), data: []byte("GET / HTTP/1.0\r\n\r\n")}.frame(tb))
			if p == 41001 { // the two from the SYN queue
				b.op(opAccept, 0)
				b.op(opAccept, 0)
			}
		}
		b.op(opRead, 0)
		b.op(opRead, 1)
		b.op(opAccept, 0)
		b.op(opRead, 2)
		b.op(opSleep, 20)
		seeds = append(seeds, b.done())
	}
	{ // Active opens: one completed with exact numbers, data both ways and
		// a FIN; one simultaneous open; one never answered.
		b := newTCPSeed(tb)
		b.op(opDial, 0)
		isn := b.ourISN(32768, 7000)
		b.frame(0, fzSeg{sport: 7000, dport: 32768, seq: 90000, ack: isn + 1, flags: "SA", win: 65535, opts: synOpts}.frame(tb))
		b.frame(0, fzSeg{sport: 7000, dport: 32768, seq: 90001, ack: isn + 1, flags: "AP", win: 65535, opts: ts(101, 0), data: []byte("banner\r\n")}.frame(tb))
		b.op(opWrite, 0x20)
		b.op(opRead, 0)
		b.frame(1, fzSeg{sport: 7000, dport: 32768, seq: 90009, ack: isn + 1 + 900, flags: "AF", win: 65535, opts: ts(102, 0)}.frame(tb))
		b.op(opClose, 0)
		b.frame(0, fzSeg{sport: 7000, dport: 32768, seq: 90010, ack: isn + 1 + 900 + 1, flags: "A", win: 65535, opts: ts(103, 0)}.frame(tb))
		b.op(opDial, 1)
		b.frame(ctrlRelative, fzSeg{sport: 7001, dport: 32769, seq: 3000, flags: "S", win: 1024}.frame(tb))
		b.frame(ctrlRelative, fzSeg{sport: 7001, dport: 32769, seq: 1, ack: 1, flags: "A", win: 1024}.frame(tb))
		b.op(opDial, 2)
		b.op(opSleep, 12)
		seeds = append(seeds, b.done())
	}
	{ // The receive window: fill it without reading (zero window, data
		// beyond it, out of order with SACK), then read; a zero window
		// from the peer against our writes (persist probes), keepalives.
		b := newTCPSeed(tb)
		rel := byte(ctrlRelative)
		b.frame(rel, fzSeg{sport: 42000, dport: 80, seq: 0, flags: "S", opts: synOpts, win: 65535}.frame(tb))
		b.frame(rel, fzSeg{sport: 42000, dport: 80, seq: 1, ack: 1, flags: "A", win: 0, opts: ts(101, 0)}.frame(tb))
		b.op(opAccept, 0)
		b.op(opWrite, 0xf0)
		for i := uint32(0); i < 8; i++ {
			seq := 1 + i*1200
			if i == 2 {
				continue // a hole
			}
			b.frame(rel, fzSeg{sport: 42000, dport: 80, seq: seq, ack: 1, flags: "A", win: 0, opts: ts(102+i, 0), data: data(1200)}.frame(tb))
		}
		b.frame(rel, fzSeg{sport: 42000, dport: 80, seq: 2401, ack: 1, flags: "A", win: 0, opts: ts(120, 0), data: data(1200)}.frame(tb))
		b.frame(rel|4, fzSeg{sport: 42000, dport: 80, seq: 0, ack: 1, flags: "A", win: 0, opts: ts(121, 0)}.frame(tb)) // keepalive
		b.op(opRead, 0xf0)
		b.op(opSleep, 30)
		b.frame(rel, fzSeg{sport: 42000, dport: 80, seq: 8192, ack: 1, flags: "A", win: 200, opts: ts(122, 0)}.frame(tb))
		b.op(opCloseWrite, 0)
		b.op(opSleep, 60)
		seeds = append(seeds, b.done())
	}
	{ // Malformed and unusual link, ARP, IPv4 and ICMP input; fragments
		// that overlap, repeat, misalign, exceed the count or the memory.
		b := newSeed(tb)
		fix := byte(ctrlFixChecksums)
		ipf := func(ip *layers.IPv4, l ...gopacket.SerializableLayer) []byte {
			for _, x := range l {
				if u, ok := x.(*layers.UDP); ok {
					u.SetNetworkLayerForChecksum(ip)
				}
			}
			return fzSer(tb, append([]gopacket.SerializableLayer{fzEth(layers.EthernetTypeIPv4), ip}, l...)...)
		}
		b.frame(0, fzARP(tb, layers.ARPRequest, netip.IPv4Unspecified(), layers.EthernetBroadcast, ourIP)) // a probe
		b.frame(0, fzARP(tb, layers.ARPRequest, ourIP, layers.EthernetBroadcast, ourIP))                   // claims our address
		bad := fzARP(tb, layers.ARPReply, peerIP, ourMAC, ourIP)
		bad[14+5] = 6 // protocol length
		b.frame(0, bad)
		for i := 3; i < 9; i++ { // more neighbours than the cache holds, each with a reply waiting
			b.op(opUDPSend, 0x01) // to 10.99.0.3, pending
			b.frame(0, fzARP(tb, layers.ARPRequest, netip.AddrFrom4([4]byte{10, 99, 0, byte(i + 10)}), layers.EthernetBroadcast, ourIP))
		}
		opts := fzIP(layers.IPProtocolUDP, ourIP)
		opts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		b.frame(0, ipf(opts, &layers.UDP{SrcPort: 1, DstPort: 9000}, gopacket.Payload("options")))
		lsrr := fzIP(layers.IPProtocolUDP, ourIP)
		lsrr.Options = []layers.IPv4Option{{OptionType: 131, OptionLength: 7, OptionData: []byte{4, 10, 99, 0, 1}}, {OptionType: 0}}
		b.frame(0, ipf(lsrr, &layers.UDP{SrcPort: 1, DstPort: 9000}))
		badOpt := ipf(opts, &layers.UDP{SrcPort: 1, DstPort: 9000})
		badOpt[14+20] = 7 // a record route option running past the header
		b.frame(fix, badOpt)
		for _, patch := range []func(f []byte){
			func(f []byte) { f[14+8] = 0 },                            // TTL 0
			func(f []byte) { copy(f[14+12:], []byte{127, 0, 0, 1}) },  // martian source
			func(f []byte) { copy(f[14+16:], []byte{10, 99, 0, 77}) }, // not for us
			func(f []byte) { copy(f[14+16:], []byte{224, 0, 0, 1}) },  // multicast
			func(f []byte) { f[14] = 0x65 },                           // version 6
			func(f []byte) { f[14] = 0x44 },                           // IHL 4
			func(f []byte) { f[14+3] = 0xff },                         // total length beyond the frame
			func(f []byte) { f[14+3] = 4 },                            // total length below the header
		} {
			f := fzUDP(tb, ourIP, 1, 9000, []byte("patched"))
			patch(f)
			b.frame(fix, f)
		}
		csum := fzUDP(tb, ourIP, 1, 9000, []byte("bad checksum"))
		csum[14+10] ^= 0xff
		b.frame(0, csum)
		udpCsum := fzUDP(tb, ourIP, 1, 9000, []byte("bad udp checksum"))
		udpCsum[14+20+6] ^= 0xff
		b.frame(0, udpCsum)
		udpLen := fzUDP(tb, ourIP, 1, 9000, []byte("bad udp length"))
		udpLen[14+20+5] = 200
		b.frame(0, udpLen)
		b.frame(0, fzUDP(tb, netip.MustParseAddr("10.99.0.255"), 1, 9000, []byte("broadcast")))
		b.frame(0, fzSer(tb, fzEth(layers.EthernetTypeIPv4), fzIP(layers.IPProtocolICMPv4, ourIP),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 3)}, gopacket.Payload("quoted")))
		echo := fzEcho(tb, ourIP)
		echo[14+20+2] ^= 0xff
		b.frame(0, echo)
		b.frame(fix|ctrlFixLengths, fzEcho(tb, ourIP)[:14+20+4])
		far := fzSer(tb, fzEth(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4,
			SrcIP: net.IP{192, 0, 2, 9}, DstIP: ourIP.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 2, Seq: 2})
		b.frame(0, far) // the reply has no route
		for i := 0; i < 6; i++ {
			b.frame(0, fzUDP(tb, ourIP, 1, 9999, nil)) // port unreachable, rate limited
		}
		b.frame(0, fzSer(tb, &layers.Ethernet{SrcMAC: peerMAC, DstMAC: ourMAC, EthernetType: 0x86dd}, gopacket.Payload("ipv6")))
		frag := func(id uint16, off uint16, more bool, data []byte) []byte {
			ip := fzIP(layers.IPProtocolUDP, ourIP)
			ip.Id, ip.FragOffset = id, off/8
			if more {
				ip.Flags = layers.IPv4MoreFragments
			}
			return ipf(ip, gopacket.Payload(data))
		}
		d16, d8 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 8)
		b.frame(0, frag(1, 0, true, d16))
		b.frame(0, frag(1, 0, true, d16))      // duplicate
		b.frame(0, frag(1, 8, true, d16))      // overlap
		b.frame(0, frag(2, 4, true, d16))      // misaligned
		b.frame(0, frag(3, 65512, false, d16)) // ping of death
		b.frame(0, frag(4, 16, false, d8))
		b.frame(0, frag(4, 64, false, d8)) // a second, different end
		for i := uint16(0); i < 10; i++ {
			b.frame(0, frag(5, i*8, true, d8)) // more than MaxFragments
		}
		big := bytes.Repeat([]byte{3}, 1400)
		for id := uint16(10); id < 30; id++ {
			b.frame(0, frag(id, 0, true, big)) // past the high mark: evictions
		}
		b.op(opSleep, 8) // reassembly timeout
		b.frame(0, frag(40, 8, false, d8))
		seeds = append(seeds, b.done())
	}
	{ // TCP input that the acceptance tests reject: PAWS, RSTs, SYNs,
		// data without ACK, ACKs out of range, duplicates; segments for
		// listeners and closed ports; malformed headers.
		b := newTCPSeed(tb)
		rel := byte(ctrlRelative)
		sg := func(seq, ack uint32, flags string, tsv uint32, data []byte) []byte {
			return fzSeg{sport: 43000, dport: 80, seq: seq, ack: ack, flags: flags, win: 4096, opts: ts(tsv, 0), data: data}.frame(tb)
		}
		b.frame(rel, fzSeg{sport: 43000, dport: 80, seq: 0, flags: "S", opts: synOpts, win: 4096}.frame(tb))
		b.frame(rel, fzSeg{sport: 43000, dport: 80, seq: 0, flags: "S", opts: synOpts, win: 4096}.frame(tb)) // SYN again: SYN-ACK again
		b.frame(rel, sg(1, 5, "A", 101, nil))                                                                // wrong ACK in SYN-RECEIVED
		b.frame(rel, sg(1, 1, "A", 102, nil))
		b.op(opAccept, 0)
		b.frame(rel, sg(1, 1, "A", 50, data(10)))       // PAWS
		b.frame(rel, sg(100000, 1, "R", 103, nil))      // RST out of window
		b.frame(rel, sg(5, 1, "R", 103, nil))           // RST in window
		b.frame(rel, sg(1, 1, "S", 104, nil))           // SYN in ESTABLISHED
		b.frame(rel, sg(1, 1, "S", 105, nil))           // again: rate limited
		b.frame(rel, sg(1, 0, "P", 106, data(10)))      // no ACK
		b.frame(rel, sg(1, 100000, "A", 107, data(10))) // ACK beyond SND.NXT
		b.frame(rel, sg(1, 1, "AP", 108, data(10)))
		b.frame(rel|2, sg(1, 1, "AP", 109, data(20))) // half duplicate
		b.frame(rel, sg(41, 1, "AF", 110, data(10)))  // FIN beyond a hole
		b.frame(rel, sg(21, 1, "A", 111, data(20)))   // fills it: the FIN too
		b.op(opWrite, 0x40)                           // 1500 bytes: two segments
		b.frame(rel, sg(52, 1, "A", 112, nil))        // dup ACKs
		b.frame(rel, sg(52, 1, "A", 113, nil))
		b.frame(rel, sg(52, 1, "A", 114, nil))
		b.frame(rel, sg(52, 537, "A", 115, nil)) // partial ACK
		b.op(opSleep, 12)                        // RTO: go back N
		b.frame(rel, sg(52, 1501, "A", 116, nil))
		b.op(opClose, 0) // LAST-ACK
		b.frame(rel|5, sg(52, 1502, "A", 117, nil))
		// A listener's segments, a closed port's, broken headers.
		b.frame(rel, fzSeg{sport: 43001, dport: 80, seq: 1, flags: "R"}.frame(tb))
		b.frame(rel, fzSeg{sport: 43001, dport: 80, seq: 1, ack: 9, flags: "SA"}.frame(tb))
		b.frame(rel, fzSeg{sport: 43001, dport: 80, seq: 1, ack: 9, flags: "A"}.frame(tb))
		b.frame(rel, fzSeg{sport: 43001, dport: 80, seq: 1, flags: "F"}.frame(tb))
		b.frame(rel, fzSeg{sport: 43001, dport: 80, seq: 1, ack: 9, flags: "AP", data: data(5)}.frame(tb))
		b.frame(rel, fzSeg{sport: 43001, dport: 79, seq: 1, flags: "S"}.frame(tb))
		b.frame(rel, fzSeg{sport: 43001, dport: 82, seq: 1, flags: "S"}.frame(tb)) // filtered
		csum := fzSeg{sport: 43001, dport: 80, seq: 1, flags: "S"}.frame(tb)
		csum[14+20+16] ^= 0xff
		b.frame(0, csum)
		doff := fzSeg{sport: 43001, dport: 80, seq: 1, flags: "S"}.frame(tb)
		doff[14+20+12] = 0x40
		b.frame(ctrlFixChecksums, doff)
		badOpt := fzSeg{sport: 43001, dport: 80, seq: 1, flags: "S", opts: []layers.TCPOption{opt(layers.TCPOptionKindMSS, 5, 0xb4)}}.frame(tb)
		badOpt[14+20+21] = 9 // option length past the header
		b.frame(ctrlFixChecksums, badOpt)
		bcast := fzSeg{sport: 43001, dport: 80, seq: 1, flags: "S"}.frame(tb)
		copy(bcast[14+16:], []byte{10, 99, 0, 255})
		b.frame(ctrlFixChecksums, bcast)
		seeds = append(seeds, b.done())
	}
	{ // Closing: simultaneous close into CLOSING, half-close, FIN-WAIT-2
		// timing out, a RST in TIME_WAIT, TIME_WAIT overflow.
		b := newTCPSeed(tb)
		rel := byte(ctrlRelative)
		for i, p := range []uint16{44000, 44001, 44002, 44003, 44006} {
			b.frame(rel, fzSeg{sport: p, dport: 81, seq: 0, flags: "S", win: 4096}.frame(tb))
			b.frame(rel, fzSeg{sport: p, dport: 81, seq: 1, ack: 1, flags: "A", win: 4096, data: data(10)}.frame(tb))
			b.op(opAccept, 1)
			b.op(opClose, byte(i)) // FIN-WAIT-1
		}
		b.frame(rel, fzSeg{sport: 44000, dport: 81, seq: 11, ack: 1, flags: "AF", win: 4096}.frame(tb)) // crosses our FIN: CLOSING
		b.frame(rel, fzSeg{sport: 44000, dport: 81, seq: 12, ack: 2, flags: "A", win: 4096}.frame(tb))  // TIME_WAIT
		b.frame(rel, fzSeg{sport: 44000, dport: 81, seq: 12, ack: 2, flags: "R"}.frame(tb))             // ignored
		b.frame(rel, fzSeg{sport: 44001, dport: 81, seq: 11, ack: 2, flags: "A", win: 4096}.frame(tb))  // FIN-WAIT-2
		b.frame(rel, fzSeg{sport: 44001, dport: 81, seq: 11, ack: 2, flags: "A", win: 4096, data: data(5)}.frame(tb))
		b.frame(rel, fzSeg{sport: 44002, dport: 81, seq: 11, ack: 2, flags: "AF", win: 4096}.frame(tb)) // FIN+ACK: TIME_WAIT
		b.frame(rel, fzSeg{sport: 44003, dport: 81, seq: 11, ack: 2, flags: "AF", win: 4096}.frame(tb))
		b.frame(rel, fzSeg{sport: 44006, dport: 81, seq: 11, ack: 2, flags: "AF", win: 4096}.frame(tb)) // a fourth TIME_WAIT: overflow
		b.frame(rel, fzSeg{sport: 44004, dport: 80, seq: 0, flags: "S", win: 4096}.frame(tb))
		b.frame(rel, fzSeg{sport: 44004, dport: 80, seq: 1, ack: 1, flags: "A", win: 4096}.frame(tb))
		b.op(opAccept, 0)
		b.op(opCloseWrite, 5)
		b.frame(rel, fzSeg{sport: 44004, dport: 80, seq: 1, ack: 2, flags: "AP", win: 4096, data: data(7)}.frame(tb))
		b.op(opRead, 5)
		b.op(opSleep, 20) // FIN-WAIT-2 and TIME_WAIT time out
		b.op(opCloseListener, 1)
		b.frame(rel, fzSeg{sport: 44005, dport: 81, seq: 0, flags: "S", win: 4096}.frame(tb))
		seeds = append(seeds, b.done())
	}
	{ // SYN-SENT: a bad ACK, a RST without ACK, a bare ACK, a refusal;
		// a simultaneous open cancelled in SYN-RECEIVED, whose FIN waits
		// for the ACK of our SYN.
		b := newTCPSeed(tb)
		rel := byte(ctrlRelative)
		b.op(opDial, 0)
		b.frame(rel, fzSeg{sport: 7000, dport: 32768, seq: 500, ack: 7, flags: "A"}.frame(tb))
		b.frame(rel, fzSeg{sport: 7000, dport: 32768, seq: 500, flags: "R"}.frame(tb))
		b.frame(rel, fzSeg{sport: 7000, dport: 32768, seq: 500, ack: 1, flags: "A"}.frame(tb))
		b.frame(rel, fzSeg{sport: 7000, dport: 32768, seq: 500, ack: 1, flags: "RA"}.frame(tb))
		b.op(opDial, 1)
		b.frame(rel, fzSeg{sport: 7001, dport: 32769, seq: 900, flags: "S", win: 2048, opts: synOpts}.frame(tb))
		b.op(opCancelDials, 0)
		b.frame(rel, fzSeg{sport: 7001, dport: 32769, seq: 1, ack: 1, flags: "A", win: 2048, opts: ts(101, 0)}.frame(tb))
		b.frame(rel, fzSeg{sport: 7001, dport: 32769, seq: 1, ack: 2, flags: "AF", win: 2048, opts: ts(102, 0)}.frame(tb))
		b.op(opDial, 2)
		b.op(opSleep, 40) // SYN retransmissions, then the dial times out
		seeds = append(seeds, b.done())
	}
	return seeds
}
