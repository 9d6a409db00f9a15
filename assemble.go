package rxpath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
)

// StackConfig describes the stack without a device: what Open builds on
// the device it opens, and what NewStack builds for callers that bring
// their own receive loop (benchmarks, tests, replay).
type StackConfig struct {
	// MAC is the interface's hardware address.
	MAC net.HardwareAddr
	// Addr is the IPv4 address and prefix the stack answers for.
	Addr netip.Prefix
	// GatewayMAC is the next hop for off-link replies (optional).
	GatewayMAC net.HardwareAddr
	// Filter holds rules in the text syntax of package stack/filter (see
	// Config.Filter).
	Filter []string
	// IPv4, UDP and TCP tune those layers.
	IPv4 ipv4.Options
	UDP  udp.Options
	TCP  tcp.Options
	// Clock, if set, replaces time.Now in the link layer (tests).
	Clock func() time.Time
}

// Stack is the assembled stack: link layer, IPv4 (with the reassembly
// expiry running), UDP and TCP, bottom up. Safe for concurrent use.
type Stack struct {
	Link *stack.Stack
	IPv4 *ipv4.IPv4
	UDP  *udp.UDP
	TCP  *tcp.TCP

	stopExpire func()
}

// parseRules parses filter rules in stack/filter's text syntax.
func parseRules(rules []string) ([]filter.Rule, error) {
	var out []filter.Rule
	for _, r := range rules {
		rule, err := filter.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", r, err)
		}
		out = append(out, rule)
	}
	return out, nil
}

// NewStack builds the stack of c: the only place in rxpath that wires the
// layers together. Attach a link to let it send, and hand received frames
// to Handler (one per receive loop). Close stops its timers.
func NewStack(c StackConfig) (*Stack, error) {
	if !c.Addr.IsValid() || !c.Addr.Addr().Is4() {
		return nil, fmt.Errorf("rxpath: stack address %v is not an IPv4 prefix", c.Addr)
	}
	if len(c.Filter) > 0 && c.IPv4.Filter != nil {
		return nil, errors.New("rxpath: set Filter or IPv4.Filter, not both")
	}
	rules, err := parseRules(c.Filter)
	if err != nil {
		return nil, fmt.Errorf("rxpath: %w", err)
	}
	link, err := stack.New(stack.Options{MAC: c.MAC, Addrs: []netip.Prefix{c.Addr}, GatewayMAC: c.GatewayMAC, Clock: c.Clock})
	if err != nil {
		return nil, err
	}
	ipo := c.IPv4
	if len(rules) > 0 {
		ipo.Filter = filter.NewTable(rules)
	}
	s := &Stack{Link: link, IPv4: ipv4.New(link, ipo)}
	s.stopExpire = s.IPv4.ExpireEvery(time.Second)
	s.UDP = udp.New(s.IPv4, c.UDP)
	s.TCP = tcp.New(s.IPv4, c.TCP)
	return s, nil
}

// Attach makes l the link the stack sends on (stack.Stack.Attach).
func (s *Stack) Attach(l stack.LinkEndpoint) error { return s.Link.Attach(l) }

// Handler returns a poller handler that runs received frames through the
// stack; give each poller its own (StackHandler).
func (s *Stack) Handler() poller.Handler { return StackHandler(s.Link) }

// Close stops the stack's timers (reassembly expiry, TCP). Sockets are not
// closed. It is idempotent.
func (s *Stack) Close() {
	if s.stopExpire != nil {
		s.stopExpire()
		s.stopExpire = nil
	}
	s.TCP.Close()
}

// segmentSize is the TCP payload of a 1500-byte frame with timestamps.
const segmentSize = 1448

// rcvMem is the TCP receive-memory budget Open gives a stack on queues
// receive queues when Config.TCP.RcvMem is 0: all windows together offer
// no more than the rx side can hold (tcp.Options.RcvMem), so many senders
// bursting at once do not overflow it. That is the smaller of the rx ring
// and the UMEM's receive frames: the default rings (4096) are larger than
// the default receive frames (3584).
func rcvMem(c Config, queues int) int {
	ring := int(c.Driver.XDP.RxSize)
	if ring == 0 {
		ring = int(afxdp.DefaultOptions().RxSize)
	}
	ring = min(ring, c.Driver.XDP.UMEM.RxFrames())
	return queues * ring * segmentSize
}
