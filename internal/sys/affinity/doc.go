// Package affinity pins OS threads to CPUs.
//
// A poller runs on one locked OS thread pinned to one CPU (poller.Options
// Pin and CPU), as Linux runs a queue's NAPI poll in softirq on the CPU
// its interrupt is steered to, so the queue's rings and frames stay in
// that CPU's cache (PinUndo: the poller's thread goes back to the runtime
// when it stops). Tests, the benchmark and the demo pin their senders and
// receivers away from the poller with PinThread, whose thread never goes
// back.
//
// Pin works on Linux only; elsewhere it returns an error wrapping
// errors.ErrUnsupported. The package imports nothing else of rxpath, so
// any layer may use it.
package affinity
