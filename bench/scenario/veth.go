package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/rxpath/rxpath/bench/sysstat"
)

// vethCounters merges `ethtool -S` output (keys as printed) with the
// drop counters of `ip -j -s link show` (keys "link.rx_dropped",
// "link.tx_dropped").
func vethCounters(ethtool, ipJSON []byte) (map[string]uint64, error) {
	c, err := sysstat.ParseEthtool(bytes.NewReader(ethtool))
	if err != nil {
		return nil, fmt.Errorf("parse ethtool -S: %w", err)
	}
	var links []struct {
		Stats64 struct {
			Rx struct {
				Dropped uint64 `json:"dropped"`
			} `json:"rx"`
			Tx struct {
				Dropped uint64 `json:"dropped"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(ipJSON), &links); err != nil {
		return nil, fmt.Errorf("parse ip -j -s link: %w", err)
	}
	if len(links) != 1 {
		return nil, fmt.Errorf("ip -j -s link listed %d links", len(links))
	}
	c["link.rx_dropped"] = links[0].Stats64.Rx.Dropped
	c["link.tx_dropped"] = links[0].Stats64.Tx.Dropped
	return c, nil
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
