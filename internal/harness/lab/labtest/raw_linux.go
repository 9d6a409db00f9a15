package labtest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab"
)

// RawSender returns a function that sends whole Ethernet frames out of the
// peer's veth end through an AF_PACKET socket, for crafted (hostile)
// frames the kernel's own stack would never build. The socket is closed by
// t.Cleanup.
func RawSender(t testing.TB, l *lab.Lab) func(frame []byte) {
	t.Helper()
	var fd int
	err := lab.InNS(l.PeerNS, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket AF_PACKET", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("labtest: raw sender: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	sa := &unix.SockaddrLinklayer{Ifindex: l.PeerIndex, Halen: 6}
	return func(frame []byte) {
		t.Helper()
		copy(sa.Addr[:], frame[:6])
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			t.Fatalf("labtest: raw send: %v", err)
		}
	}
}
