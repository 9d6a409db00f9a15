package traffic

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/umem"
)

// xskBatch is how many frames one Transmit call carries.
const xskBatch = 64

// xskDrain bounds how long Send waits at its end for the kernel to
// complete what it queued.
const xskDrain = 100 * time.Millisecond

var _ Sender = (*XSKGenerator)(nil)

// XSKGenerator sends through a transmit-only AF_XDP socket on the peer veth:
// the driver's own transmit path (afxdp.Queue.Transmit), with no XDP program
// on the sending interface, so its receive path stays the kernel's. Not safe
// for concurrent use.
type XSKGenerator struct {
	dev    *afxdp.Device
	q      *afxdp.Queue
	opts   Options
	frames [][]byte // xskBatch copies of the template
	seq    uint64
}

// NewXSK binds a transmit-only AF_XDP socket to queue o.TxQueue of
// o.Ifindex. Call it on a thread in the namespace of o.Ifindex.
func NewXSK(o Options) (*XSKGenerator, error) {
	tmpl, err := Frame(o)
	if err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByIndex(o.Ifindex)
	if err != nil {
		return nil, fmt.Errorf("af-xdp generator: %w", err)
	}
	dev, err := afxdp.Open(ifi.Name, afxdp.Options{
		Queues:       []int{o.TxQueue},
		TransmitOnly: true,
		UMEM:         umem.Options{FrameSize: umem.FrameSize2K, FrameCount: 2048, TxFrames: 1024},
		FillSize:     1024, RxSize: 64, TxSize: 1024, CompSize: 1024,
	})
	if err != nil {
		return nil, fmt.Errorf("af-xdp generator: %w", err)
	}
	g := &XSKGenerator{dev: dev, q: dev.Queues()[0], opts: o, seq: o.FirstSeq}
	for range xskBatch {
		g.frames = append(g.frames, append([]byte(nil), tmpl...))
	}
	return g, nil
}

// Kind returns "af-xdp".
func (g *XSKGenerator) Kind() string { return MethodXSK }

// Next returns the sequence number the next frame will carry.
func (g *XSKGenerator) Next() uint64 { return g.seq }

// Send sends until count frames or d have passed (see Sender). It runs on
// the calling thread. Frames the tx ring could not take (no free buffer or
// slot) are counted in Result.Refused and offered again. Before it returns
// it waits briefly for the kernel to complete what was queued, so that
// Sent counts frames the kernel took.
func (g *XSKGenerator) Send(count uint64, d time.Duration) (Result, error) {
	if g.q == nil {
		return Result{}, errors.New("af-xdp generator: closed")
	}
	start := time.Now()
	before := g.q.Stats()
	res, err := sendLoop(g.frames, g.opts, &g.seq, count, d, func(batch [][]byte) (int, error) {
		took := g.q.Transmit(batch)
		if took == 0 {
			g.q.Refill() // reaps completions and kicks the kernel
		}
		return took, nil
	})
	if err != nil {
		return res, err
	}
	// Let the kernel finish the ring, then report what it completed.
	want := before.TxCompleted + res.Sent
	for end := time.Now().Add(xskDrain); ; {
		st := g.q.Stats()
		if st.TxCompleted >= want || time.Now().After(end) {
			res.Sent = st.TxCompleted - before.TxCompleted
			break
		}
		g.q.Refill()
		runtime.Gosched()
	}
	res.Elapsed = time.Since(start)
	if st := g.q.Stats(); st.TxKickError > before.TxKickError {
		return res, fmt.Errorf("af-xdp generator: %d tx kicks failed", st.TxKickError-before.TxKickError)
	}
	return res, nil
}

// Close closes the socket and frees its UMEM. It is idempotent.
func (g *XSKGenerator) Close() error {
	if g.dev == nil {
		return nil
	}
	err := g.dev.Close()
	g.dev, g.q = nil, nil
	return err
}

// rewind makes the next frame carry seq.
func (g *XSKGenerator) rewind(seq uint64) error { g.seq = seq; return nil }
