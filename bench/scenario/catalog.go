package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/bench/stackcost"
	"github.com/rxpath/rxpath/internal/harness/traffic"
)

// recvKind is the receiver a live row runs, or the stack a cost row uses.
type recvKind int

const (
	recvNone       recvKind = iota // no receiver
	recvCeiling                    // XDP_DROP in the kernel
	recvXSKMinimal                 // the smallest AF_XDP receiver, spinning, no stack
	recvRaw                        // AF_XDP, frames counted in the poller
	recvHandler                    // AF_XDP + stack, UDP handler mode
	recvReadBatch                  // AF_XDP + stack, ReadBatch on a reader goroutine
	recvAFPacket                   // AF_PACKET + stack, UDP handler mode
	recvKernel                     // kernel UDP socket, blocking recvmmsg
	recvKernelSpin                 // kernel UDP socket, MSG_DONTWAIT spin
	recvAsavie                     // asavie/xdp rx-and-drop
	recvTapDevNull                 // recvHandler + pcap tap to /dev/null
	recvTapFile                    // recvHandler + pcap tap to a file
	recvTCPRxpath                  // AF_XDP + stack, TCP sink in handler mode
	recvTCPKernel                  // kernel TCP socket behind an XDP_PASS program
	recvHTTPRxpath                 // net/http on rxpath's TCP listener
	recvHTTPKernel                 // net/http on a kernel socket behind an XDP_PASS program
	recvConnMemory                 // idle connections to rxpath, then to the kernel
	costRxpath                     // stack cost: rxpath
	costGVisor                     // stack cost: gVisor netstack
	costRxpathTCP                  // stack cost, TCP: rxpath
	costGVisorTCP                  // stack cost, TCP: gVisor netstack
)

// Def is one scenario of the catalog.
type Def struct {
	Name        string
	Kind        report.Kind
	Proto       report.Proto
	Description string
	// FrameLen is the Ethernet frame length without FCS (for a TCP row,
	// that of a full-size segment).
	FrameLen int
	recv     recvKind
	// run measures a row that brings its own runner instead of the veth
	// lab or the stack-cost feed (a capacity row drives a driver of its
	// own): it fills row.Reps, row.Receiver and row.Notes, and returns
	// why it could not. Nil for the others.
	run func(ctx context.Context, cfg Config, row *report.Scenario, p *progress) error
	// notQuick leaves the row out of quick mode's default selection.
	notQuick bool
}

// QuickDefault reports whether d is in quick mode's default selection
// (--quick without --scenarios). The HTTP and conn-memory rows are not:
// their short form (wrk for 2 s and ab for 4,000 requests per rep, 2,000
// connections) adds about 25 s, which quick mode's two minutes have no
// room for; --quick --scenarios names them to run it.
func (d Def) QuickDefault() bool { return !d.notQuick }

// needsKernelRx reports whether the DUT kernel must take frames off the
// veth itself (GRO on: no XDP program is attached).
func (d Def) needsKernelRx() bool {
	switch d.recv {
	case recvAFPacket, recvKernel, recvKernelSpin:
		return true
	}
	return false
}

// needsKernelAddr reports whether the DUT kernel needs the lab's address.
func (d Def) needsKernelAddr() bool {
	return d.recv == recvKernel || d.recv == recvKernelSpin || d.recv == recvTCPKernel || d.recv == recvHTTPKernel
}

// tcpPeer reports whether the peer's kernel talks TCP to the DUT in d: it
// gets a static neighbour entry for the DUT then.
func (d Def) tcpPeer() bool {
	return d.tcp() || d.Kind == report.KindHTTP || d.Kind == report.KindConnMemory
}

// tcp reports whether d is a live TCP row: a kernel TCP client sends, not
// the frame generator.
func (d Def) tcp() bool { return d.Kind == report.KindLive && d.Proto == report.ProtoTCP }

const minFrame = 60

// memnicReadBatchName is the capacity row with a ReadBatch reader (no
// goal names it).
const memnicReadBatchName = "memnic-udp-readbatch"

