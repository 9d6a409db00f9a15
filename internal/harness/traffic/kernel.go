package traffic

// KernelBatch is the number of datagrams a KernelReceiver asks recvmmsg
// for at once.
const KernelBatch = 64

// KernelOptions configures a KernelReceiver.
type KernelOptions struct {
	// CPUs has one entry per reader thread: the CPU it is pinned to. At
	// least one.
	CPUs []int
	// Nice is the readers' nice value (0: left alone).
	Nice int
	// Spin reads with MSG_DONTWAIT and retries at once on EAGAIN, instead
	// of blocking in recvmmsg.
	Spin bool
}
