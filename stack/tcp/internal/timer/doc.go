// Package timer is the timer facility of rxpath's TCP: every deadline of
// every connection (retransmission, delayed ACK, persist, keepalive,
// TIME_WAIT) is an Entry in one Wheel per TCP layer.
//
// A connection embeds its Entries and initializes each once with the
// callback it runs (Wheel.Init, or Wheel.InitArg with a package-level
// function and the connection, which allocates no closure); after that,
// arming, moving and stopping a deadline (Schedule, Stop) only reorders a
// min-heap under the Wheel's mutex: no allocation, no goroutine, no runtime
// timer per connection.
//
// Expirations run in one of two modes:
//
//   - Run, on one goroutine per TCP layer, sleeps on a single time.Timer
//     until the earliest deadline, fires what is due and sleeps again;
//     Schedule wakes it early when a new earliest deadline arrives.
//   - Advance fires what is due at a given time, for tests that drive a
//     FakeClock and want no goroutine at all.
//
// Callbacks run without the Wheel's lock held, on the goroutine calling Run
// or Advance, one at a time; they may Schedule and Stop any Entry, their own
// included, and they take the connection's lock themselves. A callback that
// has been taken off the heap for firing runs even if another goroutine
// stops or re-arms its Entry in the meantime (Stop then returns false), so
// callbacks re-check their condition under the connection's lock, as with
// time.Timer.
//
// A Wheel is safe for concurrent use. An Entry belongs to the Wheel it was
// initialized with and is guarded by that Wheel's lock.
package timer
