package umem

import (
	"errors"
	"fmt"
	"sync"
)

// Frame sizes accepted by the kernel in aligned mode that rxpath supports.
const (
	FrameSize2K = 2048
	FrameSize4K = 4096
)

// KernelHeadroom is XDP_PACKET_HEADROOM: in copy and zero-copy mode the
// kernel places received data this many bytes (plus Options.Headroom) into
// the frame.
const KernelHeadroom = 256

// Errors returned by New and the ledger.
var (
	// ErrInvalid wraps every option validation failure.
	ErrInvalid = errors.New("invalid umem options")
	// ErrClosed is returned by operations on a closed UMEM.
	ErrClosed = errors.New("umem closed")
)

// Options configures a UMEM. The zero value means the defaults of
// DefaultOptions.
type Options struct {
	// FrameSize is 2048 or 4096 (default 4096).
	FrameSize int
	// FrameCount is the number of frames (default 4096).
	FrameCount int
	// TxFrames is how many frames are reserved for transmit (default
	// FrameCount/8, at least 1 unless FrameCount is 1).
	TxFrames int
	// Headroom is extra space the kernel leaves before received data, on
	// top of KernelHeadroom (default 0).
	Headroom int
	// HugePages asks for MAP_HUGETLB memory, falling back to normal pages
	// when none are available.
	HugePages bool
}

// DefaultOptions returns the options the zero value stands for.
func DefaultOptions() Options {
	return Options{FrameSize: FrameSize4K, FrameCount: 4096, TxFrames: 512}
}

// RxFrames is how many frames these options leave for receive, defaults
// applied: FrameCount less TxFrames.
func (o Options) RxFrames() int {
	o = o.withDefaults()
	return o.FrameCount - o.TxFrames
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.FrameSize == 0 {
		o.FrameSize = d.FrameSize
	}
	if o.FrameCount == 0 {
		o.FrameCount = d.FrameCount
	}
	if o.TxFrames == 0 {
		o.TxFrames = o.FrameCount / 8
		if o.TxFrames == 0 && o.FrameCount > 1 {
			o.TxFrames = 1
		}
	}
	return o
}

func (o Options) validate() error {
	if o.FrameSize != FrameSize2K && o.FrameSize != FrameSize4K {
		return fmt.Errorf("%w: frame size %d (want 2048 or 4096)", ErrInvalid, o.FrameSize)
	}
	if o.FrameCount < 1 || o.FrameCount > 1<<24 {
		return fmt.Errorf("%w: frame count %d (want 1 to %d)", ErrInvalid, o.FrameCount, 1<<24)
	}
	if o.TxFrames < 0 || o.TxFrames >= o.FrameCount && o.FrameCount > 1 {
		return fmt.Errorf("%w: %d tx frames out of %d leaves none for receive", ErrInvalid, o.TxFrames, o.FrameCount)
	}
	if o.Headroom < 0 || o.Headroom+KernelHeadroom+64 > o.FrameSize {
		return fmt.Errorf("%w: headroom %d does not fit a %d-byte frame", ErrInvalid, o.Headroom, o.FrameSize)
	}
	return nil
}

// UMEM is a registered frame area and its ledger. Stats is safe for
// concurrent use; see the package documentation for the ownership of the
// other methods.
type UMEM struct {
	opts  Options
	mem   []byte
	huge  bool
	shift uint
	l     ledger
	rb    RxBatch

	// mu guards closing and unmapping against late releases of held
	// frames from application goroutines.
	mu       sync.Mutex
	closed   bool
	unmapped bool
}

// New maps the frame area and builds its ledger. It needs no privilege;
// registration with a socket happens in Register.
func New(opts Options) (*UMEM, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	mem, huge, err := mapFrames(opts.FrameSize*opts.FrameCount, opts.HugePages)
	if err != nil {
		return nil, fmt.Errorf("map umem of %d frames: %w", opts.FrameCount, err)
	}
	u := &UMEM{opts: opts, mem: mem, huge: huge}
	for 1<<u.shift != opts.FrameSize {
		u.shift++
	}
	u.l.init(uint32(opts.FrameCount), uint32(opts.FrameCount-opts.TxFrames), u.shift)
	u.l.mem = mem
	u.rb.l = &u.l
	return u, nil
}

// Options returns the options in force, defaults filled in.
func (u *UMEM) Options() Options { return u.opts }

// Bytes returns the whole frame area (for registration).
func (u *UMEM) Bytes() []byte { return u.mem }

// HugePages reports whether the area is backed by huge pages.
func (u *UMEM) HugePages() bool { return u.huge }

// FrameSize returns the size of one frame.
func (u *UMEM) FrameSize() int { return u.opts.FrameSize }

// RxFrames returns the number of frames in the receive partition.
func (u *UMEM) RxFrames() int { return int(u.l.rxCount) }

// DataOffset is where the kernel places received data inside a frame.
func (u *UMEM) DataOffset() int { return KernelHeadroom + u.opts.Headroom }

// MaxFrameLen is the longest frame that fits after the data offset.
func (u *UMEM) MaxFrameLen() int { return u.opts.FrameSize - u.DataOffset() }

// View returns the len bytes at addr, a zero-copy view into the area. ok is
// false when the range leaves addr's frame or the area.
func (u *UMEM) View(addr uint64, n uint32) (b []byte, ok bool) {
	base := addr &^ (uint64(u.opts.FrameSize) - 1)
	end := addr + uint64(n)
	if addr >= uint64(len(u.mem)) || end > base+uint64(u.opts.FrameSize) {
		return nil, false
	}
	return u.mem[addr:end:end], true
}

