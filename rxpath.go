// Package rxpath is the library facade: open an interface, attach the
// in-process stack, listen on UDP, read, close.
//
//	n, err := rxpath.Open(rxpath.Config{Interface: "eth0", Addr: netip.MustParsePrefix("10.0.0.2/24")})
//	if err != nil { ... }
//	defer n.Close()
//	c, err := n.ListenUDP(netip.MustParseAddrPort("0.0.0.0:9000"))
//	buf := make([]byte, 2048)
//	nr, from, err := c.ReadFromUDPAddrPort(buf)
//
// The packages below are the receive path, one per step: driver (AF_XDP
// or AF_PACKET queues), umem and rxring (frame memory and rings), poller
// (the NAPI-style loop), tap (capture), stack (Ethernet, ARP), stack/ipv4,
// stack/udp. Config wires them together; each is usable on its own.
package rxpath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/engine"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
)

// Config describes a node: an interface, the driver and pollers that
// receive on it, and the stack on top.
type Config struct {
	// Interface to bind; Open must run in its network namespace.
	Interface string
	// Driver selects AF_XDP or AF_PACKET (default: AF_XDP, falling back).
	Driver driver.Options
	// CPUs pins queue i's poller to CPUs[i%len(CPUs)] (default unpinned).
	CPUs []int
	// Poller tunes the poll loops.
	Poller poller.Options
	// Addr is the stack's IPv4 address and prefix.
	Addr netip.Prefix
	// GatewayMAC is the next hop for off-link replies (optional).
	GatewayMAC net.HardwareAddr
	// Filter rules in the text syntax of package stack/filter.
	Filter []string
	// Tap captures every frame before any parsing (optional; see
	// package tap).
	Tap stack.Tap
	// IPv4, UDP and TCP tune those layers.
	IPv4 ipv4.Options
	UDP  udp.Options
	TCP  tcp.Options
	// WrapQueue wraps each driver queue (fault injection, see package
	// driver/faulty).
	WrapQueue func(driver.Queue) driver.Queue
}

// Node is a running interface with the stack attached. Safe for
// concurrent use.
type Node struct {
	Engine *engine.Engine
	Stack  *stack.Stack
	IPv4   *ipv4.IPv4
	UDP    *udp.UDP
	TCP    *tcp.TCP
}

// Open binds the interface, builds the stack and starts the pollers.
func Open(cfg Config) (*Node, error) {
	if !cfg.Addr.IsValid() {
		return nil, errors.New("rxpath: Config.Addr is required")
	}
	var rules []filter.Rule
	for _, r := range cfg.Filter {
		rule, err := filter.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("rxpath: filter %q: %w", r, err)
		}
		rules = append(rules, rule)
	}
	n := &Node{}
	var err error
	n.Engine, err = engine.Start(engine.Options{
		Iface:  cfg.Interface,
		Driver: cfg.Driver,
		CPUs:   cfg.CPUs,
		Poller: cfg.Poller,
		OnOpen: func(d *driver.Device) error {
			n.Stack, err = stack.New(stack.Options{MAC: d.MAC, Addrs: []netip.Prefix{cfg.Addr}, GatewayMAC: cfg.GatewayMAC, Tap: cfg.Tap})
			if err != nil {
				return err
			}
			ipo := cfg.IPv4
			if len(rules) > 0 {
				ipo.Filter = filter.NewTable(rules)
			}
			n.IPv4 = ipv4.New(n.Stack, ipo)
			n.UDP = udp.New(n.IPv4, cfg.UDP)
			n.TCP = tcp.New(n.IPv4, cfg.TCP)
			n.Stack.Attach(d.Queues)
			return nil
		},
		HandlerFor: func(int) poller.Handler { return n.Stack.Handler() },
		WrapQueue:  cfg.WrapQueue,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// ListenUDP binds a UDP socket on the node's stack.
func (n *Node) ListenUDP(addr netip.AddrPort) (*udp.Conn, error) {
	return n.UDP.Listen(addr, udp.SocketOptions{})
}

// ListenTCP listens for TCP connections on the node's stack.
func (n *Node) ListenTCP(addr netip.AddrPort, o tcp.ListenOptions) (*tcp.Listener, error) {
	return n.TCP.Listen(addr, o)
}

// Close stops the pollers, closes the device and stops the TCP timers.
func (n *Node) Close() error {
	err := n.Engine.Close()
	if n.TCP != nil {
		n.TCP.Close()
	}
	return err
}
