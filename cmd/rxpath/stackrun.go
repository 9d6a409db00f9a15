package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
	"github.com/rxpath/rxpath/tap/pcapexpr"
)

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type stackFlags struct {
	ip, gateway     string
	sinks, filters  []string
	tcpSinks        []string
	tcpEcho         []string
	httpPorts       []string
	pcap            string
	pcapng          bool
	snaplen         int
	tapFilter       string
	portUnreachable bool
}

// stackRun is what `rxpath run --ip` adds to the node: the flags that
// shape its stack, and the sinks, echo and HTTP servers bound on it. The
// root package builds the stack; stackRun only configures it and binds
// its sockets (rxpath.Config.Setup).
type stackRun struct {
	f      stackFlags
	addr   netip.Prefix
	gw     net.HardwareAddr
	n      *rxpath.Node
	sinks  []*udpSink
	conns  []*udp.Conn
	tsinks []*tcpSink
	lns    []*tcp.Listener
	closed bool
}

func newStackRun(f stackFlags) (*stackRun, error) {
	r := &stackRun{f: f}
	var err error
	if r.addr, err = netip.ParsePrefix(f.ip); err != nil || !r.addr.Addr().Is4() {
		return nil, usageError{fmt.Errorf("run: --ip %q: want an IPv4 address with prefix, e.g. 10.99.0.2/24", f.ip)}
	}
	if f.gateway != "" {
		if r.gw, err = net.ParseMAC(f.gateway); err != nil {
			return nil, usageError{fmt.Errorf("run: --gateway-mac: %w", err)}
		}
	}
	for _, s := range f.filters {
		if _, err := filter.Parse(s); err != nil {
			return nil, usageError{fmt.Errorf("run: --filter: %w", err)}
		}
	}
	for _, s := range f.sinks {
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil || p == 0 {
			return nil, usageError{fmt.Errorf("run: --udp-sink %q: want a port number", s)}
		}
		r.sinks = append(r.sinks, &udpSink{port: uint16(p)})
	}
	for _, s := range f.tcpSinks {
		p, err := strconv.ParseUint(s, 10, 16)
		if err != nil || p == 0 {
			return nil, usageError{fmt.Errorf("run: --tcp-sink %q: want a port number", s)}
		}
		r.tsinks = append(r.tsinks, &tcpSink{port: uint16(p)})
	}
	for _, list := range [][]string{f.tcpEcho, f.httpPorts} {
		for _, s := range list {
			if p, err := strconv.ParseUint(s, 10, 16); err != nil || p == 0 {
				return nil, usageError{fmt.Errorf("run: port %q: want a port number", s)}
			}
		}
	}
	if f.pcap != "" && f.tapFilter != "" {
		// Fail on a bad capture filter before anything is bound.
		if _, err := pcapexpr.Compile(f.tapFilter); err != nil {
			return nil, fmt.Errorf("run: --pcap: %w", err)
		}
	}
	return r, nil
}

// configure puts the stack's part of the flags into cfg.
func (r *stackRun) configure(cfg *rxpath.Config) {
	cfg.Addr, cfg.GatewayMAC, cfg.Filter = r.addr, r.gw, r.f.filters
	cfg.UDP.PortUnreachable = r.f.portUnreachable
	if r.f.pcap != "" {
		cfg.Pcap = r.f.pcap
		cfg.PcapOptions = tap.Options{Snaplen: r.f.snaplen, Expr: r.f.tapFilter}
		if r.f.pcapng {
			cfg.PcapOptions.Format = tap.PCAPNG
		}
	}
	cfg.Setup = r.setup
}

// setup binds the sinks and servers on the node's stack, before the
// pollers start (rxpath.Config.Setup).
func (r *stackRun) setup(n *rxpath.Node) error {
	r.n = n
	for _, k := range r.sinks {
		c, err := n.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), k.port))
		if err != nil {
			return fmt.Errorf("udp sink %d: %w", k.port, err)
		}
		c.SetHandler(k.handle)
		r.conns = append(r.conns, c)
	}
	any4 := netip.IPv4Unspecified()
	for _, k := range r.tsinks {
		l, err := n.ListenTCP(netip.AddrPortFrom(any4, k.port), k.options())
		if err != nil {
			return fmt.Errorf("tcp sink %d: %w", k.port, err)
		}
		k.l = l
		r.lns = append(r.lns, l)
		go k.serve()
	}
	for i, list := range [][]string{r.f.tcpEcho, r.f.httpPorts} {
		for _, s := range list {
			p, _ := strconv.ParseUint(s, 10, 16)
			l, err := n.ListenTCP(netip.AddrPortFrom(any4, uint16(p)), tcp.ListenOptions{Backlog: 1024})
			if err != nil {
				return fmt.Errorf("tcp port %d: %w", p, err)
			}
			r.lns = append(r.lns, l)
			if i == 0 {
				go tcpEcho(l)
			} else {
				go httpHello(l)
			}
		}
	}
	return nil
}

// line is the stack's part of the per-interval stats from the live
// counters.
func (r *stackRun) line() string {
	if r.n == nil {
		return ""
	}
	ss, ip, u := r.n.Stack.Stats(), r.n.IPv4.Stats(), r.n.UDP.Stats()
	s := summary.Summary{Stack: &ss, IPv4: &ip, UDP: &u}
	for _, k := range r.sinks {
		s.UDPSinks = append(s.UDPSinks, k.stats())
	}
	return stackLine(s)
}

