package stackcost

import (
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/udp"
)

type rxpathSink struct {
	s    *rxpath.Stack
	conn *udp.Conn
	msgs []udp.Message
}

// NewRxpath returns rxpath's stack (rxpath.NewStack: link layer, IPv4,
// UDP, TCP) answering for Prefix on DstMAC, with a socket on Dst in queue
// mode.
func NewRxpath() (Sink, error) {
	s, err := rxpath.NewStack(rxpath.StackConfig{MAC: DstMAC, Addr: Prefix})
	if err != nil {
		return nil, err
	}
	c, err := s.UDP.Listen(Dst, udp.SocketOptions{})
	if err != nil {
		s.Close()
		return nil, err
	}
	// A deadline in the past makes ReadBatch return at once when the
	// queue is empty.
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, err
	}
	k := &rxpathSink{s: s, conn: c, msgs: make([]udp.Message, 64)}
	for i := range k.msgs {
		k.msgs[i].Buf = make([]byte, 2048)
	}
	return k, nil
}

func (k *rxpathSink) Handler() poller.Handler { return k.s.Handler() }

func (k *rxpathSink) Drain() int {
	total := 0
	for {
		// The only error is the deadline's: the queue is empty.
		n, err := k.conn.ReadBatch(k.msgs)
		total += n
		if err != nil || n < len(k.msgs) {
			return total
		}
	}
}

func (k *rxpathSink) Close() error {
	err := k.conn.Close()
	k.s.Close()
	return err
}