// TxBuffer returns the writable frame at a transmit address from AllocTx.
func (u *UMEM) TxBuffer(addr uint64) []byte {
	return u.mem[addr : addr+uint64(u.opts.FrameSize) : addr+uint64(u.opts.FrameSize)]
}

// TakeForFill moves up to len(dst) free receive frames to Fill and writes
// their addresses to dst. Receive owner only.
func (u *UMEM) TakeForFill(dst []uint64) int {
	var d deltas
	n := u.l.takeForFill(dst, &d)
	u.l.commit(&d)
	return n
}

// Received records that the kernel handed back the frame at addr on the rx
// ring (Fill → Held). It returns false, and counts Foreign, when addr is
// outside the receive partition or its frame was not owned by the kernel.
// Receive owner only.
func (u *UMEM) Received(addr uint64) bool {
	if !u.l.received(addr, nil) {
		return false
	}
	u.l.moved(Fill, Held)
	return true
}

// Release returns a held receive frame to the free list (Held → Free). A
// second release, or a frame that is not held, is counted as BadRelease and
// ignored. Receive owner only, or ReleaseClosed after Close.
func (u *UMEM) Release(addr uint64) bool {
	if !u.l.releaseRx(addr, nil) {
		return false
	}
	u.l.moved(Held, Free)
	return true
}

// ReleaseClosed releases a held receive frame after the owner has stopped
// (the queue is closed). It is safe for concurrent use and unmaps the area
// when Close has been called and the last held frame comes back.
func (u *UMEM) ReleaseClosed(addr uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	ok := u.Release(addr)
	u.maybeUnmapLocked()
	return ok
}

// RxBatch returns the receive owner's batch view of the ledger. Receive
// owner only.
func (u *UMEM) RxBatch() *RxBatch { return &u.rb }

// RxBatch records the receive owner's transitions (Free → Fill → Held →
// Free) as TakeForFill, Received and Release do, with the same checks on
// every frame, but keeps their count changes until Commit adds them to the
// counts that Stats reads: one atomic add per state per commit instead of
// two per frame, and none for a state whose changes cancel out (a round
// that receives, releases and refills as many frames as it started with).
//
// Between commits, Stats lags behind by the uncommitted transitions, and
// Check reports them as an error: commit at least once per round, and
// before anyone may call Check. Reclaim commits what is left, so a Close
// that follows the owner's last call sees exact counts.
//
// An RxBatch belongs to the receive owner and is not safe for concurrent
// use; it allocates nothing.
type RxBatch struct{ l *ledger }

// TakeForFill is UMEM.TakeForFill, counted at the next Commit.
func (b *RxBatch) TakeForFill(dst []uint64) int { return b.l.takeForFill(dst, &b.l.pend) }

// Received is UMEM.Received and View in one step, counted at the next
// Commit: it moves the frame at addr from Fill to Held and returns its n
// bytes at addr. When addr is foreign it counts Foreign and returns false;
// when the range leaves the frame or the area it returns the frame to the
// free list (it is the application's no longer) and returns false.
func (b *RxBatch) Received(addr uint64, n uint32) (view []byte, ok bool) {
	l := b.l
	if !l.received(addr, &l.pend) {
		return nil, false
	}
	base := addr &^ (uint64(1)<<l.shift - 1)
	end := addr + uint64(n)
	if end > base+uint64(1)<<l.shift {
		l.releaseRx(addr, &l.pend)
		return nil, false
	}
	return l.mem[addr:end:end], true
}

// Release is UMEM.Release, counted at the next Commit.
func (b *RxBatch) Release(addr uint64) bool { return b.l.releaseRx(addr, &b.l.pend) }

// Commit adds the batch's count changes to the counts.
func (b *RxBatch) Commit() { b.l.commit(&b.l.pend) }

// Pending reports whether the batch has changes Commit has not yet added.
func (b *RxBatch) Pending() bool { return b.l.pend != deltas{} }

// AllocTx takes a free transmit frame (Free → Held). Tx owner only.
func (u *UMEM) AllocTx() (addr uint64, ok bool) { return u.l.allocTx() }

// SubmitTx records that a held transmit frame went on the tx ring
// (Held → Tx). Tx owner only.
func (u *UMEM) SubmitTx(addr uint64) bool { return u.l.submitTx(addr) }

// AbortTx returns a held transmit frame that was not submitted (Held →
// Free). Tx owner only.
func (u *UMEM) AbortTx(addr uint64) bool { return u.l.abortTx(addr) }

// Completed records a completion ring entry (Tx → Free). Tx owner only.
func (u *UMEM) Completed(addr uint64) bool { return u.l.completed(addr) }

// Reclaim returns every frame the kernel owned (Fill and Tx) to the free
// lists. Call it once the socket that owned the rings is closed: the kernel
// gives up its frames with it.
func (u *UMEM) Reclaim() { u.l.reclaim() }

// Stats returns the ledger's counts. Safe for concurrent use.
func (u *UMEM) Stats() Stats { return u.l.stats(u.huge) }

// Check verifies that every frame is in exactly one place and that the
// counts and free lists agree with the per-frame states. Call it only while
// the UMEM is quiescent (no poller running, no transmit in flight).
func (u *UMEM) Check() error { return u.l.check() }

// Close unmaps the frame area, or, while the application still holds
// frames, defers the unmap to the release of the last one. It is
// idempotent.
func (u *UMEM) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	return u.maybeUnmapLocked()
}

func (u *UMEM) maybeUnmapLocked() error {
	if !u.closed || u.unmapped || u.l.counts[Held].Load() != 0 {
		return nil
	}
	u.unmapped = true
	return unmapFrames(u.mem)
}
