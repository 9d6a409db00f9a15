package memnic_test

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/driver/memnic"
	"github.com/rxpath/rxpath/stack/udp"
)

func autoOptions() auto.Options { return auto.Options{} }

// TestRxpathUDP runs the whole receive path on a memnic: rxpath.Open with
// the NIC as its device, the stack answering for the template's
// destination, and a UDP socket in handler mode that checks every
// datagram's sequence number.
func TestRxpathUDP(t *testing.T) {
	const count = 100_000
	u := memnic.DefaultUDP()
	var got, disorder atomic.Uint64
	next := uint64(0)
	cfg := rxpath.Config{
		Interface:  "memnic0",
		OpenDevice: memnic.Opener(memnic.Options{Count: count}),
		Addr:       netip.PrefixFrom(u.Dst.Addr(), 24),
		Setup: func(n *rxpath.Node) error {
			c, err := n.ListenUDP(u.Dst)
			if err != nil {
				return err
			}
			c.SetHandler(func(d udp.Datagram) {
				seq := binary.BigEndian.Uint64(d.Payload)
				if seq != next || d.Src != u.Src {
					disorder.Add(1)
				}
				next = seq + 1
				got.Add(1)
			})
			return nil
		},
	}
	n, err := rxpath.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nic := memnic.FromDevice(n.Device())
	if nic == nil {
		t.Fatal("the node's device is not a memnic")
	}
	select {
	case <-nic.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("run not done after 30s: %+v", nic.Stats())
	}
	waitFor(t, 10*time.Second, "every datagram", func() bool { return got.Load() == count })
	if err := n.Close(); err != nil { // checks the ledgers
		t.Fatal(err)
	}
	if disorder.Load() != 0 {
		t.Errorf("%d datagrams out of order or from the wrong source", disorder.Load())
	}
	if s := n.UDP.Stats(); s.InDatagrams != count {
		t.Errorf("udp stats %+v, want %d datagrams in", s, count)
	}
	f := n.Final()
	if f.Driver != "xdp" || f.Mode != memnic.Mode || f.Frames != count || f.Dropped != 0 || f.LedgerErr != "" {
		t.Errorf("final snapshot: driver %q mode %q frames %d dropped %d ledger %q", f.Driver, f.Mode, f.Frames, f.Dropped, f.LedgerErr)
	}
}

// TestRxpathReadBatch reads the datagrams with ReadBatch on another
// goroutine. The NIC saturates, so it drops nothing, and the datagrams
// fit the socket's receive buffer, so nothing is lost anywhere.
func TestRxpathReadBatch(t *testing.T) {
	const count = 20_000 // 82 bytes each against udp.DefaultRcvBuf
	u := memnic.DefaultUDP()
	nic, err := memnic.New(memnic.Options{Count: count, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	var conn *udp.Conn
	n, err := rxpath.Open(rxpath.Config{
		Interface:  "memnic0",
		OpenDevice: nic.OpenDevice,
		Addr:       netip.PrefixFrom(u.Dst.Addr(), 24),
		Setup: func(n *rxpath.Node) (err error) {
			conn, err = n.ListenUDP(u.Dst)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	nic.Start()
	msgs := make([]udp.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 2048)
	}
	next := uint64(0)
	for read := 0; read < count; {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := conn.ReadBatch(msgs)
		if err != nil {
			t.Fatalf("after %d datagrams: %v (nic %+v)", read, err, nic.Stats())
		}
		for _, m := range msgs[:k] {
			if seq := binary.BigEndian.Uint64(m.Buf); seq != next {
				t.Fatalf("datagram %d: sequence number %d, want %d", read, seq, next)
			}
			next++
		}
		read += k
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}
