package summary

import (
	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/filter"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/tcp"
	"github.com/rxpath/rxpath/stack/udp"
	"github.com/rxpath/rxpath/tap"
)

// Summary is the JSON summary of `rxpath run`: the node's receive counters
// and, with --ip, each stack layer's.
type Summary struct {
	rxpath.Snapshot
	Stack    *stack.Stats       `json:"stack,omitempty"`
	IPv4     *ipv4.Stats        `json:"ipv4,omitempty"`
	UDP      *udp.Stats         `json:"udp,omitempty"`
	Filter   []filter.RuleStats `json:"filter,omitempty"`
	Tap      *tap.Stats         `json:"tap,omitempty"`
	UDPSinks []SinkStats        `json:"udp_sinks,omitempty"`
	TCP      *tcp.Stats         `json:"tcp,omitempty"`
	TCPSinks []TCPSinkStats     `json:"tcp_sinks,omitempty"`
	PcapFile string             `json:"pcap,omitempty"`
	// Reattached counts the times --reattach bound the interface again
	// after it was deleted.
	Reattached int `json:"reattached,omitempty"`
}

// SinkStats is the summary of one --udp-sink port.
type SinkStats struct {
	Port       uint16 `json:"port"`
	Datagrams  uint64 `json:"datagrams"`
	Bytes      uint64 `json:"bytes"`
	Sequenced  uint64 `json:"sequenced"`
	FirstSeq   uint64 `json:"first_seq"`
	LastSeq    uint64 `json:"last_seq"`
	SeqGaps    uint64 `json:"seq_gaps"`
	OutOfOrder uint64 `json:"out_of_order"`
}

// TCPSinkStats is the summary of one --tcp-sink port.
type TCPSinkStats struct {
	Port uint16 `json:"port"`
	// Accepted counts connections the sink took; Complete those that
	// ended with the peer's FIN; Open those still receiving.
	Accepted uint64 `json:"accepted"`
	Complete uint64 `json:"complete"`
	Open     uint64 `json:"open"`
	// Connections lists the open connections and the most recent ended
	// ones, by remote address. RecordsEvicted counts ended connections
	// no longer listed (beyond the sink's record limit).
	Connections    []TCPConnStats `json:"connections"`
	RecordsEvicted uint64         `json:"records_evicted"`
	Bytes          uint64         `json:"bytes"`
}

// TCPConnStats is one drained connection in the summary.
type TCPConnStats struct {
	Remote string `json:"remote"`
	Bytes  uint64 `json:"bytes"`
	SHA256 string `json:"sha256"`        // of the bytes so far while open
	Done   bool   `json:"complete"`      // the peer finished with a FIN
	Open   bool   `json:"open,omitzero"` // still receiving
}
