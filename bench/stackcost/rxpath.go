package stackcost

import (
	"net/netip"
	"time"

	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/udp"
)

type rxpathSink struct {
	s    *stack.Stack
	conn *udp.Conn
	msgs []udp.Message
}

// NewRxpath returns rxpath's stack (link layer, IPv4, UDP) answering for
// Prefix on DstMAC, with a socket on Dst in queue mode.
func NewRxpath() (Sink, error) {
	s, err := stack.New(stack.Options{MAC: DstMAC, Addrs: []netip.Prefix{Prefix}})
	if err != nil {
		return nil, err
	}
	u := udp.New(ipv4.New(s, ipv4.Options{}), udp.Options{})
	c, err := u.Listen(Dst, udp.SocketOptions{})
	if err != nil {
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

func (k *rxpathSink) Close() error { return k.conn.Close() }
