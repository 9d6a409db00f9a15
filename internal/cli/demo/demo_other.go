//go:build !linux

package demo

import "syscall"

// childSysProcAttr has no parent-death signal to ask for on this GOOS.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
