package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rxpath/rxpath/bench/gen"
	"github.com/rxpath/rxpath/bench/report"
)

// recvKind is the receiver a live row runs, or the stack a cost row uses.
type recvKind int

const (
	recvNone       recvKind = iota // not available yet
	recvCeiling                    // XDP_DROP in the kernel
	recvRaw                        // AF_XDP, frames counted in the poller
	recvHandler                    // AF_XDP + stack, UDP handler mode
	recvReadBatch                  // AF_XDP + stack, ReadBatch on a reader goroutine
	recvAFPacket                   // AF_PACKET + stack, UDP handler mode
	recvKernel                     // kernel UDP socket, blocking recvmmsg
	recvKernelSpin                 // kernel UDP socket, MSG_DONTWAIT spin
	recvAsavie                     // asavie/xdp rx-and-drop
	recvTapDevNull                 // recvHandler + pcap tap to /dev/null
	recvTapFile                    // recvHandler + pcap tap to a file
	costRxpath                     // stack cost: rxpath
	costGVisor                     // stack cost: gVisor netstack
)

// Def is one scenario of the catalog.
type Def struct {
	Name        string
	Kind        report.Kind
	Description string
	// FrameLen is the Ethernet frame length without FCS.
	FrameLen int
	// NotAvailable, if set, is why the row cannot be measured yet.
	NotAvailable string
	recv         recvKind
}

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
func (d Def) needsKernelAddr() bool { return d.recv == recvKernel || d.recv == recvKernelSpin }

const (
	minFrame = 60
	noTCP    = "no TCP stack in rxpath yet (stack/tcp is being written)"
)

// Catalog returns every scenario in report order.
func Catalog() []Def {
	live := func(name string, r recvKind, frame int, desc string) Def {
		return Def{Name: name, Kind: report.KindLive, Description: desc, FrameLen: frame, recv: r}
	}
	defs := []Def{
		live("ceiling", recvCeiling, minFrame, "XDP_DROP on the DUT veth, counted in a per-CPU map: what the kernel path costs with no receiver"),
		live("rxpath-raw", recvRaw, minFrame, "AF_XDP frames counted in the poller, no stack"),
		live("rxpath-udp-handler", recvHandler, minFrame, "AF_XDP + stack, datagrams to a UDP socket in handler mode, counted by the app"),
		live("rxpath-udp-readbatch", recvReadBatch, minFrame, "AF_XDP + stack, a reader goroutine (on the receiver CPU) drains the socket with ReadBatch"),
		live("rxpath-afpacket-udp", recvAFPacket, minFrame, "AF_PACKET TPACKET_V3 + stack, UDP handler mode"),
		live("kernel-recvmmsg", recvKernel, minFrame, "kernel UDP socket, x/net ipv4.PacketConn.ReadBatch (recvmmsg), blocking"),
		live("kernel-recvmmsg-spin", recvKernelSpin, minFrame, "kernel UDP socket, recvmmsg with MSG_DONTWAIT in a spinning loop"),
		live("asavie", recvAsavie, minFrame, "asavie/xdp rx-and-drop with its own Poll, native XDP"),
	}
	for _, payload := range []int{512, 1472} {
		fl := gen.FrameLenForPayload(payload)
		defs = append(defs,
			live(fmt.Sprintf("rxpath-udp-handler-%d", payload), recvHandler, fl, fmt.Sprintf("rxpath-udp-handler with %d-byte UDP payloads", payload)),
			live(fmt.Sprintf("kernel-recvmmsg-%d", payload), recvKernel, fl, fmt.Sprintf("kernel-recvmmsg with %d-byte UDP payloads", payload)),
		)
	}
	defs = append(defs,
		live("tap-devnull", recvTapDevNull, minFrame, "rxpath-udp-handler with the pcap tap writing to /dev/null"),
		live("tap-file", recvTapFile, minFrame, "rxpath-udp-handler with the pcap tap writing to a file in a temp dir"),
		Def{Name: "tcp-rxpath", Kind: report.KindLive, Description: "TCP receive through rxpath's stack", NotAvailable: noTCP},
		Def{Name: "tcp-kernel", Kind: report.KindLive, Description: "TCP receive through a kernel socket, the baseline for tcp-rxpath", NotAvailable: noTCP},
		Def{Name: report.StackRxpathName, Kind: report.KindStackCost, FrameLen: minFrame, recv: costRxpath,
			Description: "replayed UDP frames through rxpath's stack (ethernet, ipv4, udp) to a socket drained with ReadBatch"},
		Def{Name: report.StackGVisorName, Kind: report.KindStackCost, FrameLen: minFrame, recv: costGVisor,
			Description: "the same frames through gVisor's netstack (link/channel + ethernet, ipv4, udp) to an endpoint drained with Read"},
		Def{Name: "stack-rxpath-tcp", Kind: report.KindStackCost, Description: "TCP segments through rxpath's stack", NotAvailable: noTCP},
		Def{Name: "stack-gvisor-tcp", Kind: report.KindStackCost, Description: "the same TCP segments through gVisor's netstack", NotAvailable: noTCP},
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
