package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/driver/internal/sockq"
)

var _ driver.Queue = (*Queue)(nil)

// Layout of the TPACKET_V3 ring (linux/if_packet.h).
const (
	// struct tpacket_block_desc: version, offset_to_priv, then
	// struct tpacket_hdr_v1.
	offBlockStatus = 8
	offNumPkts     = 12
	offFirstPkt    = 16
	blockHdrLen    = 48 // tpacket_block_desc, aligned

	// struct tpacket3_hdr.
	offNextOffset = 0
	offSnaplen    = 12
	offLen        = 16
	offMac        = 24
	pktHdrLen     = unix.SizeofTpacket3Hdr

	alignment = 16 // TPACKET_ALIGNMENT: packets start on 16-byte boundaries
	ethHdrLen = 14

	txBatch = 64 // mmsghdrs per sendmmsg
)

var ne = binary.NativeEndian

// Queue is one AF_PACKET socket of the device's fanout group with its
// TPACKET_V3 receive ring. See driver.Queue and the package documentation
// for the concurrency contract.
type Queue struct {
	// sk is the socket with its life and transmit locks, its eventfd,
	// the epoll set Wait sleeps in, and the counters (package sockq).
	sk    sockq.Core
	ring  []byte
	bsize int // block size
	maxTx int // largest frame Transmit takes: MTU plus Ethernet header

	// mu guards the block ledger and the cursor, and the mapping once
	// Close has run: Release after Close may come from any goroutine.
	mu          sync.Mutex
	blocks      []block
	live        []uint64 // per block, a bit per 16-byte offset: frame handed out
	words       int      // bitmap words per block
	cur         int      // the block the cursor walks or waits for
	inBlock     bool     // the cursor is walking blocks[cur]
	off         uint32   // offset in blocks[cur] of the next packet
	left        uint32   // packets of blocks[cur] not yet walked
	held        int      // blocks taken from the kernel, not yet given back
	outstanding uint64   // frames handed out, not yet released
	returned    int      // blocks given back since the last Refill
	shut        bool     // Close has run: the ring is never written again

	// Transmit side, under sk.Tx.
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	txIdx []int // frame index of each mmsghdr in use

	// Release's counters (the rest are sk's).
	badRelease, foreign, released atomic.Uint64
}

// block is the user side's view of one ring block.
type block struct {
	out    int32  // frames handed out and not released
	gen    uint16 // passes of the block through user space, for stale handles
	user   bool   // taken from the kernel (TP_STATUS_USER seen), not given back
	walked bool   // the cursor has passed every packet of the block
}

