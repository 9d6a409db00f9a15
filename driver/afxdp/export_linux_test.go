package afxdp

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// RefuseTriageForTest makes the triage program call a helper XDP may not
// use (bpf_xdp_output is for tracing programs), as a kernel without one
// of the stage's helpers would refuse it, until the returned function
// restores it.
func RefuseTriageForTest() (restore func()) {
	saved := triageSpec
	triageSpec = func(xsks *ebpf.Map, unbound Action, t Triage, m triageMaps) *ebpf.ProgramSpec {
		spec := saved(xsks, unbound, t, m)
		spec.Instructions = append(asm.Instructions{asm.FnXdpOutput.Call()}, spec.Instructions...)
		return spec
	}
	return func() { triageSpec = saved }
}
