package rxpath

import (
	"net"
	"sync"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/poller"
	"github.com/rxpath/rxpath/stack"
	"github.com/rxpath/rxpath/tap"
)

// Capturer is a capture stage (package tap's *tap.Tap is one): it sees
// every frame before anything parses or filters it, where Linux's
// ptype_all taps (tcpdump) sit. One that also implements BatchCapturer
// learns where each batch ends.
type Capturer interface {
	// Capture offers a frame that arrived on receive queue queue. It must
	// not block or keep frame (a view into driver memory) after it
	// returns; it reports whether it kept a copy.
	Capture(frame []byte, queue int) bool
}

// BatchCapturer is a Capturer that works per batch: after offering a
// batch's frames, and before the stack or the raw handler sees them, the
// tap stage calls EndBatch with the batch's queue, on the same poller
// goroutine. Package tap stamps a batch's frames with one timestamp and
// hands its buffers to its writer there. EndBatch must not block.
type BatchCapturer interface {
	Capturer
	EndBatch(queue int)
}

var _ BatchCapturer = (*tap.Tap)(nil)

// QueueLink adapts a device's queues to stack.LinkEndpoint: a frame the
// stack sends for receive queue q goes out on the queue with ID q (the
// first queue when there is none), copied into that queue's transmit
// buffers. Safe for concurrent use.
type QueueLink struct {
	mac    net.HardwareAddr
	mtu    int
	queues []driver.Queue
	vec    sync.Pool // *[1][]byte, so WritePacket allocates nothing
}

var (
	_ stack.LinkEndpoint = (*QueueLink)(nil)
	_ stack.BatchWriter  = (*QueueLink)(nil)
)

// DefaultMTU is the MTU a QueueLink reports when given none: the stack's
// default, which every driver's default transmit buffer holds.
const DefaultMTU = 1500

// NewQueueLink returns the link of queues, with hardware address mac. An
// mtu of 0 means DefaultMTU.
func NewQueueLink(mac net.HardwareAddr, mtu int, queues ...driver.Queue) *QueueLink {
	if mtu == 0 {
		mtu = DefaultMTU
	}
	l := &QueueLink{mac: mac, mtu: mtu, queues: append([]driver.Queue(nil), queues...)}
	l.vec.New = func() any { return new([1][]byte) }
	return l
}

// MAC returns the link's hardware address.
func (l *QueueLink) MAC() net.HardwareAddr { return l.mac }

// MTU returns the link's MTU.
func (l *QueueLink) MTU() int { return l.mtu }

// WritePacket transmits frame on the queue paired with receive queue
// queue. It reports false when that queue's transmit ring had no room (or
// there are no queues).
func (l *QueueLink) WritePacket(queue int, frame []byte) bool {
	q := l.queue(queue)
	if q == nil {
		return false
	}
	vec := l.vec.Get().(*[1][]byte)
	vec[0] = frame
	n := q.Transmit(vec[:])
	vec[0] = nil
	l.vec.Put(vec)
	return n > 0
}

// WritePackets transmits frames on the queue paired with receive queue
// queue in one Transmit call: one kick of the device for all of them
// (stack.BatchWriter). It returns how many the transmit ring took.
func (l *QueueLink) WritePackets(queue int, frames [][]byte) int {
	q := l.queue(queue)
	if q == nil {
		return 0
	}
	return q.Transmit(frames)
}

// queue is the queue with ID id, the first one when none has it, or nil
// when there are none.
func (l *QueueLink) queue(id int) driver.Queue {
	if len(l.queues) == 0 {
		return nil
	}
	for _, c := range l.queues {
		if c.ID() == id {
			return c
		}
	}
	return l.queues[0]
}

// StackHandler returns a poller handler that runs every frame of a batch
// through s. Give each poller its own: it keeps the scratch Packet that
// makes the receive path allocation-free.
func StackHandler(s *stack.Stack) poller.Handler {
	p := new(stack.Packet)
	var touched byte
	return func(b *poller.Batch) {
		touched ^= touch(b.Frames)
		for i := range b.Frames {
			*p = stack.Packet{Frame: b.Frames[i].Data, Queue: b.Queue}
			s.Deliver(p)
		}
		*p = stack.Packet{} // drop the views
		s.EndBatch(b.Queue)
	}
}

// tapStage puts capture in front of h: each frame of a batch is offered to
// the capture, the batch ends (BatchCapturer), then the batch goes to h
// (the stack or a raw handler). It is the one place the tap is wired, for
// both modes.
func tapStage(h poller.Handler, capture Capturer) poller.Handler {
	if capture == nil {
		return h
	}
	bc, ok := capture.(BatchCapturer)
	if !ok {
		return func(b *poller.Batch) {
			for i := range b.Frames {
				capture.Capture(b.Frames[i].Data, b.Queue)
			}
			h(b)
		}
	}
	var touched byte
	return func(b *poller.Batch) {
		touched ^= touch(b.Frames)
		for i := range b.Frames {
			bc.Capture(b.Frames[i].Data, b.Queue)
		}
		bc.EndBatch(b.Queue)
		h(b)
	}
}

// touch reads the first byte of each frame of a batch, for a stage that
// reads every frame (the stack, the tap), before it starts. A frame the
// NIC (or, in copy mode, the kernel on another CPU) has just written is
// not in this core's cache; these loads do not depend on each other, so
// the core fetches the batch's header lines together instead of stalling
// on one miss per frame as the stage comes to it, as DPDK's receive loops
// prefetch them. The first line holds the Ethernet, IPv4 and transport
// headers: frames start 256 bytes into a UMEM frame. It returns the bytes
// xored, for the caller to keep so that the loads stay.
func touch(frames []driver.Frame) byte {
	var x byte
	for i := range frames {
		if d := frames[i].Data; len(d) > 0 {
			x ^= d[0]
		}
	}
	return x
}

// AttachQueues attaches queues to s as its link: a QueueLink with s's MAC
// and MTU. For stacks driven by a receive loop of the caller's (tests,
// replay).
func AttachQueues(s *stack.Stack, queues ...driver.Queue) error {
	mac := s.MAC()
	return s.Attach(NewQueueLink(mac[:], s.MTU(), queues...))
}
