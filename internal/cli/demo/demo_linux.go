package demo

import "syscall"

// childSysProcAttr makes the kernel send `rxpath run` SIGTERM if the demo
// dies first.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
