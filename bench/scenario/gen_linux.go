package scenario

import (
	"net/netip"
	"time"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/internal/sys/affinity"
)

func netipAddrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// genWorker is a thread in the peer namespace, pinned to one CPU, that
// owns a generator and runs its sends.
type genWorker struct {
	reqs chan func()
	done chan struct{}
	tid  int
	s    traffic.Sender
}

func startGen(ns string, cpu, nice int) (*genWorker, error) {
	w := &genWorker{reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(w.done)
		err := lab.InNS(ns, func() error {
			tid, err := affinity.PinThread(cpu, nice) // never unlocked: InNS's unlock leaves it locked
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

// configure replaces the generator with one for o. kind is a method as
// traffic.ParseMethod takes it ("auto" probes live frames, AF_XDP and
// AF_PACKET in turn with a real send), or the Kind of a generator made
// before. It returns the kind it made and, when auto passed methods over,
// a line for each saying why (each refusal once per process).
func (w *genWorker) configure(o traffic.Options, kind string) (made string, notes []string, err error) {
	w.do(func() {
		if w.s != nil {
			w.s.Close()
			w.s = nil
		}
		var s traffic.Sender
		s, err = traffic.Open(o, kind, func(r traffic.Refusal) { notes = append(notes, r.String()) })
		if err == nil {
			w.s, made = s, s.Kind()
		}
	})
	return made, notes, err
}

func (w *genWorker) send(d time.Duration) (res traffic.Result, err error) {
	w.do(func() { res, err = w.s.Send(0, d) })
	return res, err
}

// trickle sends one frame every gap for d, spinning between frames (a
// sleep would overshoot by the timer slack), and returns how many went.
func (w *genWorker) trickle(d, gap time.Duration) (sent uint64, err error) {
	w.do(func() {
		start := time.Now()
		for next := start; time.Since(start) < d; next = next.Add(gap) {
			var res traffic.Result
			if res, err = w.s.Send(1, 0); err != nil {
				return
			}
			sent += res.Sent
			for time.Now().Before(next) {
			}
		}
	})
	return sent, err
}

func (w *genWorker) stop() {
	close(w.reqs)
	<-w.done
}
