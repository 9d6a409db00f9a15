package scenario

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/rxpath/rxpath/bench/gen"
	"github.com/rxpath/rxpath/internal/lab"
)

func netipAddrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// genWorker is a thread in the peer namespace, pinned to one CPU, that
// owns a generator and runs its sends.
type genWorker struct {
	reqs chan func()
	done chan struct{}
	tid  int
	s    gen.Sender
}

func startGen(ns string, cpu, nice int) (*genWorker, error) {
	w := &genWorker{reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(w.done)
		err := lab.InNS(ns, func() error {
			tid, err := pinThread(cpu, nice) // never unlocked: InNS's unlock leaves it locked
			if err != nil {
				return err
			}
			w.tid = tid
			ready <- nil
			for f := range w.reqs {
				f()
			}
			if w.s != nil {
				return w.s.Close()
			}
			return nil
		})
		if err != nil {
			select {
			case ready <- err:
			default:
			}
		}
	}()
	if err := <-ready; err != nil {
		<-w.done
		return nil, err
	}
	return w, nil
}

// do runs f on the worker's thread and waits for it.
func (w *genWorker) do(f func()) {
	done := make(chan struct{})
	w.reqs <- func() { f(); close(done) }
	<-done
}

// configure replaces the generator with one for o. kind is "auto" (live
// frames, AF_PACKET if the kernel refuses them), "xdp", "packet", or the
// Kind of a generator made before. It returns the kind it made and, when
// auto fell back, a note saying why.
func (w *genWorker) configure(o gen.Options, kind string) (made, note string, err error) {
	w.do(func() {
		if w.s != nil {
			w.s.Close()
			w.s = nil
		}
		var s gen.Sender
		switch kind {
		case "xdp", "xdp-live-frames":
			s, err = gen.New(o)
		case "packet", "af-packet":
			s, err = gen.NewPacket(o)
		default:
			s, err = gen.New(o)
			if err != nil {
				note = fmt.Sprintf("live-frame generator unavailable (%v); using AF_PACKET sendmmsg", err)
				s, err = gen.NewPacket(o)
			}
		}
		if err == nil {
			w.s, made = s, s.Kind()
		}
	})
	return made, note, err
}

func (w *genWorker) send(d time.Duration) (res gen.Result, err error) {
	w.do(func() { res, err = w.s.Send(0, d) })
	return res, err
}

func (w *genWorker) stop() {
	close(w.reqs)
	<-w.done
}
