package traffic

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// packetBatch is how many frames one sendmmsg call carries.
const packetBatch = 64

var _ Sender = (*PacketGenerator)(nil)

// PacketGenerator sends with sendmmsg on an AF_PACKET socket bound to the
// peer veth, bypassing the qdisc. Not safe for concurrent use.
type PacketGenerator struct {
	fd     int
	opts   Options
	frames [][]byte // packetBatch copies of the template
	msgs   mmsgs
	seq    uint64
}

// NewPacket opens the socket for o. Call it on a thread in the namespace
// of o.Ifindex.
func NewPacket(o Options) (*PacketGenerator, error) {
	tmpl, err := Frame(o)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet generator: %w", os.NewSyscallError("socket AF_PACKET", err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("packet generator: %w", os.NewSyscallError("setsockopt PACKET_QDISC_BYPASS", err))
	}
	// Protocol 0: the socket sends only and never receives.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: o.Ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("packet generator: bind ifindex %d: %w", o.Ifindex, os.NewSyscallError("bind", err))
	}
	g := &PacketGenerator{fd: fd, opts: o, seq: o.FirstSeq}
	for range packetBatch {
		g.frames = append(g.frames, append([]byte(nil), tmpl...))
	}
	g.msgs = newMmsgs(g.frames)
	return g, nil
}

// Kind returns "af-packet".
func (g *PacketGenerator) Kind() string { return "af-packet" }

// Next returns the sequence number the next frame will carry.
func (g *PacketGenerator) Next() uint64 { return g.seq }

// Send sends until count frames or d have passed (see Sender). It runs on
// the calling thread. Frames the socket refuses (ENOBUFS: the veth's ring
// is full) are counted in Result.Refused and sent again.
func (g *PacketGenerator) Send(count uint64, d time.Duration) (Result, error) {
	if count == 0 && d <= 0 {
		return Result{}, errors.New("generator needs a count or a duration")
	}
	if g.fd < 0 {
		return Result{}, errors.New("packet generator: closed")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
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
		n := packetBatch
		if count > 0 {
			n = int(min(uint64(n), count-res.Sent))
		}
		for i := range n {
			Stamp(g.frames[i], g.opts, g.seq+uint64(i))
		}
		sent, err := g.msgs.send(g.fd, n)
		if sent > 0 {
			g.seq += uint64(sent)
			res.Sent += uint64(sent)
		}
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.EAGAIN):
			res.Refused += uint64(n - max(sent, 0))
		case errors.Is(err, unix.EINTR):
		default:
			return res, fmt.Errorf("packet generator: %w", os.NewSyscallError("sendmmsg", err))
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// Close closes the socket. It is idempotent.
func (g *PacketGenerator) Close() error {
	if g.fd < 0 {
		return nil
	}
	err := unix.Close(g.fd)
	g.fd = -1
	return err
}

// rewind makes the next frame carry seq.
func (g *PacketGenerator) rewind(seq uint64) error { g.seq = seq; return nil }
