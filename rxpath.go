package rxpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/driver/auto"
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
	// OpenDevice, if set, opens the device in place of auto.Open (an
	// in-memory device, say). It is called again on Reattach.
	OpenDevice func(iface string, o auto.Options) (*driver.Device, error)
	// CPUs pins queue i's poller to CPUs[i%len(CPUs)] (default unpinned).
	CPUs []int
	// Poller tunes the poll loops (NAPI weight, budget, idle spin, nice).
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
	// XDPFilter moves the Filter rules that need no state into the XDP
	// triage stage (AF_XDP only), where they drop before the rx ring:
	// the drop rules ahead of each hook's first accept rule, input rules
	// only for packets to Addr. Their counters are in Snapshot.XDP.Rules,
	// reported like the stack's. The guards are set in
	// Driver.XDP.Triage; both are off by default.
	XDPFilter bool
	// TapXDPDrops copies the frames the XDP triage stage drops (up to
	// Driver.XDP.Triage.SampleSnap bytes each) to the capture (Tap or
	// Pcap), for debugging: the tap otherwise never sees them, as
	// tcpdump does not see what a NIC filter drops. It needs the stage.
	TapXDPDrops bool

	// Handler, if set, replaces the stack: every received batch of raw
	// frames goes to it, on the poller goroutine of the queue it came
	// from (concurrently when the interface has several queues). Open
	// then builds no stack, Addr may be left zero, Filter must be empty,
	// and the Node's socket methods fail with ErrNoStack. The frames are
	// zero-copy views, valid until the handler returns unless it keeps
	// them with Batch.Hold (see package poller).
	Handler poller.Handler

	// Tap, if set, captures every frame before any parsing or filtering,
	// where Linux's ptype_all taps (tcpdump) sit, in both modes. Any
	// *tap.Tap will do; the caller closes it after Node.Close. Use either
	// Tap or Pcap.
	Tap Capturer
	// Pcap, if set, is the path of a capture file that Open creates with
	// tap.Create(Pcap, PcapOptions) and that receives every frame before
	// any parsing, as Tap does. PcapOptions selects pcap or pcapng, a
	// tcpdump capture expression (Expr), the snap length and rotation.
	// Node.Tap is the capture and its counters; Node.Close flushes and
	// closes it after the pollers stop.
	Pcap        string
	PcapOptions tap.Options

	// IPv4, UDP and TCP tune those layers. TCP.RcvMem defaults to what
	// the rx rings hold: queues × rx ring size × 1448-byte segments; a
	// negative value means no budget.
	IPv4 ipv4.Options
	UDP  udp.Options
	TCP  tcp.Options
	// WrapQueue wraps each driver queue (fault injection, see package
	// driver/faulty).
	WrapQueue func(driver.Queue) driver.Queue

	// Setup, if set, runs once, after the stack is built and before the
	// pollers start, so that sockets bound in it see the first frame.
	// An error from it fails Open.
	Setup func(*Node) error
	// Logger receives Reattach's notes (default slog.Default()).
	Logger *slog.Logger
}

// Validate checks c as Open would, without opening anything.
func (c Config) Validate() error {
	if c.Interface == "" {
		return errors.New("rxpath: Config.Interface is required")
	}
	raw := c.Handler != nil
	switch {
	case !raw && !c.Addr.IsValid():
		return errors.New("rxpath: Config.Addr is required")
	case !raw && !c.Addr.Addr().Is4():
		return fmt.Errorf("rxpath: Config.Addr %v is not IPv4", c.Addr)
	case raw && len(c.Filter) > 0:
		return errors.New("rxpath: Config.Filter needs the stack; with Config.Handler use PcapOptions.Expr or filter in the handler")
	case len(c.Filter) > 0 && c.IPv4.Filter != nil:
		return errors.New("rxpath: set Config.Filter or Config.IPv4.Filter, not both")
	case c.XDPFilter && (raw || len(c.Filter) == 0):
		return errors.New("rxpath: Config.XDPFilter needs the stack and Config.Filter rules")
	case c.Tap != nil && c.Pcap != "":
		return errors.New("rxpath: set Config.Tap or Config.Pcap, not both")
	case c.TapXDPDrops && (c.Tap == nil && c.Pcap == "" || !c.XDPFilter && !c.Driver.XDP.Triage.Enabled()):
		return errors.New("rxpath: Config.TapXDPDrops needs a capture (Tap or Pcap) and the XDP triage stage")
	}
	if _, err := parseRules(c.Filter); err != nil {
		return fmt.Errorf("rxpath: %w", err)
	}
	return nil
}

