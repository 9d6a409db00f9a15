package umem

import (
	"os"

	"golang.org/x/sys/unix"
)

func mapFrames(size int, huge bool) ([]byte, bool, error) {
	const prot = unix.PROT_READ | unix.PROT_WRITE
	const flags = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
	if huge {
		// Huge pages must be reserved by the administrator
		// (vm.nr_hugepages); without them fall back to normal pages.
		if mem, err := unix.Mmap(-1, 0, size, prot, flags|unix.MAP_HUGETLB); err == nil {
			return mem, true, nil
		}
	}
	mem, err := unix.Mmap(-1, 0, size, prot, flags)
	if err != nil {
		return nil, false, os.NewSyscallError("mmap", err)
	}
	return mem, false, nil
}

func unmapFrames(mem []byte) error {
	return os.NewSyscallError("munmap", unix.Munmap(mem))
}