// open builds socket id of d: socket, epoll set, options, ring, bind. If
// it fails, d's Close releases what it built.
func (q *Queue) open(d *Device, id int) error {
	o := d.opts
	q.bsize, q.maxTx = o.BlockSize, d.dev.Info.MTU+ethHdrLen
	// Protocol 0: the socket receives nothing until bind names one.
	if err := q.sk.Open("afpacket", id, d.dev.Watch, unix.AF_PACKET, "AF_PACKET", caps); err != nil {
		return err
	}
	// Edge-triggered: packet_poll reports POLLIN while the block before
	// the kernel's current one is user-owned, which it stays while the
	// application holds a frame in it. A level-triggered wait would spin;
	// the edge is the kernel retiring a block (sk_data_ready).
	if err := q.sk.UseEpoll(); err != nil {
		return err
	}
	setInt := func(level, opt int, name string, v int) error {
		if err := unix.SetsockoptInt(q.sk.FD, level, opt, v); err != nil {
			return os.NewSyscallError("setsockopt "+name, err)
		}
		return nil
	}
	if err := setInt(unix.SOL_PACKET, unix.PACKET_VERSION, "PACKET_VERSION", unix.TPACKET_V3); err != nil {
		return err
	}
	if err := setInt(unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, "PACKET_IGNORE_OUTGOING", 1); err != nil {
		return err
	}
	if !o.DisableQdiscBypass {
		if err := setInt(unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, "PACKET_QDISC_BYPASS", 1); err != nil {
			return err
		}
	}
	// Drop everything until the fanout group is complete; Open then
	// swaps in Options.SocketFilter. Nothing unfiltered ever enters the
	// ring, and no frame is delivered twice while sockets join the group.
	if err := attachFilter(q.sk.FD, dropAll); err != nil {
		return err
	}
	if err := q.mapRing(o); err != nil {
		return err
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: d.dev.Info.Index}
	if err := unix.Bind(q.sk.FD, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	q.msgs = make([]unix.Mmsghdr, txBatch)
	q.iovs = make([]unix.Iovec, txBatch)
	q.txIdx = make([]int, 0, txBatch)
	for i := range q.msgs {
		q.msgs[i].Hdr.Iov = &q.iovs[i]
		q.msgs[i].Hdr.SetIovlen(1)
	}
	return nil
}

func (q *Queue) mapRing(o Options) error {
	req := unix.TpacketReq3{
		Block_size:     uint32(o.BlockSize),
		Block_nr:       uint32(o.BlockCount),
		Frame_size:     uint32(o.FrameSize),
		Frame_nr:       uint32(o.BlockSize/o.FrameSize) * uint32(o.BlockCount),
		Retire_blk_tov: o.timeoutMillis(),
	}
	if err := unix.SetsockoptTpacketReq3(q.sk.FD, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return os.NewSyscallError("setsockopt PACKET_RX_RING", err)
	}
	m, err := unix.Mmap(q.sk.FD, 0, o.BlockSize*o.BlockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return os.NewSyscallError("mmap rx ring", err)
	}
	q.ring = m
	q.blocks = make([]block, o.BlockCount)
	q.words = o.BlockSize / alignment / 64
	q.live = make([]uint64, q.words*o.BlockCount)
	return nil
}

var dropAll = []bpf.RawInstruction{{Op: 0x06, K: 0}} // ret #0

func attachFilter(fd int, prog []bpf.RawInstruction) error {
	insns := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		insns[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fp := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}

// setFilter replaces the setup filter with prog, or removes it.
func (q *Queue) setFilter(prog []bpf.RawInstruction) error {
	if len(prog) > 0 {
		return attachFilter(q.sk.FD, prog)
	}
	if err := unix.SetsockoptInt(q.sk.FD, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0); err != nil {
		return os.NewSyscallError("setsockopt SO_DETACH_FILTER", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ID returns the queue's index in the fanout group.
func (q *Queue) ID() int { return q.sk.ID() }

// FD returns the socket's file descriptor, for poll loops of one's own.
func (q *Queue) FD() int { return q.sk.FD }

// Handles encode the block pass (16 bits), the block index (16 bits) and
// the packet's offset in its block (32 bits). Offset 0 is the block
// header, so no handle is 0.
func handle(gen uint16, blk int, off uint32) uint64 {
	return uint64(gen)<<48 | uint64(blk)<<32 | uint64(off)
}

func (q *Queue) blockMem(i int) []byte { return q.ring[i*q.bsize : (i+1)*q.bsize] }

// Receive walks the ring from the cursor and fills frames with zero-copy
// views of up to len(frames) frames. A batch may end in the middle of a
// block; the next call continues there. Poller goroutine only.
func (q *Queue) Receive(frames []driver.Frame) int {
	q.sk.Enter()
	defer q.sk.Exit()
	if q.sk.Closed() || q.ring == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	k := 0
	var nbytes uint64
	for k < len(frames) {
		if !q.inBlock && !q.openBlockLocked() {
			break
		}
		if q.left == 0 {
			q.finishBlockLocked()
			continue
		}
		mem := q.blockMem(q.cur)
		off := q.off
		if uint64(off)+pktHdrLen > uint64(q.bsize) || off%alignment != 0 {
			q.sk.RxInvalid.Add(uint64(q.left))
			q.left = 0
			continue
		}
		// Read each kernel-written field once.
		p := mem[off:]
		next := ne.Uint32(p[offNextOffset:])
		snap := ne.Uint32(p[offSnaplen:])
		wire := ne.Uint32(p[offLen:])
		mac := uint32(ne.Uint16(p[offMac:]))
		q.left--
		if q.left > 0 {
			if next < pktHdrLen || next%alignment != 0 || uint64(off)+uint64(next) >= uint64(q.bsize) {
				// The rest of the block cannot be found.
				q.sk.RxInvalid.Add(uint64(q.left))
				q.left = 0
			}
			q.off = off + next
		}
		end := uint64(mac) + uint64(snap)
		if mac < pktHdrLen || end > uint64(len(p)) {
			q.sk.RxInvalid.Add(1)
			continue
		}
		if snap < wire {
			q.sk.RxTrunc.Add(1)
			continue
		}
		b := &q.blocks[q.cur]
		q.live[q.cur*q.words+int(off/alignment/64)] |= 1 << (off / alignment % 64)
		b.out++
		q.outstanding++
		frames[k] = driver.Frame{Data: p[mac:end:end], Handle: handle(b.gen, q.cur, off)}
		nbytes += uint64(snap)
		k++
	}
	if q.inBlock && q.left == 0 {
		// The batch took the block's last frame: finish it now so that
		// it goes back when those frames are released.
		q.finishBlockLocked()
	}
	q.sk.RxFrames.Add(uint64(k))
	q.sk.RxBytes.Add(nbytes)
	return k
}

// openBlockLocked starts walking blocks[cur] if the kernel has retired it.
func (q *Queue) openBlockLocked() bool {
	b := &q.blocks[q.cur]
	if b.user {
		// Still ours from the previous lap (frames outstanding): the
		// kernel is waiting for it too.
		return false
	}
	mem := q.blockMem(q.cur)
	if loadStatus(mem[offBlockStatus:])&unix.TP_STATUS_USER == 0 {
		return false
	}
	num := ne.Uint32(mem[offNumPkts:])
	first := ne.Uint32(mem[offFirstPkt:])
	if num > 0 && (first < blockHdrLen || uint64(first)+pktHdrLen > uint64(q.bsize)) {
		q.sk.RxInvalid.Add(uint64(num))
		num = 0
	}
	b.user = true
	q.held++
	q.inBlock, q.off, q.left = true, first, num
	return true
}

// finishBlockLocked moves the cursor past blocks[cur], giving it back at
// once if none of its frames is outstanding.
func (q *Queue) finishBlockLocked() {
	b := &q.blocks[q.cur]
	b.walked = true
	q.inBlock, q.left = false, 0
	if b.out == 0 {
		q.giveBackLocked(q.cur)
	}
	q.cur++
	if q.cur == len(q.blocks) {
		q.cur = 0
	}
}

// giveBackLocked returns block i to the kernel (or, after Close, to no
// one).
func (q *Queue) giveBackLocked(i int) {
	b := &q.blocks[i]
	b.user, b.walked = false, false
	b.gen++
	q.held--
	if !q.shut {
		storeStatus(q.blockMem(i)[offBlockStatus:], unix.TP_STATUS_KERNEL)
		q.returned++
		q.sk.Refilled.Add(1)
	}
}

// Release returns frames from Receive. A block goes back to the kernel as
// soon as it has been walked and all its frames are released. Unknown
// handles and double releases are counted and ignored. Poller goroutine
// only; after Close it may be called from any goroutine.
func (q *Queue) Release(frames []driver.Frame) {
	if len(frames) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range frames {
		q.releaseLocked(frames[i].Handle)
	}
	if q.shut {
		q.maybeUnmapLocked()
	}
}

func (q *Queue) releaseLocked(h uint64) {
	gen, blk, off := uint16(h>>48), int(h>>32&0xffff), uint32(h)
	if blk >= len(q.blocks) || off < blockHdrLen || off >= uint32(q.bsize) || off%alignment != 0 {
		q.foreign.Add(1)
		return
	}
	b := &q.blocks[blk]
	w := &q.live[blk*q.words+int(off/alignment/64)]
	bit := uint64(1) << (off / alignment % 64)
	if b.gen != gen || *w&bit == 0 {
		q.badRelease.Add(1)
		return
	}
	*w &^= bit
	b.out--
	q.outstanding--
	q.released.Add(1)
	if b.out == 0 && b.walked {
		q.giveBackLocked(blk)
	}
}

// Refill returns the number of blocks given back to the kernel since the
// last call. Blocks go back as soon as their last frame is released (in
// Release or Receive), so there is nothing left to post. Poller goroutine
// only.
func (q *Queue) Refill() int {
	q.mu.Lock()
	n := q.returned
	q.returned = 0
	q.mu.Unlock()
	return n
}

// readyLocked reports whether Receive would find a frame (or a block to
// walk).
func (q *Queue) readyLocked() bool {
	if q.inBlock {
		return true
	}
	if q.blocks[q.cur].user {
		return false
	}
	return loadStatus(q.blockMem(q.cur)[offBlockStatus:])&unix.TP_STATUS_USER != 0
}

// Wake makes a current or the next Wait return. Safe for concurrent use.
func (q *Queue) Wake() { q.sk.Wake() }

// Wait sleeps until the kernel retires the next block, Wake is called, the
// link changes, or timeout passes. It returns at once if the next block is
// ready, an error wrapping net.ErrClosed after Close, and one wrapping
// driver.ErrQueueDown when the interface goes away.
func (q *Queue) Wait(timeout time.Duration) error {
	q.sk.Enter()
	defer q.sk.Exit()
	if q.sk.Closed() || q.ring == nil {
		return net.ErrClosed
	}
	q.mu.Lock()
	ready := q.readyLocked()
	q.mu.Unlock()
	if ready {
		return nil
	}
	ev, err := q.sk.Sleep(timeout)
	if err != nil {
		return err
	}
	if ev.Link {
		if err := q.sk.UpdateLink(); err != nil {
			return err
		}
	}
	if ev.Err {
		if err := q.socketError(); err != nil {
			return err
		}
	}
	q.mu.Lock()
	ready = q.readyLocked()
	q.mu.Unlock()
	if ready {
		q.sk.Wakeups.Add(1)
	}
	return nil
}

// socketError reads and clears the socket's pending error. The interface
// going down (or away) sets ENETDOWN; anything else is cleared and
// ignored.
func (q *Queue) socketError() error {
	v, err := unix.GetsockoptInt(q.sk.FD, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return q.sk.Down(os.NewSyscallError("getsockopt SO_ERROR", err))
	}
	switch e := unix.Errno(v); e {
	case unix.ENETDOWN:
		// The link went down, or away: the kernel unhooks the socket
		// either way and hooks it back when the link comes up. Only a
		// deleted link ends the queue; a down one is counted by the
		// watcher.
		return q.sk.CheckLink()
	case unix.ENODEV, unix.ENXIO:
		return q.sk.Down(e)
	}
	return nil
}

// Transmit sends frames on the interface with sendmmsg, without blocking.
// Frames longer than the MTU plus the Ethernet header are taken and
// counted as oversize; a frame the kernel refuses for another reason is
// taken and counted as an error. When the device queue or socket buffer is
// full it returns how many frames it took. Safe for concurrent use.
func (q *Queue) Transmit(frames [][]byte) int {
	if !q.sk.EnterTx() {
		return 0
	}
	defer q.sk.ExitTx()
	taken := 0
	for taken < len(frames) {
		// Fill a batch, skipping oversize frames.
		q.txIdx = q.txIdx[:0]
		i := taken
		for ; i < len(frames) && len(q.txIdx) < len(q.msgs); i++ {
			f := frames[i]
			if !q.fits(f) {
				continue
			}
			j := len(q.txIdx)
			q.iovs[j].Base = &f[0]
			q.iovs[j].SetLen(len(f))
			q.txIdx = append(q.txIdx, i)
		}
		end, full := i, false
		if len(q.txIdx) > 0 {
			var sent int
			sent, full = q.sendLocked()
			for j := range q.txIdx {
				q.iovs[j].Base = nil // do not keep the caller's memory
			}
			if full {
				end = q.txIdx[sent] // the first frame not sent
			}
		}
		for _, f := range frames[taken:end] {
			if !q.fits(f) {
				q.sk.TxOversize.Add(1)
			}
		}
		taken = end
		if full {
			q.sk.TxRingFull.Add(uint64(len(frames) - taken))
			break
		}
	}
	return taken
}

func (q *Queue) fits(f []byte) bool { return len(f) > 0 && len(f) <= q.maxTx }

// sendLocked sends the batch in msgs[:len(txIdx)]. It returns how many
// frames left the socket or were refused for good, and whether it stopped
// because the device or socket buffer was full.
func (q *Queue) sendLocked() (int, bool) {
	n := len(q.txIdx)
	done := 0
	for done < n {
		m, errno := sendmmsg(q.sk.FD, q.msgs[done:n])
		switch errno {
		case 0:
			if m == 0 {
				return done, true
			}
			for j := done; j < done+m; j++ {
				q.sk.TxBytes.Add(uint64(q.iovs[j].Len))
			}
			q.sk.TxFrames.Add(uint64(m))
			done += m
		case unix.EINTR:
		case unix.EAGAIN, unix.ENOBUFS:
			return done, true
		default:
			// This frame is refused (EMSGSIZE, EINVAL, ENETDOWN...):
			// take it and go on with the next.
			q.sk.TxKickError.Add(1)
			done++
		}
	}
	return done, false
}

// Stats returns the queue's counters, with PACKET_STATISTICS accumulated
// (reading them resets the kernel's). Safe for concurrent use.
func (q *Queue) Stats() driver.QueueStats {
	s := q.sk.Stats(func(*driver.QueueStats) { q.readKernelStats() })
	s.TxCompleted = s.TxFrames // sendmmsg completes synchronously
	q.mu.Lock()
	s.Buffers = q.buffersLocked()
	q.mu.Unlock()
	return s
}

func (q *Queue) buffersLocked() driver.Buffers {
	b := driver.Buffers{
		Unit:       "ring block",
		Total:      uint64(len(q.blocks)),
		Held:       uint64(q.held),
		BadRelease: q.badRelease.Load(),
		Foreign:    q.foreign.Load(),
	}
	if q.shut {
		b.Free = b.Total - b.Held // the ring is gone: nothing owns them
	} else {
		b.Kernel = b.Total - b.Held
	}
	return b
}

// readKernelStats adds the kernel's counters since the last read to the
// running totals. The caller holds life for reading (or writing).
func (q *Queue) readKernelStats() {
	st, err := unix.GetsockoptTpacketStatsV3(q.sk.FD, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	q.sk.AddKernel(driver.KernelStats{RxDropped: uint64(st.Drops), RxFrozen: uint64(st.Freeze_q_cnt)})
}

// Check verifies the block ledger: each block's outstanding count matches
// its bitmap, only walked or in-progress blocks are held, walked blocks
// with nothing outstanding went back, and the outstanding frames add up to
// those received minus those released. After Close every block must be
// accounted for and, once nothing is outstanding, the ring unmapped. Call
// it while the poller is stopped.
func (q *Queue) Check() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	var sum uint64
	held := 0
	for i := range q.blocks {
		b := &q.blocks[i]
		pop := 0
		for _, w := range q.live[i*q.words : (i+1)*q.words] {
			pop += bits.OnesCount64(w)
		}
		switch {
		case b.out < 0:
			errs = append(errs, fmt.Errorf("block %d: %d frames outstanding", i, b.out))
		case int(b.out) != pop:
			errs = append(errs, fmt.Errorf("block %d: %d frames outstanding, bitmap has %d", i, b.out, pop))
		case b.out > 0 && !b.user:
			errs = append(errs, fmt.Errorf("block %d: %d frames outstanding in a block the kernel owns", i, b.out))
		case b.walked && !b.user:
			errs = append(errs, fmt.Errorf("block %d: walked but not held", i))
		case b.user && b.walked && b.out == 0:
			errs = append(errs, fmt.Errorf("block %d: walked and released but not given back", i))
		case b.user && !b.walked && !(q.inBlock && i == q.cur):
			errs = append(errs, fmt.Errorf("block %d: held but neither walked nor under the cursor (at %d)", i, q.cur))
		}
		if b.user {
			held++
		}
		sum += uint64(max(b.out, 0))
	}
	if held != q.held {
		errs = append(errs, fmt.Errorf("%d blocks held, counted %d", held, q.held))
	}
	if want := q.sk.RxFrames.Load() - q.released.Load(); sum != want || q.outstanding != want {
		errs = append(errs, fmt.Errorf("%d frames outstanding in blocks (counted %d), want %d received - %d released",
			sum, q.outstanding, q.sk.RxFrames.Load(), q.released.Load()))
	}
	if q.shut {
		if q.inBlock {
			errs = append(errs, errors.New("closed with the cursor inside a block"))
		}
		if q.outstanding == 0 && q.ring != nil {
			errs = append(errs, errors.New("closed with nothing outstanding but the ring still mapped"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("afpacket queue %d ledger: %w", q.ID(), err)
	}
	return nil
}

// Close wakes the poller, waits out its current call, and tears the queue
// down: the ring is unmapped and the socket, eventfd and epoll set closed.
// Frames the application still holds keep the ring mapped until the last
// one is released. The mapping holds the socket open until then (still in
// its fanout group, and keeping a promiscuous membership), so Close gives
// it a drop-all filter first. Close is idempotent.
func (q *Queue) Close() error {
	if !q.sk.BeginClose() {
		return nil
	}
	defer q.sk.EndClose()
	var errs []error
	if q.sk.FD >= 0 && q.ring != nil {
		q.readKernelStats()
	}
	q.mu.Lock()
	q.shut = true
	if q.inBlock {
		// Frames not yet walked go with the ring.
		q.finishBlockLocked()
	}
	for i := range q.blocks {
		if b := &q.blocks[i]; b.user && b.out == 0 {
			q.giveBackLocked(i)
		}
	}
	if q.outstanding > 0 && q.sk.FD >= 0 {
		errs = append(errs, attachFilter(q.sk.FD, dropAll))
	}
	errs = append(errs, q.maybeUnmapLocked())
	q.mu.Unlock()
	errs = append(errs, q.sk.CloseFDs())
	return errors.Join(errs...)
}

// maybeUnmapLocked unmaps the ring once Close has run and no frame is
// outstanding.
func (q *Queue) maybeUnmapLocked() error {
	if !q.shut || q.ring == nil || q.outstanding != 0 {
		return nil
	}
	m := q.ring
	q.ring = nil
	return os.NewSyscallError("munmap", unix.Munmap(m))
}
