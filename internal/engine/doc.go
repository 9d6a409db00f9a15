// Package engine ties an opened device (AF_XDP or AF_PACKET, see
// auto.Open) to one poller per queue: the wiring between the NIC queues
// and whatever handles their frames. It is what rxpath.Open, `rxpath run`
// and the demo start; the stack plugs in as the handler (Options.OnOpen
// attaches it to the device's queues for transmit, Options.HandlerFor
// gives each poller its own handler).
//
// Start opens the device, wraps its queues if asked (fault injection),
// runs OnOpen, and starts the pollers; a failure at any step undoes the
// earlier ones. Close stops the pollers, gives back frames a wrapper still
// holds, takes the final Snapshot, closes the device (detaching the XDP
// program) and then checks every queue's buffer ledger, so a frame that
// never came back is reported as an error, in Snapshot.LedgerErr, rather
// than lost silently.
//
// An Engine is safe for concurrent use; Close is idempotent.
package engine
