package driver

import "time"

// Frame is a received frame: a view into driver memory plus the handle
// that releases it.
type Frame struct {
	// Data is the frame from the Ethernet header on. It aliases driver
	// memory; see the package documentation for how long it stays valid.
	Data []byte
	// Handle identifies the buffer for Release (a UMEM address for AF_XDP).
	Handle uint64
}

// Queue is one receive queue with its buffers, driven by one poller. See
// the package documentation for its contract.
type Queue interface {
	// ID is the queue's index on its interface.
	ID() int
	// Refill hands free buffers to the device so that it can keep
	// receiving, and reaps finished transmissions. It returns how many
	// buffers it posted.
	Refill() int
	// Receive fills frames with up to len(frames) received frames and
	// returns how many it filled. It never blocks.
	Receive(frames []Frame) int
	// Release returns frames from Receive to the driver.
	Release(frames []Frame)
	// Wait sleeps until frames may be available, Wake is called, the
	// timeout passes, or the queue is closed (then it returns an error
	// wrapping net.ErrClosed). Before sleeping it re-arms the device's
	// wakeup, as NAPI re-enables interrupts.
	Wait(timeout time.Duration) error
	// Wake makes a current or the next Wait return at once.
	Wake()
	// Transmit copies frames into transmit buffers and queues them on the
	// device. It returns how many frames it took; the rest did not fit and
	// may be retried. Frames too large for a buffer are taken and counted
	// as dropped.
	Transmit(frames [][]byte) int
	// Stats returns the queue's counters.
	Stats() QueueStats
	// Check verifies the queue's buffer accounting: every buffer has
	// exactly one owner. Call it only while the queue is quiescent (its
	// poller stopped), for example after Close.
	Check() error
	// Close stops the queue and releases its resources.
	Close() error
}

// QueueStats are a queue's driver-level counters. Fields a driver does not
// have stay zero.
type QueueStats struct {
	Queue int `json:"queue"`

	RxFrames  uint64 `json:"rx_frames"`
	RxBytes   uint64 `json:"rx_bytes"`
	RxInvalid uint64 `json:"rx_invalid"`   // descriptors for frames the kernel did not own, or out of bounds
	RxTrunc   uint64 `json:"rx_truncated"` // frames longer than a buffer, dropped
	Refilled  uint64 `json:"refilled"`
	RxKicks   uint64 `json:"rx_kicks"` // wakeups of the fill side (need_wakeup)

	TxFrames    uint64 `json:"tx_frames"`
	TxBytes     uint64 `json:"tx_bytes"`
	TxOversize  uint64 `json:"tx_oversize"`
	TxRingFull  uint64 `json:"tx_ring_full"` // frames refused because no buffer or slot was free
	TxKicks     uint64 `json:"tx_kicks"`
	TxKickError uint64 `json:"tx_kick_errors"`
	// TxKicksDeferred counts the kicks a poller made for frames other
	// goroutines transmitted while it polled (AF_XDP): Transmit leaves
	// the kick to the poller's next pass, which makes one for them all.
	TxKicksDeferred uint64 `json:"tx_kicks_deferred"`
	TxCompleted     uint64 `json:"tx_completed"`

	// Ring levels when the stats were taken (AF_XDP; zero sizes where a
	// driver has no such ring): rx descriptors waiting for the poller,
	// and free frames posted to the fill ring for the kernel. A full rx
	// ring or an empty fill ring is where frames get dropped.
	RxRingLevel   uint32 `json:"rx_ring_level"`
	RxRingSize    uint32 `json:"rx_ring_size"`
	FillRingLevel uint32 `json:"fill_ring_level"`
	FillRingSize  uint32 `json:"fill_ring_size"`

	Waits   uint64 `json:"waits"`   // calls of Wait that slept in poll(2)
	Wakeups uint64 `json:"wakeups"` // of those, how many returned with data ready

	// Kernel-side counters (XDP_STATISTICS for AF_XDP, PACKET_STATISTICS
	// for AF_PACKET).
	Kernel KernelStats `json:"kernel"`

	// Buffers is the ledger of the queue's receive and transmit buffers.
	Buffers Buffers `json:"buffers"`
}

// Buffers says where a queue's buffers are. Free+Kernel+Held+Tx = Total.
// The unit is the driver's buffer: a UMEM frame for AF_XDP, a ring block
// for AF_PACKET, a recorded frame for replay.
type Buffers struct {
	Unit       string `json:"unit"`
	Total      uint64 `json:"total"`
	Free       uint64 `json:"free"`
	Kernel     uint64 `json:"kernel"` // owned by the kernel for receive
	Held       uint64 `json:"held"`   // owned by the application
	Tx         uint64 `json:"tx"`     // owned by the kernel for transmit
	BadRelease uint64 `json:"bad_release"`
	Foreign    uint64 `json:"foreign"`
}

// KernelStats mirrors struct xdp_statistics, accumulated.
type KernelStats struct {
	RxDropped       uint64 `json:"rx_dropped"`
	RxFrozen        uint64 `json:"rx_freeze_q_cnt"` // AF_PACKET: times the ring was full and the queue froze
	RxInvalidDescs  uint64 `json:"rx_invalid_descs"`
	TxInvalidDescs  uint64 `json:"tx_invalid_descs"`
	RxRingFull      uint64 `json:"rx_ring_full"`
	RxFillRingEmpty uint64 `json:"rx_fill_ring_empty_descs"`
	TxRingEmpty     uint64 `json:"tx_ring_empty_descs"`
}
