package scenario

import (
	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/tap"
)

// nodeCounters adds the counters every rxpath row reads from its node to
// c: per poller, the driver's and the poller's; with a stack, the link
// layer's, IPv4's and UDP's.
func nodeCounters(c map[string]uint64, n *rxpath.Node) {
	for _, p := range n.Pollers() {
		s := p.Stats()
		c["driver.rx_frames"] += s.Driver.RxFrames
		c["driver.rx_invalid"] += s.Driver.RxInvalid
		c["driver.rx_truncated"] += s.Driver.RxTrunc
		c["poller.processed"] += s.Processed
		c["poller.time_squeeze"] += s.TimeSqueeze
		c["poller.polls"] += s.Polls
		c["poller.wakeups"] += s.Wakeups
		c["poller.yields"] += s.Yields
		c["poller.busy_ns"] += s.BusyNS
	}
	if n.Stack == nil {
		return
	}
	s := n.Stack.Stats()
	c["stack.frames"] = s.Frames
	c["stack.drops"] = s.TooShort + s.NotForUs + s.UnknownType + s.ARPMalformed
	i := n.IPv4.Stats()
	c["ipv4.received"] = i.Received
	c["ipv4.drops"] = i.TooShort + i.BadVersion + i.BadIHL + i.BadTotalLength + i.LengthBeyond + i.BadChecksum +
		i.BadOptions + i.SourceRoute + i.Martian + i.TTLZero + i.NotForUs + i.FilterPre + i.FilterIn + i.UnknownProto
	u := n.UDP.Stats()
	c["udp.in_datagrams"] = u.InDatagrams
	c["udp.no_ports"] = u.NoPorts
	c["udp.bad_length"] = u.BadLength
	c["udp.csum_errors"] = u.CsumErrors
	c["udp.rcvbuf_errors"] = u.RcvbufErrors
}

// tapCounters adds tp's counters to c, if there is a tap.
func tapCounters(c map[string]uint64, tp *tap.Tap) {
	if tp == nil {
		return
	}
	t := tp.Stats()
	c["tap.seen"], c["tap.dropped"], c["tap.written"], c["tap.write_errors"] = t.Seen, t.Dropped, t.Written, t.WriteErrors
	c["tap.filtered"], c["tap.queued"] = t.Filtered, t.Queued
}
