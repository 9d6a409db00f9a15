// Package rxpath is a kernel-bypass receive stack: it takes frames off a
// NIC queue with AF_XDP (or AF_PACKET), runs them through an in-process
// Ethernet, ARP, IPv4, UDP and TCP stack, and hands them to sockets that
// feel like the net package's. This package is the facade that wires the
// pieces together for the common case.
//
// # The common case
//
// Open an interface with the stack attached, listen, read, close:
//
//	n, err := rxpath.Open(rxpath.Config{
//		Interface: "eth0",
//		Addr:      netip.MustParsePrefix("10.0.0.2/24"), // answered by rxpath, not the kernel
//	})
//	if err != nil {
//		return err
//	}
//	defer n.Close()
//
//	c, err := n.ListenUDP(netip.MustParseAddrPort("0.0.0.0:9000"))
//	if err != nil {
//		return err
//	}
//	buf := make([]byte, 2048)
//	nr, from, err := c.ReadFromUDPAddrPort(buf)
//
//	l, err := n.ListenTCP(netip.MustParseAddrPort("0.0.0.0:8080"), tcp.ListenOptions{})
//	conn, err := l.Accept() // a net.Conn; l is a net.Listener for net/http
//
// The examples show the variants: a UDP sink in handler mode (zero-copy
// views on the poller goroutine, nothing queued), a TCP echo server, a raw
// frame counter with a pcap capture and no stack (Config.Handler and
// Config.Pcap), and filter rules (Config.Filter). The examples/ directory
// of the repository holds the same as standalone programs.
//
// # Requirements
//
// Open needs root (CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF) and must run on
// a thread in the interface's network namespace; the Node may then be used
// from any goroutine. The address in Config.Addr belongs to rxpath: do not
// also give it to the kernel on that interface. With AF_XDP (every queue is bound by
// default) the kernel stack no longer sees the interface's frames; with
// AF_PACKET it sees them too. On systems other than Linux, Open fails with an error wrapping
// driver.ErrNotSupported.
//
// # The receive path
//
// The packages are the receive path, one step each, in the order a frame
// takes them (docs/architecture.md in the repository maps them onto the
// Linux receive path and spells out who owns a frame at each step):
//
//   - driver, driver/afxdp, driver/afpacket: the NIC queue and its
//     buffers (the RX ring and its DMA buffers); driver/replay and
//     driver/channel are queues without a NIC, for tests.
//   - umem and rxring: AF_XDP frame memory with its ownership ledger,
//     and the fill, rx, tx and completion rings shared with the kernel.
//   - poller: the NAPI-style busy-poll loop, one per queue.
//   - tap: the pcap capture, where ptype_all taps sit.
//   - stack: Ethernet demux, ARP and the output path; stack/ipv4 (with
//     stack/ipv4/fragment and the netfilter-like stack/filter), stack/udp
//     and stack/tcp on top.
//
// Config wires them together; each is usable on its own.
//
// # Frame ownership
//
// A received frame is a zero-copy view into driver memory with exactly
// one owner at a time. The stack processes it synchronously on the
// poller goroutine and copies what it keeps (socket receive queues,
// reassembly), so every frame goes back to the driver when the handler
// returns. Handler-mode sockets (udp.Conn.SetHandler,
// tcp.ListenOptions.Handler) and Config.Handler get the view itself, valid
// only during the call; a raw handler may keep a frame longer with
// poller.Batch.Hold and give it back with Held.Release. Node.Close checks
// every queue's ledger and reports a frame that was not given back.
package rxpath
