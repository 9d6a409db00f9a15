package rxpath

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/stack/filter"
)

// XDPStats are the counters of the XDP triage stage (afxdp.Triage), in
// Snapshot.XDP when the stage runs. Frames it drops never reach the
// rings, the tap or the stack; these counters are where they went.
type XDPStats struct {
	afxdp.TriageStats
	// Rules are the filter rules the stage runs (Config.XDPFilter), with
	// the counters of the packets it dropped, reported as the stack's
	// own rules are (Filter.Stats): the same rule text, hook and verdict.
	Rules []filter.RuleStats `json:"rules,omitempty"`
}

// xdpFilter compiles the rules of a filter table that need no state, and
// that XDP can run without changing which rule counts a packet, into
// XDP drop rules. It returns them with their RuleStats templates.
//
// At each hook the stack's first matching rule wins, so only the drop
// rules ahead of the hook's first accept rule move: a packet they match
// would have been dropped by them. Input rules move only when every
// prerouting drop rule did (a prerouting rule runs first), and only for
// packets to addr (input sees nothing else): a rule whose destination
// excludes addr stays in the stack. An input rule with ports matches
// whole datagrams only; a fragmented one is left to the stack, which sees
// its ports after reassembly.
func xdpFilter(rules []filter.Rule, addr netip.Prefix) ([]afxdp.Rule, []filter.RuleStats) {
	var out []afxdp.Rule
	var stats []filter.RuleStats
	local := netip.PrefixFrom(addr.Addr(), 32)
	preDone := true
	for _, hook := range []filter.Hook{filter.PreRouting, filter.LocalIn} {
		if hook == filter.LocalIn && !preDone {
			break
		}
		stopped := false
		for _, r := range rules {
			if r.Hook != hook {
				continue
			}
			if stopped || len(out) == afxdp.MaxTriageRules {
				if r.Verdict == filter.Drop && hook == filter.PreRouting {
					preDone = false
				}
				continue
			}
			if r.Verdict != filter.Drop {
				stopped = true
				continue
			}
			x := afxdp.Rule{Proto: r.Proto, Src: r.Src, Dst: r.Dst, Queue: r.Queue,
				SrcPort: [2]uint16{0, 0xffff}, DstPort: [2]uint16{0, 0xffff}}
			if r.SrcPort != nil {
				x.SrcPort, x.Ports = [2]uint16{r.SrcPort.Lo, r.SrcPort.Hi}, true
			}
			if r.DstPort != nil {
				x.DstPort, x.Ports = [2]uint16{r.DstPort.Lo, r.DstPort.Hi}, true
			}
			if hook == filter.LocalIn {
				if r.Dst.IsValid() && !r.Dst.Contains(addr.Addr()) {
					continue // matches no local packet
				}
				x.Dst, x.Whole = local, x.Ports
			}
			text := r.Text
			if text == "" {
				text = r.String()
			}
			out = append(out, x)
			stats = append(stats, filter.RuleStats{Rule: text, Hook: r.Hook.String(), Verdict: r.Verdict.String()})
		}
	}
	return out, stats
}

// xdpSnapshot reads the triage stage's counters of dev, or nil.
func xdpSnapshot(dev *driver.Device, rules []filter.RuleStats) *XDPStats {
	x := auto.XDP(dev)
	if x == nil {
		return nil
	}
	ts, ok, err := x.TriageStats()
	if !ok || err != nil {
		return nil
	}
	s := &XDPStats{TriageStats: ts}
	for i, r := range rules {
		if i < len(ts.Rules) {
			r.Packets, r.Bytes = ts.Rules[i].Packets, ts.Rules[i].Bytes
		}
		s.Rules = append(s.Rules, r)
	}
	return s
}

// udpPorts is the set of UDP ports with a socket, kept for the triage
// stage's closed-port guard: the UDP layer reports changes
// (udp.PortWatcher), and each device the node binds gets the whole set
// when it opens, then every change. Safe for concurrent use.
type udpPorts struct {
	mu   sync.Mutex
	open map[uint16]bool
	dev  *afxdp.Device
}

// PortChanged implements udp.PortWatcher.
func (p *udpPorts) PortChanged(port uint16, open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		p.open = make(map[uint16]bool)
	}
	if open {
		p.open[port] = true
	} else {
		delete(p.open, port)
	}
	if p.dev != nil {
		// Only a closed device refuses (an array map takes every
		// port); the next device gets the whole set from attach.
		p.dev.SetUDPPort(port, open)
	}
}

// attach makes dev (nil: none) the device that learns the ports, and
// gives it every open one.
func (p *udpPorts) attach(dev *afxdp.Device) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dev = dev
	if dev == nil {
		return
	}
	for port := range p.open {
		dev.SetUDPPort(port, true)
	}
}

// sampleQueue is the tap queue the sampled drops are captured on: the
// tap's last, which no receive queue uses.
const sampleQueue = 1023

// sampleDrops copies the frames the triage stage of d drops and samples
// (Config.TapXDPDrops) to the node's capture, from a goroutine of its own
// that ends when d closes. Node.Close waits for it before it closes the
// capture.
func (n *Node) sampleDrops(d *driver.Device) {
	x := auto.XDP(d)
	if x == nil || n.capture == nil || !n.cfg.TapXDPDrops {
		return
	}
	if on, _ := x.Triage(); !on {
		return
	}
	bc, _ := n.capture.(BatchCapturer)
	n.samplers.Add(1)
	go func() {
		defer n.samplers.Done()
		for {
			s, err := x.ReadDropSample(time.Second)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				return // the device closed
			}
			n.capture.Capture(s.Data, sampleQueue)
			if bc != nil {
				bc.EndBatch(sampleQueue)
			}
		}
	}()
}
