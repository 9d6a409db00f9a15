package traffic

import (
	"errors"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/internal/sys/procs"
)

// sendLoop is the user-space generators' loop: it stamps batches of up to
// len(frames) frames with the sequence numbers from *seq on and hands each
// batch to send, until count frames (0: no limit) went or d (0: no limit)
// passed, on the calling thread, locked to it. send returns how many
// frames of the batch it took, in order; the rest count as refused and are
// offered again. It stops at send's first error.
func sendLoop(frames [][]byte, o Options, seq *uint64, count uint64, d time.Duration, send func(batch [][]byte) (int, error)) (Result, error) {
	if count == 0 && d <= 0 {
		return Result{}, errors.New("generator needs a count or a duration")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer procs.Reserve()() // a spinning sender: the program keeps its Ps
	start := time.Now()
	var deadline time.Time
	if d > 0 {
		deadline = start.Add(d)
	}
	var res Result
	for pass := 0; ; pass++ {
		if count > 0 && res.Sent >= count {
			break
		}
		if !deadline.IsZero() && pass&63 == 0 && time.Now().After(deadline) {
			break
		}
		n := len(frames)
		if count > 0 {
			n = int(min(uint64(n), count-res.Sent))
		}
		for i := range n {
			Stamp(frames[i], o, *seq+uint64(i))
		}
		took, err := send(frames[:n])
		*seq += uint64(took)
		res.Sent += uint64(took)
		res.Refused += uint64(n - took)
		if err != nil {
			res.Elapsed = time.Since(start)
			return res, err
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}
