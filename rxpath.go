package rxpath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/internal/engine"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
)

// ErrNoStack is returned (wrapped) by the socket methods of a Node opened
// with Config.Handler: such a node hands raw frames to the handler and has
// no stack to listen on.
var ErrNoStack = errors.New("rxpath: node has no stack (Config.Handler is set)")

// Config describes a node: an interface, the driver and pollers that
// receive on it, and either the stack or a raw frame handler on top. Only
// Interface and, for the stack, Addr are required; every other zero field
// means the default of the package it configures.
type Config struct {
	// Interface to bind. Open must run on a thread in its network
	// namespace (see the package documentation).
	Interface string
	// Driver selects AF_XDP or AF_PACKET (default: AF_XDP, falling back
	// to AF_PACKET when AF_XDP is unavailable; see auto.Open).
	Driver auto.Options
	// CPUs pins queue i's poller to CPUs[i%len(CPUs)] (default unpinned).
	CPUs []int
	// Poller tunes the poll loops (NAPI weight, budget, idle spin).
	Poller poller.Options

	// Addr is the stack's IPv4 address and prefix, for example
	// 10.0.0.2/24. Required unless Handler is set.
	Addr netip.Prefix
	// GatewayMAC is the next hop for off-link replies (optional).
	GatewayMAC net.HardwareAddr
	// Filter holds rules in the text syntax of package stack/filter, one
	// per string ("drop udp dport 53", "prerouting drop icmp"), consulted
	// by the IPv4 layer in order. Open fails on a rule that does not
	// parse. Use either Filter or IPv4.Filter, not both. Node.IPv4's
	// Filter method returns the table with its per-rule counters.
	Filter []string

	// Handler, if set, replaces the stack: every received batch of raw
	// frames goes to it, on the poller goroutine of the queue it came
	// from (concurrently when the interface has several queues). Open
	// then builds no stack, Addr may be left zero, Filter must be empty,
	// and the Node's socket methods fail with ErrNoStack. The frames are
	// zero-copy views, valid until the handler returns unless it keeps
	// them with Batch.Hold (see package poller).
	Handler poller.Handler

	// Tap, if set, captures every frame before any parsing or filtering,
	// where Linux's ptype_all taps (tcpdump) sit. Any *tap.Tap will do;
	// the caller closes it after Node.Close. Use either Tap or Pcap.
	Tap stack.Tap
	// Pcap, if set, is the path of a capture file that Open creates with
	// tap.Create(Pcap, PcapOptions) and that receives every frame before
	// any parsing, as Tap does. PcapOptions selects pcap or pcapng, a
	// tcpdump-syntax capture filter, the snap length and rotation.
	// Node.Tap is the capture and its counters; Node.Close flushes and
	// closes it after the pollers stop.
	Pcap        string
	PcapOptions tap.Options

	// IPv4, UDP and TCP tune those layers. TCP.RcvMem defaults to what
	// the rx rings hold: queues × rx ring size × 1448-byte segments.
	IPv4 ipv4.Options
	UDP  udp.Options
	TCP  tcp.Options
	// WrapQueue wraps each driver queue (fault injection, see package
	// driver/faulty).
	WrapQueue func(driver.Queue) driver.Queue
}

// Node is a running interface with the stack (or a raw handler) attached.
// Its methods are safe for concurrent use.
//
// The exported fields give access to each layer, for counters and for
// what the facade does not wrap; they are set by Open and must not be
// changed.
type Node struct {
	// Engine is the device with one poller per queue; its Snapshot
	// method returns the receive counters, and after Close its Final
	// method returns the last snapshot, with every queue's buffer ledger.
	Engine *engine.Engine
	// Stack, IPv4, UDP and TCP are the layers of the stack, bottom up.
	// They are nil when Config.Handler is set.
	Stack *stack.Stack
	IPv4  *ipv4.IPv4
	UDP   *udp.UDP
	TCP   *tcp.TCP
	// Tap is the capture that Open created for Config.Pcap, or nil.
	Tap *tap.Tap

	closed     atomic.Bool
	stopExpire func() // the reassembly expiry ticker
}

