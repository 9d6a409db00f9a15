// Package channel is a driver whose wire is a pair of Go channels: tests
// inject frames and read what the stack transmitted, with no privilege and
// no kernel. It plays the part of gVisor's link/channel and wireguard-go's
// tuntest, and complements (never replaces) the tests on a real veth.
//
// In the receive path it stands where a NIC queue and its RX ring stand:
// Inject copies a frame into the queue as if the NIC had DMA'd it, Receive
// hands it to the poller as a zero-copy view of that copy, and Release
// frees its slot. A Queue has a fixed number of slots (its capacity); a
// slot is taken from Inject until the frame is released, so Inject fails,
// and counts a drop, when every slot is pending or held, as a full RX ring
// would. Transmit copies frames onto the Outbound channel, where the test
// reads what the stack sent (ARP, ICMP, TCP replies); a frame that finds
// the channel full is counted as lost, as on a wire. The buffer ledger
// (unit "slot") is in Stats, and Check reports a frame never released.
//
// Concurrency: a Queue follows the contract of package driver. Receive,
// Release, Refill and Wait belong to the poller's goroutine; Inject,
// Outbound, ReadOutbound, Transmit, Wake, Stats and Close are safe for
// concurrent use. The package is pure Go and builds on every GOOS.
package channel
