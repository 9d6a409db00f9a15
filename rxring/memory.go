package rxring

import "fmt"

// Byte offsets of struct xdp_ring with 64-byte cache lines, as a current
// Linux kernel reports them through XDP_MMAP_OFFSETS: producer and consumer
// sit on separate cache lines with a padding line between them, and the
// descriptor array starts on the first line after the flags word.
const (
	layoutProducer = 0
	layoutConsumer = 128
	layoutFlags    = 196
	layoutDesc     = 320
	layoutAlign    = 64
)

// Layout returns freshly allocated, zeroed memory for a ring of size
// entries of descSize bytes (AddrSize or DescSize), laid out the way the
// kernel lays out an mmap'd ring, and the offsets describing it. The memory
// starts on a 64-byte boundary. It is meant for tests and fake drivers.
// Layout does not validate size, so a bad size can be passed on to a
// constructor; it panics if descSize is not positive.
func Layout(size uint32, descSize int) (mem []byte, off Offsets) {
	if descSize <= 0 {
		panic(fmt.Sprintf("rxring: Layout with descriptor size %d", descSize))
	}
	mem = alignedBytes(layoutDesc+int(size)*descSize, layoutAlign)
	return mem, Offsets{
		Producer: layoutProducer,
		Consumer: layoutConsumer,
		Desc:     layoutDesc,
		Flags:    layoutFlags,
	}
}

// The Kernel* types play the kernel's side of each ring over plain memory,
// for tests and fake drivers. Each is the mirror image of a user-space ring
// on the same memory: KernelFill consumes what FillRing produces, KernelRx
// produces what RxRing consumes, and so on. Like the user-space rings, each
// is owned by one goroutine and is not safe for concurrent use; it may run
// concurrently with its user-space counterpart.

// KernelFill is the kernel's consumer side of the fill ring.
type KernelFill struct {
	c consCore[uint64]
}

// NewKernelFill returns the kernel's view of the fill ring in mem.
func NewKernelFill(mem []byte, off Offsets, size uint32) (*KernelFill, error) {
	k := new(KernelFill)
	if err := k.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("kernel fill ring: %w", err)
	}
	return k, nil
}

// Consume takes as many addresses as fit in addrs and returns how many.
func (k *KernelFill) Consume(addrs []uint64) int { return k.c.consume(addrs) }

// SetFlags stores flags (such as NeedWakeup) into the ring's flags word.
func (k *KernelFill) SetFlags(flags uint32) { k.c.setFlags(flags) }

// KernelRx is the kernel's producer side of the rx ring.
type KernelRx struct {
	c prodCore[Desc]
}

// NewKernelRx returns the kernel's view of the rx ring in mem.
func NewKernelRx(mem []byte, off Offsets, size uint32) (*KernelRx, error) {
	k := new(KernelRx)
	if err := k.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("kernel rx ring: %w", err)
	}
	return k, nil
}

// Produce publishes as many of descs as fit and returns how many.
func (k *KernelRx) Produce(descs []Desc) int { return k.c.produce(descs) }

// SetFlags stores flags (such as NeedWakeup) into the ring's flags word.
func (k *KernelRx) SetFlags(flags uint32) { k.c.setFlags(flags) }

// KernelTx is the kernel's consumer side of the tx ring.
type KernelTx struct {
	c consCore[Desc]
}

// NewKernelTx returns the kernel's view of the tx ring in mem.
func NewKernelTx(mem []byte, off Offsets, size uint32) (*KernelTx, error) {
	k := new(KernelTx)
	if err := k.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("kernel tx ring: %w", err)
	}
	return k, nil
}

// Consume takes as many descriptors as fit in descs and returns how many.
func (k *KernelTx) Consume(descs []Desc) int { return k.c.consume(descs) }

// SetFlags stores flags (such as NeedWakeup) into the ring's flags word.
func (k *KernelTx) SetFlags(flags uint32) { k.c.setFlags(flags) }

// KernelComp is the kernel's producer side of the completion ring.
type KernelComp struct {
	c prodCore[uint64]
}

// NewKernelComp returns the kernel's view of the completion ring in mem.
func NewKernelComp(mem []byte, off Offsets, size uint32) (*KernelComp, error) {
	k := new(KernelComp)
	if err := k.c.init(mem, off, size); err != nil {
		return nil, fmt.Errorf("kernel completion ring: %w", err)
	}
	return k, nil
}

// Produce publishes as many of addrs as fit and returns how many.
func (k *KernelComp) Produce(addrs []uint64) int { return k.c.produce(addrs) }

// SetFlags stores flags (such as NeedWakeup) into the ring's flags word.
func (k *KernelComp) SetFlags(flags uint32) { k.c.setFlags(flags) }
