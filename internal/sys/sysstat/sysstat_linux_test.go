package sysstat

import (
	"runtime"
	"testing"
	"time"
)

func TestThreadCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := Gettid()
	a, err := ThreadCPU(tid)
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
	}
	b, err := ThreadCPU(tid)
	if err != nil {
		t.Fatal(err)
	}
	if d := b - a; d < 10*time.Millisecond || d > time.Second {
		t.Errorf("a 20ms spin used %v of thread CPU", d)
	}
	if _, err := ReadStat(); err != nil {
		t.Error(err)
	}
	if _, err := ProcessCPU(); err != nil {
		t.Error(err)
	}
	if n, err := ReadNetstat(); err != nil {
		t.Error(err)
	} else if _, ok := n["TcpExt"]["TCPRcvQDrop"]; !ok {
		t.Errorf("netstat has no TcpExt TCPRcvQDrop: %v", n["TcpExt"])
	}
}
