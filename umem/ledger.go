package umem

import (
	"fmt"
	"sync/atomic"
)

// State is where a frame is.
type State uint8

// The frame states. See the package documentation.
const (
	Free State = iota
	Fill
	Held
	Tx
	numStates
)

// String returns the state's name in lower case ("free", "fill", "held", "tx").
func (s State) String() string {
	switch s {
	case Free:
		return "free"
	case Fill:
		return "fill"
	case Held:
		return "held"
	case Tx:
		return "tx"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Stats are the ledger's counts. Free+Fill+Held+Tx always equals Frames.
type Stats struct {
	Frames     uint64 `json:"frames"`
	Free       uint64 `json:"free"`
	Fill       uint64 `json:"fill"` // owned by the kernel for receive: in the fill ring, in the NIC, or on the rx ring
	Held       uint64 `json:"held"` // owned by the application
	Tx         uint64 `json:"tx"`   // owned by the kernel for transmit: in the tx ring, in flight, or on the completion ring
	BadRelease uint64 `json:"bad_release"`
	Foreign    uint64 `json:"foreign"`
	HugePages  bool   `json:"huge_pages"`
}

// deltas are count changes not yet added to ledger.counts.
type deltas [numStates]int64

type ledger struct {
	state  []State
	counts [numStates]atomic.Int64
	// pend holds the receive owner's deferred count changes (RxBatch),
	// until commit adds them to counts. Receive owner only.
	pend    deltas
	rxCount uint32 // frames [0, rxCount) receive, [rxCount, n) transmit
	n       uint32
	shift   uint
	mem     []byte // the frame area, for RxBatch's views

	rxFree []uint64 // stack of free receive frame addresses
	txFree []uint64 // stack of free transmit frame addresses

	badRelease atomic.Uint64
	foreign    atomic.Uint64
}

func (l *ledger) init(n, rxCount uint32, shift uint) {
	l.n, l.rxCount, l.shift = n, rxCount, shift
	l.state = make([]State, n)
	l.rxFree = make([]uint64, 0, rxCount)
	l.txFree = make([]uint64, 0, n-rxCount)
	// Push in reverse so frames are handed out in ascending order.
	for i := int(rxCount) - 1; i >= 0; i-- {
		l.rxFree = append(l.rxFree, uint64(i)<<shift)
	}
	for i := int(n) - 1; i >= int(rxCount); i-- {
		l.txFree = append(l.txFree, uint64(i)<<shift)
	}
	l.counts[Free].Store(int64(n))
}

// index maps any address inside a frame to the frame's index, reporting
// whether it lies inside the area.
func (l *ledger) index(addr uint64) (uint32, bool) {
	i := addr >> l.shift
	if i >= uint64(l.n) {
		return 0, false
	}
	return uint32(i), true
}

func (l *ledger) move(i uint32, from, to State) {
	l.state[i] = to
	l.moved(from, to)
}

// moved counts one frame's move at once.
func (l *ledger) moved(from, to State) {
	l.counts[from].Add(-1)
	l.counts[to].Add(1)
}

// commit adds d to the counts, one atomic add per state that changed, and
// zeroes it.
func (l *ledger) commit(d *deltas) {
	for s := range d {
		if d[s] != 0 {
			l.counts[s].Add(d[s])
			d[s] = 0
		}
	}
}

// The receive-side transitions record their count changes in d for the
// caller to commit (RxBatch: once per batch), or, with a nil d (the
// per-frame methods), leave the counting to the caller.

func (l *ledger) takeForFill(dst []uint64, d *deltas) int {
	n := min(len(dst), len(l.rxFree))
	top := len(l.rxFree)
	for k := 0; k < n; k++ {
		a := l.rxFree[top-1-k]
		dst[k] = a
		l.state[a>>l.shift] = Fill
	}
	l.rxFree = l.rxFree[:top-n]
	d[Free] -= int64(n)
	d[Fill] += int64(n)
	return n
}

func (l *ledger) received(addr uint64, d *deltas) bool {
	i, ok := l.index(addr)
	if !ok || i >= l.rxCount || l.state[i] != Fill {
		l.foreign.Add(1)
		return false
	}
	l.state[i] = Held
	if d != nil {
		d[Fill]--
		d[Held]++
	}
	return true
}

func (l *ledger) releaseRx(addr uint64, d *deltas) bool {
	i, ok := l.index(addr)
	if !ok || i >= l.rxCount {
		l.foreign.Add(1)
		return false
	}
	if l.state[i] != Held {
		l.badRelease.Add(1)
		return false
	}
	l.state[i] = Free
	if d != nil {
		d[Held]--
		d[Free]++
	}
	l.rxFree = append(l.rxFree, uint64(i)<<l.shift)
	return true
}

func (l *ledger) allocTx() (uint64, bool) {
	top := len(l.txFree)
	if top == 0 {
		return 0, false
	}
	a := l.txFree[top-1]
	l.txFree = l.txFree[:top-1]
	l.move(uint32(a>>l.shift), Free, Held)
	return a, true
}

func (l *ledger) txFrame(addr uint64, want State) (uint32, bool) {
	i, ok := l.index(addr)
	if !ok || i < l.rxCount {
		l.foreign.Add(1)
		return 0, false
	}
	if l.state[i] != want {
		l.badRelease.Add(1)
		return 0, false
	}
	return i, true
}

func (l *ledger) submitTx(addr uint64) bool {
	i, ok := l.txFrame(addr, Held)
	if ok {
		l.move(i, Held, Tx)
	}
	return ok
}

func (l *ledger) abortTx(addr uint64) bool {
	i, ok := l.txFrame(addr, Held)
	if ok {
		l.move(i, Held, Free)
		l.txFree = append(l.txFree, uint64(i)<<l.shift)
	}
	return ok
}

func (l *ledger) completed(addr uint64) bool {
	i, ok := l.txFrame(addr, Tx)
	if ok {
		l.move(i, Tx, Free)
		l.txFree = append(l.txFree, uint64(i)<<l.shift)
	}
	return ok
}

func (l *ledger) reclaim() {
	l.commit(&l.pend)
	for i := uint32(0); i < l.n; i++ {
		switch s := l.state[i]; s {
		case Fill, Tx:
			l.move(i, s, Free)
			if i < l.rxCount {
				l.rxFree = append(l.rxFree, uint64(i)<<l.shift)
			} else {
				l.txFree = append(l.txFree, uint64(i)<<l.shift)
			}
		}
	}
}

func (l *ledger) stats(huge bool) Stats {
	return Stats{
		Frames:     uint64(l.n),
		Free:       uint64(l.counts[Free].Load()),
		Fill:       uint64(l.counts[Fill].Load()),
		Held:       uint64(l.counts[Held].Load()),
		Tx:         uint64(l.counts[Tx].Load()),
		BadRelease: l.badRelease.Load(),
		Foreign:    l.foreign.Load(),
		HugePages:  huge,
	}
}

func (l *ledger) check() error {
	if l.pend != (deltas{}) {
		return fmt.Errorf("umem ledger: receive batch not committed: %v", l.pend)
	}
	var recount [numStates]int64
	for i, s := range l.state {
		if s >= numStates {
			return fmt.Errorf("umem ledger: frame %d in unknown %v", i, s)
		}
		recount[s]++
	}
	var sum int64
	for s := State(0); s < numStates; s++ {
		c := l.counts[s].Load()
		if c != recount[s] {
			return fmt.Errorf("umem ledger: %v count %d, but %d frames are %v", s, c, recount[s], s)
		}
		sum += c
	}
	if sum != int64(l.n) {
		return fmt.Errorf("umem ledger: counts add up to %d, want %d frames", sum, l.n)
	}
	if got := int64(len(l.rxFree) + len(l.txFree)); got != recount[Free] {
		return fmt.Errorf("umem ledger: free lists hold %d frames, but %d frames are free", got, recount[Free])
	}
	seen := make(map[uint64]bool, len(l.rxFree)+len(l.txFree))
	for _, list := range [][]uint64{l.rxFree, l.txFree} {
		for _, a := range list {
			i, ok := l.index(a)
			if !ok || l.state[i] != Free || seen[a] {
				return fmt.Errorf("umem ledger: free list entry %#x is foreign, duplicated or not free", a)
			}
			seen[a] = true
		}
	}
	for _, a := range l.rxFree {
		if uint32(a>>l.shift) >= l.rxCount {
			return fmt.Errorf("umem ledger: tx frame %#x on the rx free list", a)
		}
	}
	for _, a := range l.txFree {
		if uint32(a>>l.shift) < l.rxCount {
			return fmt.Errorf("umem ledger: rx frame %#x on the tx free list", a)
		}
	}
	return nil
}
