package udp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/replay"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/stack/ipv4"
	"github.com/rxpath/rxpath/stack/udp"
)

// BenchmarkStackReplay measures the stack's cost per UDP datagram, from
// the driver's frame to the socket handler, with the replay driver
// feeding a fixed frame set through the real poller: no kernel in the
// loop. One op is one datagram.
func BenchmarkStackReplay(b *testing.B) {
	for _, mode := range []string{"handler", "queue"} {
		b.Run(mode, func(b *testing.B) {
			t := &testing.T{}
			var pkts []replay.Packet
			for i := 0; i < 256; i++ {
				pkts = append(pkts, replay.Packet{Data: udpFrame(t, uint16(1000+i), 9000, make([]byte, 18)), Time: time.Unix(0, 0)})
			}
			q := replay.New(pkts, replay.Options{Repeat: -1})
			s, _ := stack.New(stack.Options{MAC: ourMAC, Addrs: []netip.Prefix{netip.PrefixFrom(ourIP, 24)}})
			ip := ipv4.New(s, ipv4.Options{})
			u := udp.New(ip, udp.Options{})
			c, _ := u.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 9000), udp.SocketOptions{})
			var n int
			if mode == "handler" {
				c.SetHandler(func(d udp.Datagram) { n += len(d.Payload) })
			}
			msgs := make([]udp.Message, 64)
			for i := range msgs {
				msgs[i].Buf = make([]byte, 64)
			}
			c.SetReadDeadline(time.Unix(1, 0)) // ReadBatch on an empty queue returns at once
			p := poller.New(q, rxpath.StackHandler(s), poller.Options{})
			b.ReportAllocs()
			b.ResetTimer()
			done := 0
			for done < b.N {
				done += p.Poll()
				if mode == "queue" {
					for {
						if k, err := c.ReadBatch(msgs); err != nil || k < len(msgs) {
							break
						}
					}
				}
			}
			b.StopTimer()
			if mode == "handler" && u.Stats().InDatagrams < uint64(b.N) {
				b.Fatalf("delivered %d of %d", u.Stats().InDatagrams, b.N)
			}
			c.Close()
			q.Close()
		})
	}
}
