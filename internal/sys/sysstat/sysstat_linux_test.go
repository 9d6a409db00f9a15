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

func TestThreadSched(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := Gettid()
	a, err := ThreadSched(tid)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
	}
	b, err := ThreadSched(tid)
	if err != nil {
		t.Fatal(err)
	}
	if b.Run <= a.Run || b.Slices < a.Slices || b.Wait < a.Wait {
		t.Fatalf("schedstat went %+v -> %+v over 20 ms of spinning: want run time to grow, the rest never to shrink", a, b)
	}
	if _, err := ThreadSched(1 << 30); err == nil {
		t.Fatal("ThreadSched of a thread that does not exist: no error")
	}
}
