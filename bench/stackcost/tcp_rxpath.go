package stackcost

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp"
)

type rxpathTCPSink struct {
	s   *rxpath.Stack
	t   *tcp.TCP
	l   *tcp.Listener
	c   *tcp.Conn
	f   *Feed
	buf []byte
	// handler mode: the bytes the handler saw, and how many of them Drain
	// has reported.
	handler  bool
	got      atomic.Uint64
	reported uint64
}

// NewRxpathTCP returns rxpath's stack (link layer, IPv4, TCP) answering
// for Prefix on DstMAC, transmitting into f, with a listener on Dst whose
// connection the application reads with Read into a 64 KiB buffer, as
// gVisor's is.
func NewRxpathTCP(f *Feed) (TCPSink, error) { return newRxpathTCP(f, false) }

// NewRxpathTCPHandler is NewRxpathTCP with the listener in handler mode:
// the stream's bytes reach the application as zero-copy views on the
// poller goroutine, and nothing is copied out.
func NewRxpathTCPHandler(f *Feed) (TCPSink, error) { return newRxpathTCP(f, true) }

func newRxpathTCP(f *Feed, handler bool) (TCPSink, error) {
	s, err := rxpath.NewStack(rxpath.StackConfig{MAC: DstMAC, Addr: Prefix})
	if err != nil {
		return nil, err
	}
	k := &rxpathTCPSink{s: s, t: s.TCP, f: f, handler: handler, buf: make([]byte, 64<<10)}
	s.Link.AddStaticNeighbor(Src.Addr().As4(), header.MAC(SrcMAC))
	if err := s.Attach(rxpath.NewQueueLink(DstMAC, 0, f)); err != nil {
		s.Close()
		return nil, err
	}
	var lo tcp.ListenOptions
	if handler {
		lo.Handler = func(*tcp.Conn) func([]byte) {
			return func(b []byte) { k.got.Add(uint64(len(b))) }
		}
	}
	if k.l, err = k.t.Listen(Dst, lo); err != nil {
		k.s.Close()
		return nil, err
	}
	return k, nil
}

func (k *rxpathTCPSink) Handler() poller.Handler { return k.s.Handler() }

// Outbound returns what the stack transmitted into the feed: it transmits
// on the poller goroutine, so there is nothing to wait for.
func (k *rxpathTCPSink) Outbound(time.Duration) []byte { return k.f.Sent() }

func (k *rxpathTCPSink) DiscardOutbound() int { return k.f.Dropped() }

func (k *rxpathTCPSink) Accept(timeout time.Duration) error {
	type res struct {
		c   *tcp.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := k.l.AcceptTCP()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return fmt.Errorf("rxpath accept: %w", r.err)
		}
		k.c = r.c
		return nil
	case <-time.After(timeout):
		k.l.Close() // ends the AcceptTCP above
		return errors.New("rxpath: no connection to accept")
	}
}

func (k *rxpathTCPSink) Drain() int {
	if k.handler {
		g := k.got.Load()
		n := g - k.reported
		k.reported = g
		return int(n)
	}
	total := 0
	for {
		// Read blocks on an empty buffer: ask first.
		if n, _ := k.c.Buffered(); n == 0 {
			return total
		}
		n, err := k.c.Read(k.buf)
		total += n
		if err != nil {
			return total
		}
	}
}

// WaitReadable only yields: rxpath delivers on the poller goroutine, so
// bytes not there after a poll round are not coming.
func (k *rxpathTCPSink) WaitReadable(timeout time.Duration) {
	time.Sleep(min(timeout, time.Millisecond))
}

func (k *rxpathTCPSink) Close() error {
	var errs []error
	if k.c != nil {
		errs = append(errs, k.c.Close())
	}
	errs = append(errs, k.l.Close())
	k.s.Close()
	return errors.Join(errs...)
}
