package tcp_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/stack/header"
	"github.com/rxpath/rxpath/stack/tcp"
)

// spoofed is the address the crafted peer uses: the peer's kernel does not
// own it, so it neither answers our segments with RSTs nor interferes; a
// static neighbour entry points our stack at the peer's MAC.
var spoofed = netip.MustParseAddr("10.99.0.77")

// newLabHarness runs rxpath with TCP on a real veth lab and plays the peer
// with raw AF_PACKET sockets in the peer namespace: crafted segments go out
// through one, and our answers are read back from another.
func newLabHarness(t *testing.T, o tcp.Options) *harness {
	t.Helper()
	l := labtest.New(t, lab.Config{})
	var n *rxpath.Node
	if err := lab.InNS(l.DUTNS, func() (err error) {
		n, err = rxpath.Open(rxpath.Config{Interface: l.DUTIf, Addr: netip.PrefixFrom(l.DUTAddr, 24), TCP: o})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	var mac header.MAC
	copy(mac[:], l.PeerMAC)
	n.Stack.AddStaticNeighbor(spoofed.As4(), mac)

	var fd int
	if err := lab.InNS(l.PeerNS, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.PeerIndex})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	send := labtest.RawSender(t, l)
	h := &harness{t: t, s: n.Stack, tcp: n.TCP, peerIP: spoofed, ourIP: l.DUTAddr, peerMAC: l.PeerMAC, ourMAC: l.DUTMAC}
	h.inject = send
	buf := make([]byte, 65536)
	h.recv = func(wait bool) []byte {
		timeout := 50 * time.Millisecond
		if wait {
			timeout = 400 * time.Millisecond
		}
		deadline := time.Now().Add(timeout)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				return nil
			}
			tv := unix.NsecToTimeval(left.Nanoseconds())
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			k, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue
			}
			f := buf[:k]
			// Ours: IPv4/TCP from the DUT to the spoofed peer.
			if k >= 34 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 6 &&
				netip.AddrFrom4([4]byte(f[26:30])) == l.DUTAddr && netip.AddrFrom4([4]byte(f[30:34])) == spoofed {
				return append([]byte(nil), f...)
			}
		}
	}
	return h
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestCraftedSegmentsOnLab replays the hostile and edge cases of the
// in-process tests with segments crafted in the peer namespace and sent
// over a real veth into AF_XDP: the three RST cases, SYN in ESTABLISHED,
// an out-of-window ACK, the challenge-ACK rate limit, PAWS, overlapping
// data, zero window and data beyond it, a bad checksum and a malformed
// option length.
func TestCraftedSegmentsOnLab(t *testing.T) {
	h := newLabHarness(t, tcp.Options{RcvBuf: 8192})
	l, err := h.tcp.Listen(netip.AddrPortFrom(h.ourIP, 80), tcp.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pc := h.establish(l, 80, true)
	stats := h.tcp.Stats

	// Overlapping data: held bytes win, every byte is delivered once.
	base := pc.sndNxt
	pc.raw(base+4, pc.rcvNxt, "A", []byte("efgh"))
	h.out()
	pc.raw(base+2, pc.rcvNxt, "A", []byte("cdXXXXij"))
	h.out()
	pc.raw(base, pc.rcvNxt, "A", []byte("ab"))
	pc.sndNxt = base + 10
	h.out()
	if got := read(t, pc.c, 10); string(got) != "abcdefghij" {
		t.Fatalf("overlapping data delivered as %q", got)
	}

	// RST outside the window: dropped.
	pc.raw(pc.sndNxt+1_000_000, 0, "R", nil)
	h.none()
	// RST inside the window: challenge ACK, then rate limited.
	pc.raw(pc.sndNxt+100, 0, "R", nil)
	if a := h.one(); a.RST || a.Ack != pc.sndNxt {
		t.Fatalf("want a challenge ACK: %v", describe([]*layers.TCP{a}))
	}
	pc.raw(pc.sndNxt+200, 0, "R", nil)
	h.none()
	time.Sleep(600 * time.Millisecond)
	// SYN on an established connection: challenge ACK.
	pc.raw(pc.sndNxt+3, 0, "S", nil)
	if a := h.one(); a.SYN || a.RST || a.Ack != pc.sndNxt {
		t.Fatalf("want a challenge ACK for the SYN: %v", describe([]*layers.TCP{a}))
	}
	time.Sleep(600 * time.Millisecond)
	// ACK beyond SND.NXT: discarded and ACKed.
	pc.raw(pc.sndNxt, pc.rcvNxt+1_000_000, "A", []byte("x"))
	if a := h.one(); a.Ack != pc.sndNxt {
		t.Fatalf("bad-ACK data accepted: %v", describe([]*layers.TCP{a}))
	}
	time.Sleep(600 * time.Millisecond)
	// PAWS: an old timestamp.
	h.send(seg{sport: pc.sport, dport: pc.dport, seq: pc.sndNxt, ack: pc.rcvNxt, flags: "A", data: []byte("old"),
		opts: []layers.TCPOption{opt(layers.TCPOptionKindNop), opt(layers.TCPOptionKindNop), tsOpt(pc.ts-50, pc.tsEcr)}})
	h.out()
	time.Sleep(600 * time.Millisecond)
	// Bad checksum and a malformed option length: counted, never answered.
	h.send(seg{sport: 1, dport: 80, seq: 1, flags: "S", badCsum: true})
	h.send(seg{sport: 2, dport: 80, seq: 1, flags: "S", opts: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 3, OptionData: []byte{5}}}})
	h.none()
	// Zero window: fill the 8 KiB buffer, then data beyond it is dropped.
	chunk := bytes.Repeat([]byte{'z'}, 1024)
	for i := 0; i < 8; i++ {
		pc.ack("", chunk...)
	}
	time.Sleep(100 * time.Millisecond)
	h.out()
	pc.raw(pc.sndNxt, pc.rcvNxt, "A", chunk)
	if a := h.one(); a.Window != 0 || a.Ack != pc.sndNxt {
		t.Fatalf("zero window: %v", describe([]*layers.TCP{a}))
	}
	// RST exactly at RCV.NXT: the connection is reset.
	pc.raw(pc.sndNxt, 0, "R", nil)
	h.none()

	st := stats()
	for _, c := range []struct {
		name string
		got  uint64
		min  uint64
	}{
		{"rst_out_of_window", st.RSTOutOfWindow, 1},
		{"rst_in_window", st.RSTInWindow, 2},
		{"challenge_ack_limited", st.ChallengeLimited, 1},
		{"syn_challenges", st.SYNChallenges, 1},
		{"ack_out_of_range", st.ACKOutOfRange, 1},
		{"paws_rejected", st.PAWSRejected, 1},
		{"in_csum_errors", st.InCsumErrors, 1},
		{"bad_options", st.BadOptions, 1},
		{"zero_window_drops", st.ZeroWindowDrops, 1},
		{"rst_accepted", st.RSTAccepted, 1},
	} {
		if c.got < c.min {
			t.Errorf("%s = %d, want at least %d (stats %+v)", c.name, c.got, c.min, st)
		}
	}
	if h.tcp.Conns() != 0 {
		t.Fatal("the RST at RCV.NXT did not reset the connection")
	}
}
