package afxdp

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/rxring"
	"github.com/rxpath/rxpath/umem"
)

// memKernel plays the kernel's half of a Queue whose rings and UMEM live
// in plain memory: it takes frames from the fill ring, "receives" a
// 60-byte frame into each and posts its descriptor on the rx ring. It
// lets the receive path (Refill, Receive, Release, the ledger and the
// poller over them) run without a socket or privilege, for benchmarks
// and allocation tests.
type memKernel struct {
	fill  *rxring.KernelFill
	rx    *rxring.KernelRx
	addrs []uint64 // fill entries taken and not yet posted: a tail of buf
	buf   []uint64
	descs []rxring.Desc
	off   uint64
}

// newMemQueue returns a Queue over plain-memory rings and a fresh UMEM,
// refilled once, and the kernel side that feeds it. Without a socket the
// queue cannot Wait; see newMemQueueSocket.
func newMemQueue(tb testing.TB, o Options) (*Queue, *memKernel) {
	tb.Helper()
	return newMem(tb, o, false)
}

// newMemQueueSocket is newMemQueue with an unbound AF_XDP socket and an
// eventfd, so that the queue can run under a poller's loop: Wait sleeps
// until Wake, Close or its timeout (an unbound socket is never readable).
func newMemQueueSocket(tb testing.TB, o Options) (*Queue, *memKernel) {
	tb.Helper()
	return newMem(tb, o, true)
}

func newMem(tb testing.TB, o Options, socket bool) (*Queue, *memKernel) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		tb.Fatal(err)
	}
	q := new(Queue)
	q.sk.FD = -1 // no socket
	if socket {
		if err := q.sk.Open("afxdp-mem", 0, nil, unix.AF_XDP, "AF_XDP", caps); err != nil {
			q.Close()
			tb.Skip(err)
		}
	}
	var err error
	if q.r.UMEM, err = umem.New(o.UMEM); err != nil {
		tb.Fatal(err)
	}
	k := &memKernel{off: uint64(q.r.UMEM.DataOffset())}
	fm, foff := rxring.Layout(o.FillSize, rxring.AddrSize)
	rm, roff := rxring.Layout(o.RxSize, rxring.DescSize)
	tm, toff := rxring.Layout(o.TxSize, rxring.DescSize)
	cm, coff := rxring.Layout(o.CompSize, rxring.AddrSize)
	q.r.Fill = must(rxring.NewFillRing(fm, foff, o.FillSize))
	q.r.Rx = must(rxring.NewRxRing(rm, roff, o.RxSize))
	q.r.Tx = must(rxring.NewTxRing(tm, toff, o.TxSize))
	q.r.Comp = must(rxring.NewCompRing(cm, coff, o.CompSize))
	k.fill = must(rxring.NewKernelFill(fm, foff, o.FillSize))
	k.rx = must(rxring.NewKernelRx(rm, roff, o.RxSize))
	k.buf = make([]uint64, o.FillSize)
	k.descs = make([]rxring.Desc, 0, o.RxSize)
	q.r.Init(&q.sk.Counters)
	q.Refill()
	tb.Cleanup(func() { q.Close() })
	return q, k
}

// must returns r, or panics if a constructor that cannot fail here did.
func must[R any](r R, err error) R {
	if err != nil {
		panic(err)
	}
	return r
}

// deliver posts up to n received frames on the rx ring and returns how
// many it posted (fewer when the fill ring has run dry).
func (k *memKernel) deliver(n int) int {
	if len(k.addrs) < n {
		// Move the leftovers to the front, then take what the fill
		// ring has.
		k.addrs = append(k.buf[:0], k.addrs...)
		got := k.fill.Consume(k.buf[len(k.addrs):cap(k.buf)])
		k.addrs = k.buf[:len(k.addrs)+got]
	}
	n = min(n, len(k.addrs))
	k.descs = k.descs[:0]
	for _, a := range k.addrs[:n] {
		k.descs = append(k.descs, rxring.Desc{Addr: a + k.off, Len: 60})
	}
	m := k.rx.Produce(k.descs)
	k.addrs = k.addrs[m:]
	return m
}

var _ driver.Queue = (*Queue)(nil)
