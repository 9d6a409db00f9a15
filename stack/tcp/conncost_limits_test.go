package tcp_test

import (
	"testing"

	"github.com/rxpath/rxpath/stack/tcp"
)

// TestConnCostLimits holds the issue-17 memory targets: at most 2048 heap
// bytes per idle ESTABLISHED connection and 256 per TIME_WAIT entry, and
// next to nothing left once TIME_WAIT has expired. Heap bytes, not time:
// they do not depend on the machine's load.
func TestConnCostLimits(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what the runtime allocates")
	}
	if testing.Short() {
		t.Skip("measures 3000 connections")
	}
	c, err := tcp.MeasureConnCost(3000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", c)
	if c.IdleBytes > 2048 || c.TimeWaitBytes > 256 || c.RetainedBytes > 128 {
		t.Fatalf("heap per connection: %.0f B idle (want <= 2048), %.0f B in TIME_WAIT (want <= 256), %.0f B left after it (want <= 128)",
			c.IdleBytes, c.TimeWaitBytes, c.RetainedBytes)
	}
}
