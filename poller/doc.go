// Package poller runs one busy-poll loop per receive queue, modelled on
// NAPI.
//
// Linux polls a NIC ring from softirq: net_rx_action gives each NAPI
// instance up to its weight (64) frames per call, stops the round after
// netdev_budget (300) frames or two jiffies and counts that as
// time_squeeze, and when a ring runs dry it re-enables the device
// interrupt and sleeps until the next one. A Poller does the same on one
// locked OS thread pinned to one CPU:
//
//  1. Take at most Weight frames and hand them to the Handler as a Batch
//     of zero-copy views. Frames the handler did not Hold are released
//     when it returns; held frames are released later, from any
//     goroutine, through Held.Release.
//  2. Stop the round when the rx ring is empty, at Budget frames or at
//     TimeLimit, counting TimeSqueeze for the last two.
//  3. Refill the fill ring from the free list once, at the end of a round
//     that received (or took back held frames).
//  4. While work arrives, spin; sleep only after real idleness (the wait
//     policy below): re-arm the "interrupt" (the driver's need_wakeup
//     and poll(2)) and sleep until frames arrive, Stop is called, or
//     PollTimeout passes.
//
// # The hot path
//
// An idle pass reads the rx ring's producer index and nothing else: no
// refill, no lock, no clock. A busy round reads the clock once per batch
// (for TimeLimit and for the wait policy), and idle passes read it once
// every 16. The loop keeps its counters in plain fields and publishes
// them to the atomics that Stats reads about once a millisecond, before it
// sleeps and when it stops; Poll, called directly, publishes at its end.
//
// A queue that implements Claimer (afxdp) guards each receive-side call
// against Close with a lock. The loop claims such a queue instead and
// keeps the claim over its passes, dropping it only around the handler
// (which may call Close), before a sleep and when it stops; the queue
// keeps its own counts and ledger totals while claimed, and publishes them
// when the loop publishes its own.
//
// A queue that implements TxFlusher (afxdp) leaves the transmit kick to
// the running loop, as NAPI's poll sends what the stack queued: in AF_XDP
// copy mode each kick is a sendto(2), and a server whose connections each
// write a response would pay one per write. While the loop polls, Transmit
// from any goroutine queues its frames and leaves the kick owed; the loop
// makes it after each batch and on each idle pass (one atomic load when
// nothing is owed), one kick for every frame queued since. Before it
// sleeps or stops it says so, making the kick owed by then, and Transmit
// kicks for itself until it wakes. Under wrk and ab against net/http on
// the lab this cut the server's CPU per request by about 8%.
//
// A goroutine spinning on a locked thread holds a Go P the whole time, so
// the loop adds one to GOMAXPROCS while it runs (package
// internal/sys/procs): the program's other goroutines (ReadBatch readers,
// the tap's writer, handlers of accepted connections) keep their Ps and
// the kernel shares the CPUs, instead of waiting for the runtime to
// preempt a poller about every 10 ms.
//
// # The wait policy
//
// Sleeping has a price on both sides: the sender's CPU pays for the
// wakeup of every sleeping receiver (on veth that CPU also runs the XDP
// program and the copy into UMEM), and a receiver that wakes late lets
// the fill ring run dry. NAPI avoids both under load with
// napi_defer_hard_irqs and busy polling: it keeps polling and leaves the
// interrupt masked while traffic flows. The loop does the same with a
// spin that adapts to the traffic (Options.IdleSpin zero, the default):
//
//   - A stretch of traffic begins when frames wake the loop. The loop
//     keeps polling without work for as long as the stretch has lasted,
//     at least MinIdleSpin (50µs) and at most MaxIdleSpin (2ms), and
//     then sleeps.
//   - A sleep that frames end within twice the spin before it was only a
//     gap in the traffic: the stretch goes on (its length now includes
//     the gap), so the next spin covers such a gap. After a longer sleep,
//     or a PollTimeout that found nothing, the next frames start a new
//     stretch.
//
// So a sender running flat out (gaps of microseconds, now and then a
// millisecond when its CPU does something else) keeps the loop polling
// with the interrupt disarmed; bursts a little apart merge into one
// stretch after a sleep or two; a frame now and then (every 200µs or
// more) costs a spin of 50µs and a sleep; and an idle queue costs one
// wakeup per PollTimeout (100ms): about 0% of a CPU. The most the loop
// spins after traffic stops is MaxIdleSpin.
//
// While it spins without work the loop is polite: after yieldAfter (2µs)
// without frames it calls sched_yield(2) once every 16 idle passes. With
// nothing else runnable on its CPU that returns at once (a few hundred ns
// of the spin, which costs the same CPU); with an application thread
// runnable there (the net/http handlers of a listener, a ReadBatch reader,
// the tap's writer, pinned or confined with the poller, as on a 2-CPU
// machine) that thread runs now, and the loop comes back when it blocks
// or its slice ends. Softirq does the same for Linux: it polls between the
// application's runs instead of against them. Without the yield the
// kernel gives a spinning loop half of a shared CPU whether it has work
// or not: rxbench's HTTP rows, every server thread on one CPU, went from
// 0.40× the kernel's requests per second to 1.01× with it (wrk,
// keep-alive), and from 0.58× to 1.02× with a connection per request
// (ab). A loop alone on its CPU loses nothing: the first frames after a
// yield wait at most its return.
//
// A positive IdleSpin is a fixed spin instead (the policy before: sleep
// after IdleSpin without work, 50µs by default), cheaper on a queue with
// sporadic traffic and dearer at a high rate. A negative IdleSpin never
// sleeps: the loop polls at 100% of its CPU (yielding it as above to
// threads that want it), and looks at Wait (without
// sleeping) once per PollTimeout of idleness to notice a queue going away.
//
// Stats mirror /proc/net/softnet_stat: processed, time_squeeze, busy and
// idle passes, polls and wakeups (and yields, and the time of the rounds
// that found work), next to the driver's drop counters.
//
// Concurrency: a Poller owns its queue's receive side. Start, Stop and
// Stats are safe for concurrent use; the Handler runs on the poller's
// goroutine and must not block for long, as a softirq handler must not.
package poller