// Open binds the interface, builds the stack (or installs Config.Handler)
// and starts one poller per queue. It must run on a thread in the
// interface's network namespace; the node may be used from any goroutine
// afterwards. A failed Open releases whatever it had set up.
func Open(cfg Config) (_ *Node, err error) {
	if cfg.Interface == "" {
		return nil, errors.New("rxpath: Config.Interface is required")
	}
	raw := cfg.Handler != nil
	switch {
	case !raw && !cfg.Addr.IsValid():
		return nil, errors.New("rxpath: Config.Addr is required")
	case !raw && !cfg.Addr.Addr().Is4():
		return nil, fmt.Errorf("rxpath: Config.Addr %v is not IPv4", cfg.Addr)
	case raw && len(cfg.Filter) > 0:
		return nil, errors.New("rxpath: Config.Filter needs the stack; with Config.Handler use PcapOptions.Filter or filter in the handler")
	case len(cfg.Filter) > 0 && cfg.IPv4.Filter != nil:
		return nil, errors.New("rxpath: set Config.Filter or Config.IPv4.Filter, not both")
	case cfg.Tap != nil && cfg.Pcap != "":
		return nil, errors.New("rxpath: set Config.Tap or Config.Pcap, not both")
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
	defer func() {
		if err != nil {
			n.release()
		}
	}()
	capture := cfg.Tap
	eo := engine.Options{
		Iface:     cfg.Interface,
		Driver:    cfg.Driver,
		CPUs:      cfg.CPUs,
		Poller:    cfg.Poller,
		WrapQueue: cfg.WrapQueue,
		// Runs once the device is open, before the pollers start (and
		// before HandlerFor), so that a missing interface leaves no
		// capture file behind.
		OnOpen: func(d *driver.Device) (err error) {
			if cfg.Pcap != "" {
				if n.Tap, err = tap.Create(cfg.Pcap, cfg.PcapOptions); err != nil {
					return fmt.Errorf("rxpath: %w", err)
				}
				capture = n.Tap
			}
			if raw {
				return nil
			}
			n.Stack, err = stack.New(stack.Options{MAC: d.MAC, Addrs: []netip.Prefix{cfg.Addr}, GatewayMAC: cfg.GatewayMAC, Tap: capture})
			if err != nil {
				return err
			}
			ipo := cfg.IPv4
			if len(rules) > 0 {
				ipo.Filter = filter.NewTable(rules)
			}
			n.IPv4 = ipv4.New(n.Stack, ipo)
			n.stopExpire = n.IPv4.ExpireEvery(time.Second)
			n.UDP = udp.New(n.IPv4, cfg.UDP)
			to := cfg.TCP
			if to.RcvMem == 0 {
				// All windows together offer no more than the rx rings
				// hold (tcp.Options.RcvMem).
				ring := int(cfg.Driver.XDP.RxSize)
				if ring == 0 {
					ring = int(afxdp.DefaultOptions().RxSize)
				}
				to.RcvMem = len(d.Queues) * ring * 1448
			}
			n.TCP = tcp.New(n.IPv4, to)
			n.Stack.Attach(d.Queues)
			return nil
		},
		HandlerFor: func(int) poller.Handler {
			if raw {
				return rawHandler(cfg.Handler, capture)
			}
			return n.Stack.Handler()
		},
	}
	if n.Engine, err = engine.Start(eo); err != nil {
		return nil, err
	}
	return n, nil
}

// rawHandler offers each frame to the capture, if any, then hands the
// batch to h: the same order as the stack, where the tap sees a frame
// before anything parses it.
func rawHandler(h poller.Handler, capture stack.Tap) poller.Handler {
	if capture == nil {
		return h
	}
	return func(b *poller.Batch) {
		for i := range b.Frames {
			capture.Capture(b.Frames[i].Data, b.Queue)
		}
		h(b)
	}
}

// release stops what Open started before the engine: the TCP timers and
// the capture file it created. It returns the capture's close error.
func (n *Node) release() error {
	if n.stopExpire != nil {
		n.stopExpire()
	}
	if n.TCP != nil {
		n.TCP.Close()
	}
	if n.Tap != nil {
		return n.Tap.Close()
	}
	return nil
}

// usable reports why the node cannot make sockets: closed, or no stack.
func (n *Node) usable() error {
	if n.closed.Load() {
		return net.ErrClosed
	}
	if n.Stack == nil {
		return ErrNoStack
	}
	return nil
}

// ListenUDP binds a UDP socket on the node's stack to addr; an unspecified
// address (0.0.0.0) receives on every local address. Read it with
// ReadFromUDPAddrPort or ReadBatch, or switch it to handler mode with
// SetHandler to get zero-copy views on the poller goroutine. For socket
// options use n.UDP.Listen.
func (n *Node) ListenUDP(addr netip.AddrPort) (*udp.Conn, error) {
	if err := n.usable(); err != nil {
		return nil, fmt.Errorf("rxpath: listen udp %v: %w", addr, err)
	}
	return n.UDP.Listen(addr, udp.SocketOptions{})
}

// ListenTCP listens for TCP connections on the node's stack. The Listener
// is a net.Listener, so net/http and other servers run on it; o may be the
// zero value.
func (n *Node) ListenTCP(addr netip.AddrPort, o tcp.ListenOptions) (*tcp.Listener, error) {
	if err := n.usable(); err != nil {
		return nil, fmt.Errorf("rxpath: listen tcp %v: %w", addr, err)
	}
	return n.TCP.Listen(addr, o)
}

// DialTCP opens a TCP connection from the node's stack to raddr, blocking
// until it is established, refused, timed out, or ctx ends.
func (n *Node) DialTCP(ctx context.Context, raddr netip.AddrPort) (*tcp.Conn, error) {
	if err := n.usable(); err != nil {
		return nil, fmt.Errorf("rxpath: dial tcp %v: %w", raddr, err)
	}
	return n.TCP.Dial(ctx, raddr)
}

// Close stops the pollers, detaches from the interface (the XDP program
// first), checks that every queue's buffer ledger balances, then flushes
// and closes the capture Open created and stops the TCP timers. It returns
// the ledger, device and capture errors, if any. Sockets are not closed,
// but no packet reaches them any more; later calls of the Node's socket
// methods return errors wrapping net.ErrClosed. Close is idempotent: the
// second call returns nil.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := n.Engine.Close()
	return errors.Join(err, n.release())
}
