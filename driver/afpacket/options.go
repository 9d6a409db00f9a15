package afpacket

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/net/bpf"
)

// FanoutMode selects how the kernel spreads frames over the sockets of a
// fanout group (PACKET_FANOUT).
type FanoutMode int

// Fanout modes.
const (
	// FanoutHash keeps a flow on one socket (PACKET_FANOUT_HASH).
	FanoutHash FanoutMode = iota
	// FanoutCPU picks the socket by the receiving CPU (PACKET_FANOUT_CPU).
	FanoutCPU
	// FanoutLB round-robins frames over the sockets (PACKET_FANOUT_LB).
	FanoutLB
)

// String returns the mode's name, as ParseFanout accepts it.
func (m FanoutMode) String() string {
	switch m {
	case FanoutCPU:
		return "cpu"
	case FanoutLB:
		return "lb"
	}
	return "hash"
}

// ParseFanout parses "hash" (or ""), "cpu" or "lb".
func ParseFanout(s string) (FanoutMode, error) {
	switch s {
	case "", "hash":
		return FanoutHash, nil
	case "cpu":
		return FanoutCPU, nil
	case "lb", "roundrobin":
		return FanoutLB, nil
	}
	return 0, fmt.Errorf("unknown fanout mode %q (want hash, cpu or lb)", s)
}

// Options configures Open. The zero value means DefaultOptions.
type Options struct {
	// Queues is the number of sockets in the fanout group, one per
	// poller. Zero means the interface's rx queue count, at least 1.
	Queues int
	// Fanout selects how frames are spread over the sockets.
	Fanout FanoutMode
	// FanoutGroup is the fanout group id. Zero lets the kernel pick an
	// unused one (PACKET_FANOUT_FLAG_UNIQUEID), so the group never merges
	// with another process's. A non-zero id joins sockets of other
	// processes that use the same id and mode. With one queue and no
	// FanoutGroup the socket joins no group.
	FanoutGroup uint16
	// BlockSize is the ring block size, a power-of-two multiple of the
	// page size (default 64 KiB). A block must hold the largest frame.
	BlockSize int
	// BlockCount is the number of blocks per socket (default 128). At low
	// rates each block retires after BlockTimeout with a frame or two in
	// it, so the ring absorbs a stalled poller for about BlockCount ×
	// BlockTimeout (128 ms by default), whatever the block size: many
	// small blocks give more slack for the same memory.
	BlockCount int
	// FrameSize is the tp_frame_size hint, a multiple of 16 (default
	// 2048). TPACKET_V3 packs frames of any size into a block; this only
	// sets tp_frame_nr.
	FrameSize int
	// BlockTimeout is how long the kernel keeps a block that has frames
	// before it hands it over (retire_blk_tov). Default 1ms; rounded up to
	// whole milliseconds, the kernel's unit, with a minimum of 1ms.
	BlockTimeout time.Duration
	// SocketFilter is a classic BPF program (golang.org/x/net/bpf) that
	// the kernel runs on each frame before it enters the ring
	// (SO_ATTACH_FILTER): frames it rejects never reach user space. Not
	// to be confused with the stack's filter rules or the tap's capture
	// expression.
	SocketFilter []bpf.RawInstruction
	// Promisc puts the interface in promiscuous mode for the life of the
	// device (PACKET_MR_PROMISC).
	Promisc bool
	// DisableQdiscBypass sends through the interface's qdisc instead of
	// straight to the driver (PACKET_QDISC_BYPASS).
	DisableQdiscBypass bool
}

// Defaults for zero Options fields.
const (
	DefaultBlockSize    = 64 << 10
	DefaultBlockCount   = 128
	DefaultFrameSize    = 2048
	DefaultBlockTimeout = time.Millisecond
)

// Limits checked by Open.
const (
	maxQueues     = 1024
	maxBlockCount = 1 << 16 // the block index is 16 bits of a Handle
	maxBlockSize  = 1 << 30
	minFrameSize  = 128
	maxTimeout    = time.Minute
)

// DefaultOptions returns the options the zero value stands for (Queues
// stays 0: the interface's rx queue count).
func DefaultOptions() Options {
	return Options{
		BlockSize:    DefaultBlockSize,
		BlockCount:   DefaultBlockCount,
		FrameSize:    DefaultFrameSize,
		BlockTimeout: DefaultBlockTimeout,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.BlockSize == 0 {
		o.BlockSize = d.BlockSize
	}
	if o.BlockCount == 0 {
		o.BlockCount = d.BlockCount
	}
	if o.FrameSize == 0 {
		o.FrameSize = d.FrameSize
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = d.BlockTimeout
	}
	return o
}

// timeoutMillis is BlockTimeout in the kernel's unit, rounded up.
func (o Options) timeoutMillis() uint32 {
	ms := (o.BlockTimeout + time.Millisecond - 1) / time.Millisecond
	return uint32(max(ms, 1))
}

// validate checks Options that already have their defaults filled in.
func (o Options) validate() error {
	page := os.Getpagesize()
	switch {
	case o.Queues < 0 || o.Queues > maxQueues:
		return fmt.Errorf("%d queues: want 0 (one per rx queue) to %d", o.Queues, maxQueues)
	case o.Fanout < FanoutHash || o.Fanout > FanoutLB:
		return fmt.Errorf("unknown fanout mode %d", o.Fanout)
	case o.BlockSize < page || o.BlockSize > maxBlockSize || o.BlockSize&(o.BlockSize-1) != 0:
		return fmt.Errorf("block size %d is not a power-of-two multiple of the page size %d (at most %d)", o.BlockSize, page, maxBlockSize)
	case o.BlockCount < 1 || o.BlockCount > maxBlockCount:
		return fmt.Errorf("block count %d: want 1 to %d", o.BlockCount, maxBlockCount)
	case o.FrameSize < minFrameSize || o.FrameSize > o.BlockSize || o.FrameSize%16 != 0:
		return fmt.Errorf("frame size %d: want a multiple of 16 from %d to the block size %d", o.FrameSize, minFrameSize, o.BlockSize)
	case o.BlockTimeout < 0 || o.BlockTimeout > maxTimeout:
		return fmt.Errorf("block timeout %v: want 1ms to %v", o.BlockTimeout, maxTimeout)
	case len(o.SocketFilter) > 4096: // BPF_MAXINSNS
		return fmt.Errorf("socket filter has %d instructions, the kernel takes at most 4096", len(o.SocketFilter))
	}
	if int64(o.BlockSize)*int64(o.BlockCount) > 1<<40 {
		return fmt.Errorf("ring of %d blocks of %d bytes is too large", o.BlockCount, o.BlockSize)
	}
	return nil
}
