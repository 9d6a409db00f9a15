package main

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// demoSysProcAttr makes the kernel send `rxpath run` SIGTERM if the demo
// dies first.
func demoSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// demoForceRcvBuf sets c's receive buffer to n bytes past net.core.rmem_max
// (SO_RCVBUFFORCE, needs CAP_NET_ADMIN).
func demoForceRcvBuf(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("kernel socket: %w", os.NewSyscallError("setsockopt SO_RCVBUFFORCE", serr))
	}
	return nil
}
