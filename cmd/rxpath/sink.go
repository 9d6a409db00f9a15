package main

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/rxpath/rxpath/internal/cli/summary"
	"github.com/rxpath/rxpath/stack/udp"
)

// udpSink counts datagrams to one port in handler mode and checks the
// 8-byte big-endian sequence number the generators put at the start of
// the payload.
type udpSink struct {
	port       uint16
	datagrams  atomic.Uint64
	bytes      atomic.Uint64
	sequenced  atomic.Uint64 // datagrams long enough to carry a sequence number
	gaps       atomic.Uint64 // sequence numbers skipped (lost or still to come out of order)
	outOfOrder atomic.Uint64 // sequence numbers at or below the highest seen
	first      atomic.Uint64
	last       atomic.Uint64
	started    atomic.Bool
}

// handle runs on a poller goroutine. Several pollers may deliver to the
// same socket; the sequence check is then approximate across queues.
func (s *udpSink) handle(d udp.Datagram) {
	s.datagrams.Add(1)
	s.bytes.Add(uint64(len(d.Payload)))
	if len(d.Payload) < 8 {
		return
	}
	seq := binary.BigEndian.Uint64(d.Payload)
	s.sequenced.Add(1)
	if !s.started.Load() {
		s.started.Store(true)
		s.first.Store(seq)
		s.last.Store(seq)
		return
	}
	last := s.last.Load()
	switch {
	case seq == last+1:
		s.last.Store(seq)
	case seq > last+1:
		s.gaps.Add(seq - last - 1)
		s.last.Store(seq)
	default:
		s.outOfOrder.Add(1)
	}
}

func (s *udpSink) stats() summary.SinkStats {
	return summary.SinkStats{Port: s.port, Datagrams: s.datagrams.Load(), Bytes: s.bytes.Load(), Sequenced: s.sequenced.Load(),
		FirstSeq: s.first.Load(), LastSeq: s.last.Load(), SeqGaps: s.gaps.Load(), OutOfOrder: s.outOfOrder.Load()}
}
