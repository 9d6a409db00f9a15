package stack

import (
	"github.com/rxpath/rxpath/stack/header"
)

// TxBuffer is scratch space for building one outgoing packet, with
// EthernetSize bytes of headroom for the link header. Get one with
// GetTxBuffer and return it with PutTxBuffer; it must not be used after.
type TxBuffer struct {
	b []byte
}

// Packet returns the buffer's IPv4 area (after the link headroom), large
// enough for a 65535-byte datagram.
func (t *TxBuffer) Packet() []byte { return t.b[header.EthernetSize:] }

// Frame returns the first EthernetSize+n bytes: the frame for an n-byte
// IPv4 packet written into Packet.
func (t *TxBuffer) Frame(n int) []byte { return t.b[:header.EthernetSize+n] }

// GetTxBuffer returns a transmit scratch buffer. Safe for concurrent use.
func (s *Stack) GetTxBuffer() *TxBuffer { return s.txPool.Get().(*TxBuffer) }

// PutTxBuffer returns a buffer from GetTxBuffer.
func (s *Stack) PutTxBuffer(t *TxBuffer) { s.txPool.Put(t) }

// WriteIPv4 sends frame, an IPv4 packet behind EthernetSize bytes of
// headroom, to next hop dst: it resolves the link address, writes the
// Ethernet header and transmits on the queue with ID queue, the one a
// reply's request arrived on (any other value picks the first queue). When the neighbour is still being resolved, a copy of
// the frame waits for the ARP reply. Safe for concurrent use.
func (s *Stack) WriteIPv4(queue int, dst [4]byte, frame []byte) error {
	return s.writeIPv4(queue, nil, dst, frame)
}

// WriteIPv4Batch is WriteIPv4 onto b's queue, with the frame staged in b
// (copied) for b's next Flush rather than transmitted now. A frame for a
// neighbour still being resolved waits for the ARP reply as with
// WriteIPv4.
func (s *Stack) WriteIPv4Batch(b *TxBatch, dst [4]byte, frame []byte) error {
	return s.writeIPv4(b.queue, b, dst, frame)
}

func (s *Stack) writeIPv4(queue int, b *TxBatch, dst [4]byte, frame []byte) error {
	var mac header.MAC
	switch {
	case s.IsBroadcast(dst) || dst[0]&0xf0 == 0xe0:
		mac = header.BroadcastMAC
		if dst[0]&0xf0 == 0xe0 { // RFC 1112 multicast mapping
			mac = header.MAC{0x01, 0x00, 0x5e, dst[1] & 0x7f, dst[2], dst[3]}
		}
	case !s.OnLink(dst):
		if !s.hasGW {
			s.st.txNoRoute.Add(1)
			return ErrNoRoute
		}
		mac = s.gateway
	default:
		var ok bool
		var err error
		mac, ok, err = s.neigh.resolve(queue, dst, frame)
		if !ok {
			return err // queued (nil) or refused
		}
	}
	header.EncodeEthernet(frame, mac, s.mac, header.EtherTypeIPv4)
	if b != nil {
		return b.add(frame)
	}
	return s.transmit(queue, frame)
}

// txBatchArena is how many frame bytes a TxBatch stages before it flushes
// on its own: room for about 200 ACKs.
const txBatchArena = 16 << 10

// TxBatch stages frames for one transmit queue and hands them to the link
// in one call (BatchWriter.WritePackets, one kick of the device) at
// Flush, or one by one when the link cannot take a batch. It is not safe
// for concurrent use: it belongs to the receive loop of its queue, which
// stages what it answers during a batch and flushes at the batch's end
// (OnBatchEnd). Only frames whose order against the application's sends
// does not matter belong in it (pure ACKs, SYN-ACKs): the application
// transmits directly meanwhile.
type TxBatch struct {
	s      *Stack
	queue  int
	arena  []byte
	ends   []int // end offset of each staged frame in arena
	frames [][]byte
}

// NewTxBatch returns an empty batch for transmit queue queue.
func (s *Stack) NewTxBatch(queue int) *TxBatch {
	return &TxBatch{s: s, queue: queue, arena: make([]byte, 0, txBatchArena)}
}

// Queue returns the transmit queue the batch is for.
func (b *TxBatch) Queue() int { return b.queue }

// Len returns the number of frames staged.
func (b *TxBatch) Len() int { return len(b.ends) }

func (b *TxBatch) add(frame []byte) error {
	if len(frame) > cap(b.arena) {
		return b.s.transmit(b.queue, frame)
	}
	if len(b.arena)+len(frame) > cap(b.arena) {
		b.Flush()
	}
	b.arena = append(b.arena, frame...)
	b.ends = append(b.ends, len(b.arena))
	return nil
}

// Flush transmits the staged frames, in the order they were staged.
func (b *TxBatch) Flush() {
	if len(b.ends) == 0 {
		return
	}
	b.frames = b.frames[:0]
	start := 0
	for _, end := range b.ends {
		b.frames = append(b.frames, b.arena[start:end])
		start = end
	}
	if lb := b.s.link.Load(); lb == nil {
		b.s.st.txRingFull.Add(uint64(len(b.frames)))
	} else if bw, ok := lb.l.(BatchWriter); ok {
		n := bw.WritePackets(b.queue, b.frames)
		b.s.st.txFrames.Add(uint64(n))
		b.s.st.txRingFull.Add(uint64(len(b.frames) - n))
	} else {
		for _, f := range b.frames {
			b.s.transmit(b.queue, f)
		}
	}
	clear(b.frames)
	b.frames = b.frames[:0]
	b.arena, b.ends = b.arena[:0], b.ends[:0]
}

// transmit hands a complete frame to the link.
func (s *Stack) transmit(queue int, frame []byte) error {
	lb := s.link.Load()
	if lb == nil {
		return ErrNotAttached
	}
	if !lb.l.WritePacket(queue, frame) {
		s.st.txRingFull.Add(1)
		return ErrTxFull
	}
	s.st.txFrames.Add(1)
	return nil
}
