// Package affinity pins OS threads to CPUs.
//
// A poller runs on one locked OS thread pinned to one CPU (poller.Options
// Pin and CPU), as Linux runs a queue's NAPI poll in softirq on the CPU
// its interrupt is steered to, so the queue's rings and frames stay in
// that CPU's cache. Tests and the benchmark pin their senders the same
// way, away from the poller.
//
// Pin works on Linux only; elsewhere it returns an error wrapping
// driver.ErrNotSupported.
package affinity
