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
//  1. Refill the fill ring from the free list before looking at rx.
//  2. Take at most Weight frames and hand them to the Handler as a Batch
//     of zero-copy views. Frames the handler did not Hold are released
//     when it returns; held frames are released later, from any
//     goroutine, through Held.Release.
//  3. Stop the round at Budget frames or TimeLimit, counting TimeSqueeze.
//  4. While work arrives, spin. After IdleSpin without work, re-arm the
//     "interrupt" (the driver's need_wakeup and poll(2)) and sleep until
//     frames arrive, Stop is called, or PollTimeout passes.
//
// Stats mirror /proc/net/softnet_stat: processed, time_squeeze, busy and
// idle passes, polls and wakeups, next to the driver's drop counters.
//
// Concurrency: a Poller owns its queue's receive side. Start, Stop and
// Stats are safe for concurrent use; the Handler runs on the poller's
// goroutine and must not block for long, as a softirq handler must not.
package poller
