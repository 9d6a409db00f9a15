package sockq

import "github.com/rxpath/rxpath/driver"

// DriverQueues returns a driver's queues as driver.Queue values.
func DriverQueues[Q driver.Queue](qs []Q) []driver.Queue {
	out := make([]driver.Queue, len(qs))
	for i, q := range qs {
		out[i] = q
	}
	return out
}
