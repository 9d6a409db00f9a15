package stackcost

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/rxpath/rxpath/poller"
)

type gvisorSink struct {
	s   *stack.Stack
	ch  *channel.Endpoint
	ep  tcpip.Endpoint
	wq  waiter.Queue
	buf []byte
}

// NewGVisor returns gVisor's netstack with IPv4 and UDP on one NIC (a
// link/channel endpoint behind link/ethernet, MAC DstMAC, address Prefix)
// and a UDP endpoint bound to Dst with a 4 MiB receive buffer, like
// rxpath's default.
func NewGVisor() (Sink, error) {
	k := &gvisorSink{buf: make([]byte, 2048)}
	k.s = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
	})
	k.ch = channel.New(512, 1514, tcpip.LinkAddress(DstMAC))
	if err := k.s.CreateNIC(1, ethernet.New(k.ch)); err != nil {
		k.s.Destroy()
		return nil, fmt.Errorf("gvisor: create NIC: %s", err)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4(Prefix.Addr().As4()).WithPrefix(),
	}
	pa.AddressWithPrefix.PrefixLen = Prefix.Bits()
	if err := k.s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		k.s.Destroy()
		return nil, fmt.Errorf("gvisor: add address: %s", err)
	}
	k.s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: 1}})
	ep, err := k.s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &k.wq)
	if err != nil {
		k.s.Destroy()
		return nil, fmt.Errorf("gvisor: new UDP endpoint: %s", err)
	}
	k.ep = ep
	ep.SocketOptions().SetReceiveBufferSize(4<<20, true)
	if err := ep.Bind(tcpip.FullAddress{Addr: tcpip.AddrFrom4(Dst.Addr().As4()), Port: Dst.Port()}); err != nil {
		k.Close()
		return nil, fmt.Errorf("gvisor: bind %v: %s", Dst, err)
	}
	return k, nil
}

// Handler copies each frame into a gVisor packet buffer and injects it,
// as gVisor's own link endpoints do with what they read.
func (k *gvisorSink) Handler() poller.Handler {
	return func(b *poller.Batch) {
		for i := range b.Frames {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b.Frames[i].Data)})
			k.ch.InjectInbound(0, pkt) // link/ethernet reads the EtherType
			pkt.DecRef()
		}
	}
}

func (k *gvisorSink) Drain() int {
	n := 0
	for {
		w := tcpip.SliceWriter(k.buf)
		_, err := k.ep.Read(&w, tcpip.ReadOptions{})
		if err != nil {
			// *tcpip.ErrWouldBlock: the queue is empty.
			return n
		}
		n++
	}
}

func (k *gvisorSink) Close() error {
	if k.ep != nil {
		k.ep.Close()
	}
	k.s.Destroy()
	return nil
}