// Catalog returns every scenario in report order.
func Catalog() []Def {
	live := func(name string, r recvKind, frame int, desc string) Def {
		return Def{Name: name, Kind: report.KindLive, Proto: report.ProtoUDP, Description: desc, FrameLen: frame, recv: r}
	}
	tcpLive := func(name string, r recvKind, desc string) Def {
		return Def{Name: name, Kind: report.KindLive, Proto: report.ProtoTCP, Description: desc, FrameLen: stackcost.TCPFrameLen, recv: r}
	}
	cost := func(name string, p report.Proto, r recvKind, frame int, desc string) Def {
		return Def{Name: name, Kind: report.KindStackCost, Proto: p, Description: desc, FrameLen: frame, recv: r}
	}
	xskDesc := "the smallest correct AF_XDP receiver: its own socket, UMEM, fill and rx rings, an XDP redirect, one spinning thread; " +
		"peek, read the UDP port, refill, release; no stack (the floor of the ×xsk column)"
	defs := []Def{
		live("ceiling", recvCeiling, minFrame, "XDP_DROP on the DUT veth, counted in a per-CPU map: what the kernel path costs with no receiver"),
		live(report.XSKMinimalName, recvXSKMinimal, minFrame, xskDesc),
		live("rxpath-raw", recvRaw, minFrame, "AF_XDP frames counted in the poller, no stack"),
		live("rxpath-udp-handler", recvHandler, minFrame, "AF_XDP + stack, datagrams to a UDP socket in handler mode, counted by the app"),
		live("rxpath-udp-readbatch", recvReadBatch, minFrame, "AF_XDP + stack, a reader goroutine (on the receiver CPU) drains the socket with ReadBatch"),
		live("rxpath-afpacket-udp", recvAFPacket, minFrame, "AF_PACKET TPACKET_V3 + stack, UDP handler mode"),
		live("kernel-recvmmsg", recvKernel, minFrame, "kernel UDP socket, x/net ipv4.PacketConn.ReadBatch (recvmmsg), blocking"),
		live("kernel-recvmmsg-spin", recvKernelSpin, minFrame, "kernel UDP socket, recvmmsg with MSG_DONTWAIT in a spinning loop"),
		live("asavie", recvAsavie, minFrame, "asavie/xdp rx-and-drop with its own Poll, native XDP"),
	}
	for _, payload := range []int{512, 1472} {
		fl := traffic.FrameLenForPayload(payload)
		defs = append(defs,
			live(fmt.Sprintf("%s-%d", report.XSKMinimalName, payload), recvXSKMinimal, fl, fmt.Sprintf("xsk-minimal with %d-byte UDP payloads", payload)),
			live(fmt.Sprintf("rxpath-udp-handler-%d", payload), recvHandler, fl, fmt.Sprintf("rxpath-udp-handler with %d-byte UDP payloads", payload)),
			live(fmt.Sprintf("kernel-recvmmsg-%d", payload), recvKernel, fl, fmt.Sprintf("kernel-recvmmsg with %d-byte UDP payloads", payload)),
		)
	}
	defs = append(defs,
		live("tap-devnull", recvTapDevNull, minFrame, "rxpath-udp-handler with the pcap tap writing to /dev/null"),
		live("tap-file", recvTapFile, minFrame, "rxpath-udp-handler with the pcap tap writing to a file in a temp dir"),
		tcpLive(report.TCPRxpathName, recvTCPRxpath, "a kernel TCP client streams to rxpath (AF_XDP + stack, a TCP sink in handler mode counting bytes)"),
		tcpLive(report.TCPKernelName, recvTCPKernel, "the same stream to a kernel TCP server on the DUT veth, an XDP_PASS program attached in the same mode"),
		Def{Name: report.HTTPRxpathName, Kind: report.KindHTTP, notQuick: true, Proto: report.ProtoTCP, FrameLen: stackcost.TCPFrameLen, recv: recvHTTPRxpath,
			Description: "net/http on rxpath's TCP listener, driven by wrk (200 kept-alive connections) and ab (100 at a time, a new connection per request) from the peer"},
		Def{Name: report.HTTPKernelName, Kind: report.KindHTTP, notQuick: true, Proto: report.ProtoTCP, FrameLen: stackcost.TCPFrameLen, recv: recvHTTPKernel,
			Description: "the same handler and load on a kernel TCP socket on the DUT veth, an XDP_PASS program attached in the same mode"},
		Def{Name: report.ConnMemoryName, Kind: report.KindConnMemory, notQuick: true, Proto: report.ProtoTCP, FrameLen: stackcost.TCPFrameLen, recv: recvConnMemory,
			Description: "bytes per idle ESTABLISHED connection and per TIME_WAIT entry: rxpath's Go heap and the kernel server's slab caches, over many connections from the peer"},
		cost(report.StackRxpathName, report.ProtoUDP, costRxpath, minFrame,
			"replayed UDP frames through rxpath's stack (ethernet, ipv4, udp) to a socket drained with ReadBatch"),
		cost(report.StackGVisorName, report.ProtoUDP, costGVisor, minFrame,
			"the same frames through gVisor's netstack (link/channel + ethernet, ipv4, udp) to an endpoint drained with Read"),
		cost(report.StackRxpathTCPName, report.ProtoTCP, costRxpathTCP, stackcost.TCPFrameLen,
			"one connection's in-order 1448-byte segments (after a handshake) through rxpath's stack (ethernet, ipv4, tcp), read with Conn.Read"),
		cost(report.StackGVisorTCPName, report.ProtoTCP, costGVisorTCP, stackcost.TCPFrameLen,
			"the same segments through gVisor's netstack (link/channel + ethernet, ipv4, tcp), the accepted endpoint read with Read"),
	)
	// Capacity rows (report.KindCapacity): one poller core fed by a NIC
	// in memory (driver/memnic, capacity.go), each with its own runner.
	defs = append(defs,
		capacity(report.MemnicRawName, recvRaw,
			"memnic (real rings and UMEM in memory, a producer thread on the generator CPU) saturating one poller: frames counted in the poller, no stack"),
		capacity(report.MemnicHandlerName, recvHandler,
			"memnic saturating one poller: stack, datagrams to a UDP socket in handler mode, counted by the app"),
		capacity(memnicReadBatchName, recvReadBatch,
			"memnic saturating one poller: stack, a reader thread (on the receiver CPU) drains the socket with ReadBatch"),
		capacity(report.MemnicTapName, recvTapDevNull,
			"memnic-udp-handler with the pcap tap writing to /dev/null"),
	)
	return defs
}

// Names returns the catalog's scenario names in order.
func Names() []string {
	var n []string
	for _, d := range Catalog() {
		n = append(n, d.Name)
	}
	return n
}

// Select returns the catalog entries named in list (comma-separated, in
// catalog order; "all" or "" selects everything). An unknown name is an
// error that lists the valid ones.
func Select(list string) ([]Def, error) {
	all := Catalog()
	if strings.TrimSpace(list) == "" || strings.TrimSpace(list) == "all" {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.ContainsFunc(all, func(d Def) bool { return d.Name == n }) {
			return nil, fmt.Errorf("unknown scenario %q; the scenarios are: %s", n, strings.Join(Names(), ", "))
		}
		want[n] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no scenario named in %q", list)
	}
	var out []Def
	for _, d := range all {
		if want[d.Name] {
			out = append(out, d)
		}
	}
	return out, nil
}
