//go:build !linux

package main

import (
	"net"
	"syscall"
)

// demoSysProcAttr has no parent-death signal to ask for on this GOOS.
func demoSysProcAttr() *syscall.SysProcAttr { return nil }

// demoForceRcvBuf asks for n bytes with SO_RCVBUF; the demo's lab needs
// Linux anyway.
func demoForceRcvBuf(c *net.UDPConn, n int) error { return c.SetReadBuffer(n) }
