package pcapexpr

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// maxInsns is the kernel's BPF_MAXINSNS; tcpdump refuses longer programs too.
const maxInsns = 4096

// genInsn is an instruction whose jump targets are labels until generate
// resolves them: a conditional jump (ins nil, not ja) or an unconditional
// one (ja, to jt).
type genInsn struct {
	ins    bpf.Instruction
	ja     bool
	cond   bpf.JumpTest
	val    uint32
	jt, jf int // labels
}

type codegen struct {
	out    []genInsn
	labels []int // label -> instruction index
}

func (g *codegen) label() int {
	g.labels = append(g.labels, -1)
	return len(g.labels) - 1
}

func (g *codegen) place(l int) { g.labels[l] = len(g.out) }

// gen emits code that continues at label t when n holds and at f when it
// does not. Every jump goes forward, as classic BPF requires.
func (g *codegen) gen(n node, t, f int) {
	switch n := n.(type) {
	case andNode:
		m := g.label()
		g.gen(n.a, m, f)
		g.place(m)
		g.gen(n.b, t, f)
	case orNode:
		m := g.label()
		g.gen(n.a, t, m)
		g.place(m)
		g.gen(n.b, t, f)
	case notNode:
		g.gen(n.a, f, t)
	case testNode:
		for _, ins := range n.load {
			g.out = append(g.out, genInsn{ins: ins})
		}
		g.out = append(g.out, genInsn{cond: n.cond, val: n.val, jt: t, jf: f})
	default:
		panic(fmt.Sprintf("pcapexpr: unknown node %T", n))
	}
}

// generate turns a predicate tree into a classic BPF program ending in
// "ret #262144" (accept) and "ret #0" (reject).
func generate(root node) ([]bpf.Instruction, error) {
	g := &codegen{}
	accept, reject := g.label(), g.label()
	g.gen(root, accept, reject)
	g.place(accept)
	g.out = append(g.out, genInsn{ins: bpf.RetConstant{Val: acceptLen}})
	g.place(reject)
	g.out = append(g.out, genInsn{ins: bpf.RetConstant{Val: 0}})
	g.longJumps()
	if len(g.out) > maxInsns {
		return nil, fmt.Errorf("program of %d instructions exceeds the limit of %d", len(g.out), maxInsns)
	}
	prog := make([]bpf.Instruction, len(g.out))
	for i, gi := range g.out {
		switch {
		case gi.ins != nil:
			prog[i] = gi.ins
		case gi.ja:
			prog[i] = bpf.Jump{Skip: uint32(g.labels[gi.jt] - i - 1)}
		default:
			prog[i] = bpf.JumpIf{Cond: gi.cond, Val: gi.val,
				SkipTrue: uint8(g.labels[gi.jt] - i - 1), SkipFalse: uint8(g.labels[gi.jf] - i - 1)}
		}
	}
	return prog, nil
}

// longJumps gives every conditional jump whose target is more than 255
// instructions ahead (its offsets are 8 bits) a trampoline: an
// unconditional jump, whose offset is 32 bits, inserted right after it.
// Nothing falls through into that slot, because the instruction before it
// is the conditional jump itself, which always jumps.
func (g *codegen) longJumps() {
	for i := 0; i < len(g.out) && len(g.out) <= maxInsns; i++ {
		gi := g.out[i]
		if gi.ins != nil || gi.ja {
			continue
		}
		far := func(l int) bool { return g.labels[l]-i-1 > 255 }
		var targets []int
		if far(gi.jt) {
			targets = append(targets, gi.jt)
		}
		if far(gi.jf) && gi.jf != gi.jt {
			targets = append(targets, gi.jf)
		}
		if len(targets) == 0 {
			continue
		}
		for l, pos := range g.labels {
			if pos > i {
				g.labels[l] = pos + len(targets)
			}
		}
		tramps := make([]genInsn, len(targets))
		for k, target := range targets {
			tramps[k] = genInsn{ja: true, jt: target}
			l := g.label()
			g.labels[l] = i + 1 + k
			if gi.jt == target {
				g.out[i].jt = l
			}
			if gi.jf == target {
				g.out[i].jf = l
			}
		}
		g.out = append(g.out[:i+1], append(tramps, g.out[i+1:]...)...)
		// Earlier jumps over the insertion grew by len(targets): rescan.
		i = -1
	}
}
