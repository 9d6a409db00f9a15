package scenario

import (
	"maps"
	"regexp"
)

// vethCounters merges a veth end's driver statistics (`ethtool -S`, keys
// as printed) with its link's drop counters (`ip -s link show`, keys
// "link.rx_dropped", "link.tx_dropped").
func vethCounters(ethtool map[string]uint64, rxDropped, txDropped uint64) map[string]uint64 {
	c := maps.Clone(ethtool)
	if c == nil {
		c = make(map[string]uint64, 2)
	}
	c["link.rx_dropped"] = rxDropped
	c["link.tx_dropped"] = txDropped
	return c
}

var xdpDropsKey = regexp.MustCompile(`^veth\.dut\.rx_queue_[0-9]+_xdp_drops$`)

// vethLoss is what the veth pair dropped: the DUT end's rx_dropped (its
// rings overflowed, or frames its XDP program redirected could not be
// taken), the peer end's tx_dropped, and, unless XDP_DROP is how the
// receiver counts (the ceiling), the DUT's XDP drops. A failed redirect
// into an AF_XDP socket is counted by the veth and by the socket
// (rx_ring_full, rx_dropped); redirected is the socket's count, taken off
// here so that each lost frame has one place.
func vethLoss(d map[string]int64, countXDPDrops bool, redirected uint64) uint64 {
	n := pos(d["veth.dut.link.rx_dropped"])
	n -= min(n, redirected)
	n += pos(d["veth.peer.link.tx_dropped"])
	if countXDPDrops {
		for k, v := range d {
			if xdpDropsKey.MatchString(k) {
				n += pos(v)
			}
		}
	}
	return n
}

func pos(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}
