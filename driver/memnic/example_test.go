package memnic_test

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/memnic"
	"github.com/rxpath/rxpath/stack/udp"
)

// Load-test a UDP handler without a NIC: the NIC in memory offers a
// million copies of a template datagram, as fast as the receive path
// takes them, to the stack and the socket rxpath.Open builds on it.
func ExampleOpener() {
	u := memnic.DefaultUDP() // 10.0.0.1:9000 → 10.0.0.2:9000, 60 bytes
	var got atomic.Uint64
	node, err := rxpath.Open(rxpath.Config{
		Interface:  "memnic0",
		OpenDevice: memnic.Opener(memnic.Options{Count: 1_000_000}),
		Addr:       netip.PrefixFrom(u.Dst.Addr(), 24),
		Setup: func(n *rxpath.Node) error {
			c, err := n.ListenUDP(u.Dst)
			if err != nil {
				return err
			}
			c.SetHandler(func(udp.Datagram) { got.Add(1) }) // the handler under test
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	nic := memnic.FromDevice(node.Device())
	<-nic.Done() // the NIC offered every frame
	// The poller may still be at work on the rx ring.
	for got.Load() < nic.Sent() {
		time.Sleep(time.Millisecond)
	}
	if err := node.Close(); err != nil { // checks the frame ledger
		fmt.Println(err)
	}
	fmt.Println(got.Load(), "datagrams")
	// Output: 1000000 datagrams
}
