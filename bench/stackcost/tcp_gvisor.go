package stackcost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/rxpath/rxpath/poller"
)

type gvisorTCPSink struct {
	s   *stack.Stack
	ch  *channel.Endpoint
	l   tcpip.Endpoint
	lwq waiter.Queue
	ep  tcpip.Endpoint
	wq  *waiter.Queue
	we  waiter.Entry
	rd  chan struct{} // readable notifications of ep
	tm  *time.Timer
	buf []byte
}

// NewGVisorTCP returns gVisor's netstack with IPv4, ARP and TCP (SACK on,
// as Linux) on one NIC (a link/channel endpoint behind link/ethernet, MAC
// DstMAC, address Prefix, a static neighbour entry for Src), and a TCP
// listener on Dst with a 4 MiB receive buffer, like rxpath's default. The
// accepted endpoint is read with Read into a 64 KiB buffer. f is not used:
// gVisor transmits into its channel endpoint.
func NewGVisorTCP(*Feed) (TCPSink, error) {
	k := &gvisorTCPSink{buf: make([]byte, 64<<10), tm: time.NewTimer(time.Hour)}
	k.tm.Stop()
	k.s = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	if err := k.s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		k.s.Destroy()
		return nil, fmt.Errorf("gvisor: enable SACK: %s", err)
	}
	// Room for every ACK of the largest poll round between two drains.
	k.ch = channel.New(4096, 1514, tcpip.LinkAddress(DstMAC))
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
	if err := k.s.AddStaticNeighbor(1, ipv4.ProtocolNumber, tcpip.AddrFrom4(Src.Addr().As4()), tcpip.LinkAddress(SrcMAC)); err != nil {
		k.s.Destroy()
		return nil, fmt.Errorf("gvisor: static neighbour: %s", err)
	}
	l, err := k.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &k.lwq)
	if err != nil {
		k.s.Destroy()
		return nil, fmt.Errorf("gvisor: new TCP endpoint: %s", err)
	}
	k.l = l
	l.SocketOptions().SetReceiveBufferSize(4<<20, true)
	if err := l.Bind(tcpip.FullAddress{Addr: tcpip.AddrFrom4(Dst.Addr().As4()), Port: Dst.Port()}); err != nil {
		k.Close()
		return nil, fmt.Errorf("gvisor: bind %v: %s", Dst, err)
	}
	if err := l.Listen(16); err != nil {
		k.Close()
		return nil, fmt.Errorf("gvisor: listen on %v: %s", Dst, err)
	}
	return k, nil
}

// Handler copies each frame into a gVisor packet buffer and injects it,
// as gVisor's own link endpoints do with what they read.
func (k *gvisorTCPSink) Handler() poller.Handler {
	return func(b *poller.Batch) {
		for i := range b.Frames {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b.Frames[i].Data)})
			k.ch.InjectInbound(0, pkt) // link/ethernet reads the EtherType
			pkt.DecRef()
		}
	}
}

// Outbound waits for the next frame gVisor transmits: its TCP answers on
// a processor goroutine.
func (k *gvisorTCPSink) Outbound(timeout time.Duration) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pkt := k.ch.ReadContext(ctx)
	if pkt == nil {
		return nil
	}
	defer pkt.DecRef()
	v := pkt.ToView()
	defer v.Release()
	return append([]byte(nil), v.AsSlice()...)
}

func (k *gvisorTCPSink) DiscardOutbound() int { return k.ch.Drain() }

func (k *gvisorTCPSink) Accept(timeout time.Duration) error {
	we, ready := waiter.NewChannelEntry(waiter.ReadableEvents)
	k.lwq.EventRegister(&we)
	defer k.lwq.EventUnregister(&we)
	deadline := time.After(timeout)
	for {
		ep, wq, err := k.l.Accept(nil)
		if err == nil {
			k.ep, k.wq = ep, wq
			k.we, k.rd = waiter.NewChannelEntry(waiter.ReadableEvents)
			k.wq.EventRegister(&k.we)
			return nil
		}
		if _, ok := err.(*tcpip.ErrWouldBlock); !ok {
			return fmt.Errorf("gvisor accept: %s", err)
		}
		select {
		case <-ready:
		case <-deadline:
			return errors.New("gvisor: no connection to accept")
		}
	}
}

func (k *gvisorTCPSink) Drain() int {
	total := 0
	for {
		w := tcpip.SliceWriter(k.buf)
		res, err := k.ep.Read(&w, tcpip.ReadOptions{})
		if err != nil {
			// *tcpip.ErrWouldBlock: nothing queued.
			return total
		}
		total += res.Count
	}
}

// WaitReadable waits for gVisor's processor goroutine to queue bytes.
func (k *gvisorTCPSink) WaitReadable(timeout time.Duration) {
	k.tm.Reset(timeout)
	select {
	case <-k.rd:
	case <-k.tm.C:
	}
	k.tm.Stop()
}

func (k *gvisorTCPSink) Close() error {
	if k.ep != nil {
		k.wq.EventUnregister(&k.we)
		k.ep.Close()
	}
	if k.l != nil {
		k.l.Close()
	}
	k.s.Destroy()
	return nil
}
