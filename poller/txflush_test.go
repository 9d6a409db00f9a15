package poller

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// txQueue is a fakeQueue with the TxFlusher side of afxdp's transmit: a
// Transmit while the loop polls leaves its kick owed, otherwise it kicks;
// a kick sends every frame queued so far.
type txQueue struct {
	*fakeQueue
	mu               sync.Mutex
	queued, sent     uint64
	polling, owed    atomic.Bool
	direct, deferred atomic.Uint64
}

func (q *txQueue) Transmit(f [][]byte) int {
	q.mu.Lock()
	q.queued += uint64(len(f))
	q.mu.Unlock()
	if q.polling.Load() {
		q.owed.Store(true)
		if q.polling.Load() {
			return len(f)
		}
	}
	q.direct.Add(1)
	q.kick()
	return len(f)
}

func (q *txQueue) kick() {
	q.mu.Lock()
	q.sent = q.queued
	q.mu.Unlock()
}

func (q *txQueue) SetTxPolling(on bool) {
	q.polling.Store(on)
	if !on {
		q.FlushTx()
	}
}

func (q *txQueue) FlushTx() {
	if q.owed.Load() && q.owed.Swap(false) {
		q.deferred.Add(1)
		q.kick()
	}
}

// waitSent waits until every frame queued so far is sent: false if one
// is stranded on the ring for a second.
func (q *txQueue) waitSent() bool {
	q.mu.Lock()
	want := q.queued
	q.mu.Unlock()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		q.mu.Lock()
		sent := q.sent
		q.mu.Unlock()
		if sent >= want {
			return true
		}
		time.Sleep(10 * time.Microsecond)
	}
	return false
}

// TestTxFlush: a running loop makes the kicks that Transmit from other
// goroutines leaves to it, and no frame waits on the ring whatever the
// loop is doing meanwhile (spinning, falling asleep, waking, stopping).
func TestTxFlush(t *testing.T) {
	frame := [][]byte{make([]byte, 60)}
	for _, tc := range []struct {
		name string
		spin time.Duration
		// wake pushes a received frame after every transmit, so that
		// the loop wakes and sleeps at every moment of the protocol.
		wake bool
	}{
		{"spinning", -1, false},
		{"sleeping", 20 * time.Microsecond, false},
		{"waking", 20 * time.Microsecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &txQueue{fakeQueue: newFakeQueue(64)}
			p := New(q, func(*Batch) {}, Options{IdleSpin: tc.spin, PollTimeout: time.Hour})
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			// The loop tells the queue it polls once it runs (a loaded
			// machine may take a while to schedule it); past the spin, a
			// sleeping loop sleeps.
			for deadline := time.Now().Add(5 * time.Second); !q.polling.Load() && tc.spin < 0; {
				if time.Now().After(deadline) {
					t.Fatal("the running loop never told the queue it polls")
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
			for i := 0; i < 1000; i++ {
				if tc.wake {
					q.push(byte(i))
				}
				q.Transmit(frame)
				if !q.waitSent() {
					p.Stop()
					t.Fatalf("transmit %d stranded on the ring (polling %v, owed %v)", i, q.polling.Load(), q.owed.Load())
				}
			}
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			if q.polling.Load() {
				t.Fatal("the loop left with the queue told it polls")
			}
			d, k := q.deferred.Load(), q.direct.Load()
			t.Logf("kicks: %d by the loop, %d by Transmit", d, k)
			switch tc.name {
			case "spinning":
				if k != 0 || d == 0 {
					t.Fatalf("a spinning loop makes every kick: %d by the loop, %d by Transmit", d, k)
				}
			case "sleeping", "waking":
				if k == 0 {
					t.Fatalf("a sleeping loop cannot kick: %d by the loop, %d by Transmit", d, k)
				}
			}
		})
	}
}
