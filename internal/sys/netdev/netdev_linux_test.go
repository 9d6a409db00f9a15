package netdev

import (
	"errors"
	"testing"
)

func TestLookupLoopback(t *testing.T) {
	lo, err := Lookup("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Index < 1 || lo.MTU < 1500 || lo.NumRxQueues < 1 || !lo.Up {
		t.Fatalf("implausible loopback: %+v", lo)
	}
	if _, err := Lookup("rxp-no-such0"); !errors.Is(err, ErrNoInterface) {
		t.Fatalf("missing interface: %v, want ErrNoInterface", err)
	}
}
