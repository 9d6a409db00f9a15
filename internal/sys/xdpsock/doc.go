// Package xdpsock reads the AF_XDP socket options that return a struct:
// the ring offsets (XDP_MMAP_OFFSETS) and the kernel's counters
// (XDP_STATISTICS). driver/afxdp and rxbench's xsk-minimal receiver,
// which keeps its own socket, both read them.
package xdpsock
