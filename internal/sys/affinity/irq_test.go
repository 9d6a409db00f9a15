package affinity

import (
	"slices"
	"strings"
	"testing"
)

func TestQueueIRQs(t *testing.T) {
	const interrupts = `           CPU0       CPU1
  0:         35          0   IO-APIC   2-edge      timer
 24:          0          0   PCI-MSI 524288-edge      eth0
 25:       1000          0   PCI-MSI 524289-edge      eth0-TxRx-0
 26:          0       2000   PCI-MSI 524290-edge      eth0-TxRx-1
 27:          5          5   PCI-MSI 524291-edge      eth1-tx-0
 28:          5          5   PCI-MSI 524292-edge      eth1-rx-0
 29:          5          5   PCI-MSI 524293-edge      eth10-TxRx-0
 30:          5          5   PCI-MSI 524294-edge      eth2-7
NMI:          0          0   Non-maskable interrupts
`
	for _, tc := range []struct {
		iface string
		want  map[int]int
	}{
		{"eth0", map[int]int{0: 25, 1: 26}},
		{"eth1", map[int]int{0: 28}}, // rx wins over tx
		{"eth2", map[int]int{7: 30}},
		{"eth3", map[int]int{}},
	} {
		got, err := QueueIRQs(strings.NewReader(interrupts), tc.iface)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %v, want %v", tc.iface, got, tc.want)
		}
		for q, irq := range tc.want {
			if got[q] != irq {
				t.Fatalf("%s: %v, want %v", tc.iface, got, tc.want)
			}
		}
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := ParseCPUList("0-3,8,10-11\n")
	if err != nil || !slices.Equal(got, []int{0, 1, 2, 3, 8, 10, 11}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"x", "3-1", "1-x"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}
