// Package replay is a receive driver that plays recorded traffic into the
// poller and the stack, with no privilege at all. Stack tests, fuzzing of
// the whole stack and the stack-cost benchmark use it in place of a NIC.
//
// A recording (pcap or pcapng, Ethernet only; see Read) is copied once into
// one contiguous arena, and Options.Rewrite may retarget it there: the
// Ethernet addresses and the IPv4 destination, with the IPv4, UDP and TCP
// checksums updated incrementally (RFC 1624), so a capture taken elsewhere
// reaches the stack under test. Each recorded frame is one slot of the
// arena and one buffer of the queue's ledger (unit "recorded frame").
//
// Receive hands out zero-copy views of the slots in recorded order, Repeat
// times over. A slot is either free or held by the application. When the
// loop wraps to a slot whose frame from the previous pass is still held,
// Receive stops there (a stall, see Counters) and resumes once that frame
// is released, so no slot is ever handed out twice. A view is valid from
// Receive until its frame is passed to Release; the Handle is the slot
// index. Double releases and unknown handles are counted in
// Buffers.BadRelease and Buffers.Foreign and otherwise ignored.
//
// Options.Timing paces the replay: a frame becomes available at its
// recorded time relative to the first frame, divided by Options.Speed and
// measured from the first Receive call with Options.Clock. Without it,
// frames are available at once (full speed). Wait sleeps on a timer and a
// wake channel, never spinning, until the next frame is due, Wake or Close
// is called, a held frame that blocks the replay is released, or the
// timeout passes; once the recording is exhausted it just sleeps, so a
// poller idles. Done is closed when every pass has been handed out and
// every frame released (or the queue closed).
//
// Transmit copies frames into a list that tests read with Sent, and writes
// them to Options.Capture as pcap if set. A failed capture write is
// counted, never fatal.
//
// Concurrency: a Queue follows the contract of package driver. Receive,
// Refill and Wait belong to the poller's goroutine; Release may also be
// called from other goroutines (a poller's Held.Release after it stopped).
// Transmit, Sent, Wake, Stats, Counters, Delivered, Done and Close are
// safe for concurrent use. The package is pure Go and builds on every GOOS.
package replay
