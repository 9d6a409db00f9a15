package labtest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab"
)

// FloodStats is what Flood put on the wire.
type FloodStats struct {
	// Sent counts the frames the kernel took.
	Sent int
	// Refused counts the frames the kernel refused for lack of room
	// (ENOBUFS, EAGAIN): a flood does not wait for room, it moves on.
	Refused int
	// Elapsed is how long the flood ran.
	Elapsed time.Duration
}

// Flood sends the frames next makes out of the peer's veth end through an
// AF_PACKET socket, as fast as the kernel takes them, until next returns
// nil or dur has passed. next(i) returns frame i (its first six bytes are
// the destination MAC) and may reuse one buffer.
//
// It sends from an OS thread pinned to cpu: on veth the receiving side's
// kernel work runs on the sending CPU, so a flood pinned away from the
// DUT's poller competes with it only through the rings, as a remote sender
// would. Unlike RawSender it returns errors rather than failing a test, so
// it may run on any goroutine; the socket is closed before it returns.
func Flood(l *lab.Lab, cpu int, dur time.Duration, next func(i int) []byte) (FloodStats, error) {
	var st FloodStats
	var fd int
	err := lab.InNS(l.PeerNS, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return os.NewSyscallError("socket AF_PACKET", err)
	})
	if err != nil {
		return st, fmt.Errorf("labtest: flood: %w", err)
	}
	defer unix.Close(fd)

	done := make(chan error, 1)
	go func() {
		// The pinned thread is never unlocked: it exits with the
		// goroutine instead of going back to the scheduler pinned.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- fmt.Errorf("labtest: flood: pin to CPU %d: %w", cpu, err)
			return
		}
		sa := &unix.SockaddrLinklayer{Ifindex: l.PeerIndex, Halen: 6}
		start := time.Now()
		deadline := start.Add(dur)
		for i := 0; ; i++ {
			if i%64 == 0 && time.Now().After(deadline) {
				break
			}
			frame := next(i)
			if frame == nil {
				break
			}
			copy(sa.Addr[:], frame[:6])
			switch err := unix.Sendto(fd, frame, 0, sa); {
			case err == nil:
				st.Sent++
			case errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN):
				st.Refused++
			default:
				st.Elapsed = time.Since(start)
				done <- fmt.Errorf("labtest: flood: send frame %d: %w", i, os.NewSyscallError("sendto", err))
				return
			}
		}
		st.Elapsed = time.Since(start)
		done <- nil
	}()
	err = <-done
	return st, err
}
