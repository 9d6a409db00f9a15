package scenario

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/internal/harness/lab"
)

// ceiling is an XDP program on the DUT veth that counts every frame in a
// per-CPU array and drops it: the kernel's receive path up to the point
// where a receiver would take over, with no receiver at all.
type ceiling struct {
	prog  *ebpf.Program
	count *ebpf.Map
	lnk   link.Link
	ncpu  int
}

func newCeiling(h *liveLab) (receiver, error) {
	c := &ceiling{}
	var err error
	c.count, err = ebpf.NewMap(&ebpf.MapSpec{Name: "rxb_ceiling", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("ceiling: counter map: %w", err)
	}
	c.ncpu, err = ebpf.PossibleCPU()
	if err != nil {
		c.count.Close()
		return nil, err
	}
	c.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "rxb_xdp_drop", Type: ebpf.XDP, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.R10, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, c.count.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "drop"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, 1).WithSymbol("drop"), // XDP_DROP
			asm.Return(),
		},
	})
	if err != nil {
		c.count.Close()
		return nil, fmt.Errorf("ceiling: load XDP_DROP program: %w", err)
	}
	err = lab.InNS(h.l.DUTNS, func() error {
		ifi, err := net.InterfaceByName(h.l.DUTIf)
		if err != nil {
			return err
		}
		c.lnk, err = link.AttachXDP(link.XDPOptions{Program: c.prog, Interface: ifi.Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		c.prog.Close()
		c.count.Close()
		return nil, fmt.Errorf("ceiling: attach native XDP: %w", err)
	}
	return c, nil
}

func (c *ceiling) Describe() string { return "XDP_DROP program, native XDP, per-CPU counter" }

func (c *ceiling) Delivered() uint64 {
	vals := make([]uint64, c.ncpu)
	if err := c.count.Lookup(uint32(0), &vals); err != nil {
		return 0
	}
	var n uint64
	for _, v := range vals {
		n += v
	}
	return n
}

func (c *ceiling) Threads() []int { return nil }

func (c *ceiling) Counters() map[string]uint64 {
	return map[string]uint64{"xdp.dropped_counted": c.Delivered()}
}

func (c *ceiling) Loss(d map[string]int64) report.Loss {
	return report.Loss{Veth: vethLoss(d, false, 0)}
}

func (c *ceiling) Finish(*report.Scenario) {}

func (c *ceiling) Close() error {
	return errors.Join(c.lnk.Close(), c.prog.Close(), c.count.Close())
}
