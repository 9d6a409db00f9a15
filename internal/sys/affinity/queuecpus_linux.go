package affinity

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// QueueCPUs picks a CPU for each rx queue of iface: the first CPU its
// interrupt is steered to, where the NIC raises it (so the poller runs
// where NAPI would), if /proc/interrupts names the queue's vector and the
// CPU is one this process may run on; otherwise round robin over the CPUs
// this process may run on. It says which it did.
func QueueCPUs(iface string, queues []int) (cpus []int, how string, err error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, "", os.NewSyscallError("sched_getaffinity", err)
	}
	var allowed []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			allowed = append(allowed, c)
		}
	}
	if len(allowed) == 0 {
		return nil, "", fmt.Errorf("no CPU to run on")
	}
	fromIRQ := func() []int {
		f, err := os.Open("/proc/interrupts")
		if err != nil {
			return nil
		}
		defer f.Close()
		irqs, err := QueueIRQs(f, iface)
		if err != nil {
			return nil
		}
		var out []int
		for _, q := range queues {
			irq, ok := irqs[q]
			if !ok {
				return nil
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/irq/%d/smp_affinity_list", irq))
			if err != nil {
				return nil
			}
			list, err := ParseCPUList(string(b))
			if err != nil || len(list) == 0 || !slices.Contains(allowed, list[0]) {
				return nil
			}
			out = append(out, list[0])
		}
		return out
	}
	if c := fromIRQ(); c != nil {
		return c, "the queues' IRQ affinity", nil
	}
	for i := range queues {
		cpus = append(cpus, allowed[i%len(allowed)])
	}
	return cpus, "round robin (no queue IRQs found for " + iface + ")", nil
}