// Node is a running interface with the stack (or a raw handler) attached.
// Its methods are safe for concurrent use.
//
// The exported fields give access to each layer, for counters and for
// what the facade does not wrap; they are set by Open and must not be
// changed.
type Node struct {
	// Stack, IPv4, UDP and TCP are the layers of the stack, bottom up
	// (Stack is the link layer). They are nil when Config.Handler is set.
	Stack *stack.Stack
	IPv4  *ipv4.IPv4
	UDP   *udp.UDP
	TCP   *tcp.TCP
	// Tap is the capture that Open created for Config.Pcap, or nil.
	Tap *tap.Tap

	cfg     Config
	st      *Stack   // nil in raw mode
	capture Capturer // Config.Tap or Tap
	started time.Time
	closed  atomic.Bool
	// setupDone is set once the first binding ran Config.Setup; only
	// the engine's onOpen touches it, one binding at a time.
	setupDone bool
	// ports are the UDP ports with a socket, for the XDP triage stage's
	// closed-port guard; xdpRules the filter rules it runs.
	ports    udpPorts
	xdpRules []filter.RuleStats
	samplers sync.WaitGroup // sampleDrops goroutines
	runs                    // the engine, across re-attaches (mu guards it)
}

// Open binds the interface, builds the stack (or installs Config.Handler)
// and starts one poller per queue. It must run on a thread in the
// interface's network namespace; the node may be used from any goroutine
// afterwards. A failed Open releases whatever it had set up.
func Open(cfg Config) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, capture: cfg.Tap, started: time.Now()}
	defer func() {
		if err != nil {
			n.samplers.Wait() // the device closed: they end
			n.release()
		}
	}()
	e, err := startEngine(n.engineOptions())
	if err != nil {
		return nil, err
	}
	n.cur = e
	return n, nil
}

// engineOptions binds the node's device: the first time it builds the
// capture file, the stack and the sockets of Setup on it; on Reattach it
// gives the same stack the new device's queues.
func (n *Node) engineOptions() engineOptions {
	cfg := n.cfg
	open := cfg.OpenDevice
	if open == nil {
		open = auto.Open
	}
	dopts := cfg.Driver
	if cfg.XDPFilter {
		rules, _ := parseRules(cfg.Filter) // Validate parsed them
		var xr []afxdp.Rule
		xr, n.xdpRules = xdpFilter(rules, cfg.Addr)
		// First, so that rule i of the stage is n.xdpRules[i].
		dopts.XDP.Triage.Rules = append(xr, dopts.XDP.Triage.Rules...)
	}
	if cfg.TapXDPDrops {
		dopts.XDP.Triage.SampleDrops = true
	}
	return engineOptions{
		open:      func() (*driver.Device, error) { return open(cfg.Interface, dopts) },
		xdpRules:  n.xdpRules,
		cpus:      cfg.CPUs,
		poller:    cfg.Poller,
		wrapQueue: cfg.WrapQueue,
		// Runs once the device is open, before the pollers start, so
		// that a missing interface leaves no capture file behind.
		onOpen: func(d *driver.Device) (err error) {
			first := !n.setupDone
			if cfg.Pcap != "" && n.Tap == nil {
				if n.Tap, err = tap.Create(cfg.Pcap, cfg.PcapOptions); err != nil {
					return fmt.Errorf("rxpath: %w", err)
				}
				n.capture = n.Tap
			}
			n.sampleDrops(d)
			if cfg.Handler != nil {
				return n.setup(first)
			}
			if n.st == nil {
				sc := StackConfig{MAC: d.MAC, Addr: cfg.Addr, GatewayMAC: cfg.GatewayMAC, Filter: cfg.Filter,
					IPv4: cfg.IPv4, UDP: cfg.UDP, TCP: cfg.TCP}
				if cfg.Driver.XDP.Triage.ClosedUDP.Rate > 0 && sc.UDP.Ports == nil {
					sc.UDP.Ports = &n.ports
				}
				if sc.TCP.RcvMem == 0 {
					sc.TCP.RcvMem = rcvMem(cfg, len(d.Queues))
				}
				if n.st, err = NewStack(sc); err != nil {
					return err
				}
				n.Stack, n.IPv4, n.UDP, n.TCP = n.st.Link, n.st.IPv4, n.st.UDP, n.st.TCP
			}
			n.ports.attach(auto.XDP(d))
			if err := n.st.Attach(NewQueueLink(d.MAC, 0, d.Queues...)); err != nil {
				return fmt.Errorf("rxpath: %s: %w", d.Name, err)
			}
			return n.setup(first)
		},
		handler: func(int) poller.Handler {
			h := cfg.Handler
			if h == nil {
				h = StackHandler(n.Stack)
			}
			return tapStage(h, n.capture)
		},
	}
}

// setup runs Config.Setup on the first binding.
func (n *Node) setup(first bool) error {
	if !first {
		return nil
	}
	n.setupDone = true
	if n.cfg.Setup == nil {
		return nil
	}
	return n.cfg.Setup(n)
}

// release stops what Open started besides the engine: the stack's timers
// and the capture file it created. It returns the capture's close error.
func (n *Node) release() error {
	if n.st != nil {
		n.st.Close()
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
	err := n.closeEngine()
	n.samplers.Wait() // the device is closed: they end
	return errors.Join(err, n.release())
}
