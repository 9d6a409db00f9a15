// Package rxring implements the four rings of an AF_XDP socket: fill, rx,
// tx and completion. The rings live in memory shared with the kernel (the
// caller mmaps it and hands the bytes to a constructor, with the offsets the
// kernel reported through XDP_MMAP_OFFSETS), or in plain memory laid out by
// [Layout] for tests and fake drivers.
//
// Each ring is a single-producer, single-consumer queue of a power-of-two
// number of slots, with a shared producer index, a shared consumer index, a
// flags word and a descriptor array. Frames travel in two loops:
//
//   - Receive: user space produces UMEM frame addresses into the [FillRing];
//     the kernel consumes them, writes packets into the frames and produces
//     a [Desc] for each packet into the [RxRing], which user space consumes.
//   - Transmit: user space produces a [Desc] per packet into the [TxRing];
//     the kernel consumes it, sends the frame and produces its address into
//     the [CompRing], which user space consumes to get the frame back.
//
// So user space is the producer of Fill and Tx and the consumer of Rx and
// Completion. In Linux terms the fill and rx rings are a NIC's RX
// descriptor ring split in two halves: buffers posted to the hardware, and
// descriptors of the frames it completed into them. The Kernel* types ([KernelFill], [KernelRx], [KernelTx],
// [KernelComp]) play the kernel's half over plain memory so that tests and
// fake drivers can run without privilege; they share the index logic with
// the user-space rings.
//
// Indices are free-running uint32 counters that wrap around; a slot is
// index&(size-1). Each side keeps a private copy of the index it owns and a
// cached copy of the other side's index. A producer reads the shared
// consumer index only when its cached free space cannot satisfy a Reserve;
// a consumer reads the shared producer index only when its cached
// availability cannot satisfy a Peek. Writes are batched: Submit and Release
// publish a whole batch with one atomic store. Every access to the shared
// producer, consumer and flags words uses sync/atomic; descriptor slots are
// plain memory, ordered by those atomics (written before the producer store,
// read after the producer load).
//
// Concurrency: each ring value has exactly one owner goroutine on its side
// and is not safe for concurrent use. The two sides of one ring (user space
// and the kernel, or a user ring and its Kernel* view) may run concurrently.
// Per-packet methods do not allocate, return no errors and never block;
// only misuse (submitting or releasing more entries than were reserved or
// peeked) panics.
package rxring
