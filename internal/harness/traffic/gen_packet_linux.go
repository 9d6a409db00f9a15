package traffic

import (
	"errors"
	"fmt"
	"os"
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
	if g.fd < 0 {
		return Result{}, errors.New("packet generator: closed")
	}
	return sendLoop(g.frames, g.opts, &g.seq, count, d, func(batch [][]byte) (int, error) {
		sent, err := g.msgs.send(g.fd, len(batch))
		switch {
		case err == nil, errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			return max(sent, 0), nil
		default:
			return max(sent, 0), fmt.Errorf("packet generator: %w", os.NewSyscallError("sendmmsg", err))
		}
	})
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
