package traffic

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The methods, fastest first: the order in which Open's "auto" tries them.
const (
	// MethodLive is BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (New).
	MethodLive = "xdp-live-frames"
	// MethodXSK is a transmit-only AF_XDP socket on the peer (NewXSK).
	MethodXSK = "af-xdp"
	// MethodPacket is AF_PACKET sendmmsg with PACKET_QDISC_BYPASS
	// (NewPacket).
	MethodPacket = "af-packet"
	// MethodAuto probes the methods in order with a real send of one frame
	// and takes the first that works.
	MethodAuto = "auto"
)

// EnvLive names the environment variable that turns live frames off for
// MethodAuto: with RXPATH_GEN_LIVE=off, auto starts at MethodXSK. make test
// runs the generator's users once with the automatic choice and once with
// this set, so that the fallback stays tested on machines that allow live
// frames.
const EnvLive = "RXPATH_GEN_LIVE"

// Methods lists the methods in the order auto tries them.
func Methods() []string { return []string{MethodLive, MethodXSK, MethodPacket} }

// ParseMethod accepts "auto", a method name, or its short form: "xdp" or
// "live" for MethodLive, "xsk" for MethodXSK, "packet" for MethodPacket.
func ParseMethod(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", MethodAuto:
		return MethodAuto, nil
	case "xdp", "live", MethodLive:
		return MethodLive, nil
	case "xsk", "afxdp", MethodXSK:
		return MethodXSK, nil
	case "packet", "afpacket", MethodPacket:
		return MethodPacket, nil
	}
	return "", fmt.Errorf("generator %q: want auto, xdp (live frames), xsk (AF_XDP) or packet (AF_PACKET)", s)
}

// Refusal is a method that auto tried and passed over.
type Refusal struct {
	Method string
	Err    error
}

func (r Refusal) String() string {
	return fmt.Sprintf("generator: %s refused (%s): %v", r.Method, errnoName(r.Err), r.Err)
}

// errnoName is the errno an error wraps, "EPERM" say, or "no errno".
func errnoName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return "no errno"
}

// reported remembers the refusals already reported, so that each is
// reported once per process however often auto runs.
var reported sync.Map

// Open makes a Sender of method (see ParseMethod). A named method is made
// as it is, without a probe. MethodAuto makes each method in the order of
// Methods and probes it with a real send of one frame, carrying sequence
// number o.FirstSeq; the first that sends is returned, rewound so that its
// next frame carries o.FirstSeq again. Each method passed over is handed to
// report (nil: not reported), once per process for a given method and
// error. Call Open on a thread in the namespace of o.Ifindex.
func Open(o Options, method string, report func(Refusal)) (Sender, error) {
	m, err := ParseMethod(method)
	if err != nil {
		return nil, err
	}
	if m != MethodAuto {
		return open(o, m)
	}
	var refused []string
	for _, m := range Methods() {
		var s Sender
		var err error
		if m == MethodLive && strings.EqualFold(os.Getenv(EnvLive), "off") {
			err = fmt.Errorf("turned off by %s=off", EnvLive)
		} else if s, err = open(o, m); err == nil {
			if err = probe(s, o); err == nil {
				return s, nil
			}
			s.Close()
		}
		r := Refusal{Method: m, Err: err}
		if _, dup := reported.LoadOrStore(m+"\x00"+err.Error(), true); !dup && report != nil {
			report(r)
		}
		refused = append(refused, r.String())
	}
	return nil, fmt.Errorf("no generator works here: %s", strings.Join(refused, "; "))
}

func open(o Options, m string) (Sender, error) {
	switch m {
	case MethodLive:
		return New(o)
	case MethodXSK:
		return NewXSK(o)
	case MethodPacket:
		return NewPacket(o)
	}
	return nil, fmt.Errorf("generator %q: unknown method", m)
}

// probe sends one frame through s and rewinds its sequence.
func probe(s Sender, o Options) error {
	res, err := s.Send(1, 0)
	if err != nil {
		return err
	}
	if res.Sent != 1 {
		return fmt.Errorf("probe frame not sent (%d sent, %d refused)", res.Sent, res.Refused)
	}
	if r, ok := s.(interface{ rewind(uint64) error }); ok {
		return r.rewind(o.FirstSeq)
	}
	return nil
}
