//go:build linux

package traffic

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgs is a prepared sendmmsg vector over fixed frame buffers.
type mmsgs struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
}

func newMmsgs(frames [][]byte) mmsgs {
	m := mmsgs{hdrs: make([]unix.Mmsghdr, len(frames)), iovs: make([]unix.Iovec, len(frames))}
	for i, f := range frames {
		m.iovs[i].Base = &f[0]
		m.iovs[i].SetLen(len(f))
		m.hdrs[i].Hdr.Iov = &m.iovs[i]
		m.hdrs[i].Hdr.SetIovlen(1)
	}
	return m
}

// send sends the first n messages and returns how many the kernel took.
func (m *mmsgs) send(fd, n int) (int, error) {
	r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