// stackLine is the stack's part of the per-interval stats: rxpath run
// prints it for its live counters, rxpath stats for a Summary rebuilt from
// the metrics.
func stackLine(s summary.Summary) string {
	ip, u := *s.IPv4, *s.UDP
	ipDrops := ip.TooShort + ip.BadVersion + ip.BadIHL + ip.BadTotalLength + ip.LengthBeyond + ip.BadChecksum +
		ip.BadOptions + ip.SourceRoute + ip.Martian + ip.TTLZero + ip.NotForUs + ip.UnknownProto
	var sink uint64
	for _, k := range s.UDPSinks {
		sink += k.Datagrams
	}
	return fmt.Sprintf("eth not_for_us=%d | ip in=%d drops=%d filtered=%d frags=%d | icmp echo=%d | udp in=%d noport=%d csum=%d rcvbuf=%d | sinks=%d",
		s.Stack.NotForUs, ip.Received, ipDrops, ip.FilterPre+ip.FilterIn, ip.Fragments, ip.ICMPEchoReplies,
		u.InDatagrams, u.NoPorts, u.CsumErrors, u.RcvbufErrors, sink)
}

// close closes the sockets and listeners. Idempotent. The node closes
// the stack's timers and the capture.
func (r *stackRun) close() {
	if r.closed {
		return
	}
	r.closed = true
	for _, c := range r.conns {
		c.Close()
	}
	for _, l := range r.lns {
		l.Close()
	}
}

// fill adds the stack's counters to s; with records, each TCP sink's
// connection list too (the JSON summary has it, metrics only count).
func (r *stackRun) fill(s *summary.Summary, records bool) {
	if r.n == nil {
		return
	}
	n := r.n
	ss, ip, u := n.Stack.Stats(), n.IPv4.Stats(), n.UDP.Stats()
	s.Stack, s.IPv4, s.UDP = &ss, &ip, &u
	if t := n.IPv4.Filter(); t != nil {
		s.Filter = t.Stats()
	}
	if n.Tap != nil {
		ts := n.Tap.Stats()
		s.Tap = &ts
		s.PcapFile = r.f.pcap
	}
	for _, k := range r.sinks {
		s.UDPSinks = append(s.UDPSinks, k.stats())
	}
	ts := n.TCP.Stats()
	s.TCP = &ts
	for _, k := range r.tsinks {
		s.TCPSinks = append(s.TCPSinks, k.stats(records))
	}
}

func (r *stackRun) summary(s summary.Summary) string {
	if s.Stack == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stack: %d frames, not for us %d, arp requests answered %d\n", s.Stack.Frames, s.Stack.NotForUs, s.Stack.ARPRequests)
	fmt.Fprintf(&b, "ipv4: received %d, delivered %d, bad checksum %d, martian %d, filtered %d, reassembled %d, echo replies %d\n",
		s.IPv4.Received, s.IPv4.Delivered, s.IPv4.BadChecksum, s.IPv4.Martian, s.IPv4.FilterPre+s.IPv4.FilterIn, s.IPv4.Reassembled, s.IPv4.ICMPEchoReplies)
	fmt.Fprintf(&b, "udp: in %d, no port %d, checksum errors %d, rcvbuf errors %d\n", s.UDP.InDatagrams, s.UDP.NoPorts, s.UDP.CsumErrors, s.UDP.RcvbufErrors)
	for _, k := range s.UDPSinks {
		fmt.Fprintf(&b, "udp sink %d: %d datagrams, %d bytes, seq %d..%d, gaps %d, out of order %d\n",
			k.Port, k.Datagrams, k.Bytes, k.FirstSeq, k.LastSeq, k.SeqGaps, k.OutOfOrder)
	}
	if s.TCP != nil {
		fmt.Fprintf(&b, "tcp: passive opens %d, in segs %d, out segs %d, retrans %d, resets sent %d, syncookies sent %d\n",
			s.TCP.PassiveOpens, s.TCP.InSegs, s.TCP.OutSegs, s.TCP.RetransSegs, s.TCP.OutRsts, s.TCP.SyncookiesSent)
	}
	for _, k := range s.TCPSinks {
		fmt.Fprintf(&b, "tcp sink %d: %d connections (%d complete, %d open), %d bytes\n", k.Port, k.Accepted, k.Complete, k.Open, k.Bytes)
		for i, c := range k.Connections {
			if i == 5 {
				fmt.Fprintf(&b, "  ... (%d more in --json)\n", len(k.Connections)-5)
				break
			}
			fmt.Fprintf(&b, "  %s: %d bytes, sha256 %s\n", c.Remote, c.Bytes, c.SHA256)
		}
	}
	for _, f := range s.Filter {
		fmt.Fprintf(&b, "filter %q: %d packets, %d bytes\n", f.Rule, f.Packets, f.Bytes)
	}
	if s.Tap != nil {
		fmt.Fprintf(&b, "pcap %s: %d written, %d dropped (queue full), %d filtered; open it with: tcpdump -nn -r %s\n",
			s.PcapFile, s.Tap.Written, s.Tap.Dropped, s.Tap.Filtered, s.PcapFile)
	}
	return strings.TrimRight(b.String(), "\n")
}
