package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/engine"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
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
	// rxRing is the rx ring size per queue: it sizes TCP's shared
	// receive window budget.
	rxRing int
}

// stackRun is the stack `rxpath run --ip` builds on the device: link
// layer, IPv4 with the filter, UDP with the sinks, and the tap.
type stackRun struct {
	f stackFlags
	// stopExpire stops the reassembly expiry ticker.
	stopExpire func()
	addr       netip.Prefix
	gw         net.HardwareAddr
	table      *filter.Table
	tap        *tap.Tap
	s          *stack.Stack
	ip         *ipv4.IPv4
	u          *udp.UDP
	sinks      []*udpSink
	conns      []*udp.Conn
	tcp        *tcp.TCP
	tsinks     []*tcpSink
	lns        []*tcp.Listener
	closed     bool
}

// Summary is the JSON summary of `rxpath run`: the engine's counters and,
// with --ip, each stack layer's.
type Summary struct {
	engine.Snapshot
	Stack    *stack.Stats       `json:"stack,omitempty"`
	IPv4     *ipv4.Stats        `json:"ipv4,omitempty"`
	UDP      *udp.Stats         `json:"udp,omitempty"`
	Filter   []filter.RuleStats `json:"filter,omitempty"`
	Tap      *tap.Stats         `json:"tap,omitempty"`
	UDPSinks []SinkStats        `json:"udp_sinks,omitempty"`
	TCP      *tcp.Stats         `json:"tcp,omitempty"`
	TCPSinks []TCPSinkStats     `json:"tcp_sinks,omitempty"`
	PcapFile string             `json:"pcap,omitempty"`
	// Reattached counts the times --reattach bound the interface again
	// after it was deleted.
	Reattached int `json:"reattached,omitempty"`
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
	var rules []filter.Rule
	for _, s := range f.filters {
		rule, err := filter.Parse(s)
		if err != nil {
			return nil, usageError{fmt.Errorf("run: --filter: %w", err)}
		}
		rules = append(rules, rule)
	}
	r.table = filter.NewTable(rules)
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
	if f.pcap != "" {
		o := tap.Options{Snaplen: f.snaplen, Expr: f.tapFilter}
		if f.pcapng {
			o.Format = tap.PCAPNG
		}
		if r.tap, err = tap.Create(f.pcap, o); err != nil {
			return nil, fmt.Errorf("run: --pcap: %w", err)
		}
	}
	return r, nil
}

// ethernetMSS is the TCP payload of a 1500-byte frame with timestamps.
const ethernetMSS = 1448

// attach builds the stack on the opened device (engine.Options.OnOpen).
func (r *stackRun) attach(d *driver.Device) error {
	if r.s != nil {
		// --reattach: the same stack, sockets and connections, on the
		// interface's new queues.
		if mac := r.s.MAC(); !bytes.Equal(d.MAC, mac[:]) {
			return fmt.Errorf("%s came back with MAC %v, the stack has %v; restart rxpath", d.Name, d.MAC, net.HardwareAddr(mac[:]))
		}
		r.s.Attach(d.Queues)
		return nil
	}
	so := stack.Options{MAC: d.MAC, Addrs: []netip.Prefix{r.addr}, GatewayMAC: r.gw}
	if r.tap != nil {
		so.Tap = r.tap
	}
	var err error
	if r.s, err = stack.New(so); err != nil {
		return err
	}
	r.ip = ipv4.New(r.s, ipv4.Options{Filter: r.table})
	r.stopExpire = r.ip.ExpireEvery(time.Second)
	r.u = udp.New(r.ip, udp.Options{PortUnreachable: r.f.portUnreachable})
	for _, k := range r.sinks {
		c, err := r.u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), k.port), udp.SocketOptions{})
		if err != nil {
			return fmt.Errorf("udp sink %d: %w", k.port, err)
		}
		c.SetHandler(k.handle)
		r.conns = append(r.conns, c)
	}
	// All windows together never offer more than the rx rings hold, so
	// many senders bursting at once do not overflow them (tcp_mem).
	r.tcp = tcp.New(r.ip, tcp.Options{RcvMem: len(d.Queues) * r.f.rxRing * ethernetMSS})
	any4 := netip.IPv4Unspecified()
	for _, k := range r.tsinks {
		l, err := r.tcp.Listen(netip.AddrPortFrom(any4, k.port), k.options())
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
			l, err := r.tcp.Listen(netip.AddrPortFrom(any4, uint16(p)), tcp.ListenOptions{Backlog: 1024})
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
	r.s.Attach(d.Queues)
	return nil
}

func (r *stackRun) handlerFor(int) poller.Handler { return r.s.Handler() }

// line is the stack's part of the per-interval stats from the live
// counters.
func (r *stackRun) line() string {
	if r.s == nil {
		return ""
	}
	ss, ip, u := r.s.Stats(), r.ip.Stats(), r.u.Stats()
	s := Summary{Stack: &ss, IPv4: &ip, UDP: &u}
	for _, k := range r.sinks {
		s.UDPSinks = append(s.UDPSinks, k.stats())
	}
	return stackLine(s)
}

// stackLine is the stack's part of the per-interval stats: rxpath run
// prints it for its live counters, rxpath stats for a Summary rebuilt from
// the metrics.
func stackLine(s Summary) string {
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

// close closes the sockets and the tap (flushing the pcap). Idempotent.
func (r *stackRun) close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.stopExpire != nil {
		r.stopExpire()
	}
	for _, c := range r.conns {
		c.Close()
	}
	for _, l := range r.lns {
		l.Close()
	}
	if r.tcp != nil {
		r.tcp.Close()
	}
	if r.tap != nil {
		return r.tap.Close()
	}
	return nil
}

// fill adds the stack's counters to s; with records, each TCP sink's
// connection list too (the JSON summary has it, metrics only count).
func (r *stackRun) fill(s *Summary, records bool) {
	if r.s == nil {
		return
	}
	ss, ip, u := r.s.Stats(), r.ip.Stats(), r.u.Stats()
	s.Stack, s.IPv4, s.UDP = &ss, &ip, &u
	s.Filter = r.table.Stats()
	if r.tap != nil {
		ts := r.tap.Stats()
		s.Tap = &ts
		s.PcapFile = r.f.pcap
	}
	for _, k := range r.sinks {
		s.UDPSinks = append(s.UDPSinks, k.stats())
	}
	ts := r.tcp.Stats()
	s.TCP = &ts
	for _, k := range r.tsinks {
		s.TCPSinks = append(s.TCPSinks, k.stats(records))
	}
}

func (r *stackRun) summary(s Summary) string {
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
