package traffic

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/sys/procs"
)

// Generator holds the loaded program and its counter.
type Generator struct {
	prog    *ebpf.Program
	counter *ebpf.Map
	frame   []byte
	opts    Options
}

// New loads the generator program for o. Call it on a thread in the
// namespace of o.Ifindex.
func New(o Options) (*Generator, error) {
	frame, err := Frame(o)
	if err != nil {
		return nil, err
	}
	counter, err := ebpf.NewMap(&ebpf.MapSpec{Name: "rxgen_seq", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("create counter map: %w", err)
	}
	if err := counter.Put(uint32(0), o.FirstSeq); err != nil {
		counter.Close()
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "rxgen",
		Type:         ebpf.XDP,
		License:      "Dual BSD/GPL",
		Instructions: program(counter.FD(), o),
	})
	if err != nil {
		counter.Close()
		return nil, fmt.Errorf("load generator program: %w", err)
	}
	return &Generator{prog: prog, counter: counter, frame: frame, opts: o}, nil
}

// program is the generator: bump the counter, stamp its old value as the
// sequence number (and the flow's source port), redirect out of o.Ifindex.
func program(counterFD int, o Options) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, xdpMDLo, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, xdpMDHi, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, minLen),
		asm.JGT.Reg(asm.R2, asm.R8, "redirect"),
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, counterFD),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "redirect"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.Add.Imm(asm.R2, 1),
		asm.StoreMem(asm.R0, 0, asm.R2, asm.DWord),
	}
	if o.Flows > 1 {
		// port = Src.Port() + seq % Flows, big-endian.
		insns = append(insns,
			asm.Mov.Reg(asm.R3, asm.R1),
			asm.Mod.Imm(asm.R3, int32(o.Flows)),
			asm.Add.Imm(asm.R3, int32(o.Src.Port())),
			asm.HostTo(asm.BE, asm.R3, asm.Half),
			asm.StoreMem(asm.R7, portOff, asm.R3, asm.Half),
		)
	}
	return append(insns,
		asm.HostTo(asm.BE, asm.R1, asm.DWord),
		asm.StoreMem(asm.R7, seqOff, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R1, int32(o.Ifindex)).WithSymbol("redirect"),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
	)
}

var _ Sender = (*Generator)(nil)

// Kind returns "xdp-live-frames".
func (g *Generator) Kind() string { return "xdp-live-frames" }

// Next returns the sequence number the next frame will carry.
func (g *Generator) Next() (uint64, error) {
	var v uint64
	err := g.counter.Lookup(uint32(0), &v)
	return v, err
}

// Run sends until o.Count frames or o.Duration have passed. It runs on the
// calling thread (pin it to choose the sending CPU).
func (g *Generator) Run() (Result, error) { return g.Send(g.opts.Count, g.opts.Duration) }

// Send sends until count frames or d have passed (see Sender). It runs on
// the calling thread.
func (g *Generator) Send(count uint64, d time.Duration) (Result, error) {
	if count == 0 && d <= 0 {
		return Result{}, errors.New("generator needs a count or a duration")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer procs.Reserve()() // a spinning sender: the program keeps its Ps
	first, err := g.Next()
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	var deadline time.Time
	if d > 0 {
		deadline = start.Add(d)
	}
	sent := uint64(0)
	for {
		n := uint64(chunk)
		if count > 0 {
			if sent >= count {
				break
			}
			n = min(n, count-sent)
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			// Keep a chunk short enough not to overshoot a short run
			// by much: about 1.5 Mpps, rounded to batches.
			n = min(n, max(64, uint64(left.Seconds()*1.5e6)&^63))
		}
		_, err := g.prog.Run(&ebpf.RunOptions{Data: g.frame, Repeat: uint32(n), Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES, BatchSize: 64})
		if err != nil {
			return Result{}, fmt.Errorf("BPF_PROG_RUN live frames: %w", err)
		}
		next, err := g.Next()
		if err != nil {
			return Result{}, err
		}
		sent = next - first
	}
	return Result{Sent: sent, Elapsed: time.Since(start)}, nil
}

// Close frees the program and map.
func (g *Generator) Close() error {
	return errors.Join(g.prog.Close(), g.counter.Close())
}

// rewind makes the next frame carry seq.
func (g *Generator) rewind(seq uint64) error { return g.counter.Put(uint32(0), seq) }
