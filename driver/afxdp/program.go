package afxdp

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Action is what the XDP program does with frames of a queue that has no
// socket bound.
type Action int

// Actions for unbound queues.
const (
	// Pass hands the frame to the kernel stack (XDP_PASS), the default.
	Pass Action = iota
	// Drop drops it (XDP_DROP).
	Drop
)

// String returns "pass" or "drop".
func (a Action) String() string {
	if a == Drop {
		return "drop"
	}
	return "pass"
}

const (
	xdpDrop = 1
	xdpPass = 2

	// offsetof(struct xdp_md, rx_queue_index)
	xdpMDRxQueueIndex = 16
)

// programSpec returns the XDP program:
//
//	return bpf_redirect_map(&xsks, ctx->rx_queue_index, fallback);
//
// The low bits of bpf_redirect_map's flags are the action returned when
// the key has no entry (kernel 5.3 and later), so frames of unbound queues
// pass or drop without a lookup of their own.
func programSpec(xsks *ebpf.Map, unbound Action) *ebpf.ProgramSpec {
	fallback := int32(xdpPass)
	if unbound == Drop {
		fallback = xdpDrop
	}
	return &ebpf.ProgramSpec{
		Name:    "rxpath_xsk",
		Type:    ebpf.XDP,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, xdpMDRxQueueIndex, asm.Word),
			asm.LoadMapPtr(asm.R1, xsks.FD()),
			asm.Mov.Imm(asm.R3, fallback),
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	}
}

func xskMapSpec(queues int) *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       "rxpath_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(queues),
	}
}
