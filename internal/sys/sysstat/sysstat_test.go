package sysstat

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const stat0 = `cpu  100 0 50 1000 5 0 30 0 0 0
cpu0 60 0 30 500 2 0 20 0 0 0
cpu1 40 0 20 500 3 0 10 0 0 0
intr 12345 0 0
ctxt 999
softirq 1 2 3
`

const stat1 = `cpu  200 0 80 1100 5 0 75 7 0 0
cpu0 110 0 45 540 2 0 60 0 0 0
cpu1 90 0 35 560 3 0 15 7 0 0
`

func TestParseStat(t *testing.T) {
	st, err := ParseStat(strings.NewReader(stat0))
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{
		Total: CPUTimes{CPU: -1, User: 100, System: 50, Idle: 1000, IOWait: 5, SoftIRQ: 30},
		CPUs: []CPUTimes{
			{CPU: 0, User: 60, System: 30, Idle: 500, IOWait: 2, SoftIRQ: 20},
			{CPU: 1, User: 40, System: 20, Idle: 500, IOWait: 3, SoftIRQ: 10},
		},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("ParseStat (-want +got):\n%s", diff)
	}
}

func TestParseStatErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no cpu line": "intr 1\n",
		"short line":  "cpu 1 2 3\n",
		"bad number":  "cpu 1 2 x 4 5\n",
		"bad cpu":     "cpu 1 2 3 4\ncpuX 1 2 3 4\n",
	} {
		if _, err := ParseStat(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Old kernels print only user..idle: the rest reads as zero.
	st, err := ParseStat(strings.NewReader("cpu 1 2 3 4\ncpu0 1 2 3 4\n"))
	if err != nil || st.CPUs[0].Idle != 4 || st.CPUs[0].SoftIRQ != 0 {
		t.Errorf("short kernel format: %+v, %v", st, err)
	}
}

func TestSoftIRQDelta(t *testing.T) {
	a, _ := ParseStat(strings.NewReader(stat0))
	b, _ := ParseStat(strings.NewReader(stat1))
	per, total := SoftIRQDelta(a, b)
	if diff := cmp.Diff([]time.Duration{400 * time.Millisecond, 50 * time.Millisecond}, per); diff != "" {
		t.Errorf("per CPU (-want +got):\n%s", diff)
	}
	if total != 450*time.Millisecond {
		t.Errorf("total = %v", total)
	}
	// A counter that went backwards (a CPU taken offline and back)
	// counts as zero; a CPU missing from b is left out.
	per, total = SoftIRQDelta(b, Stat{CPUs: []CPUTimes{{CPU: 0, SoftIRQ: 10}}})
	if len(per) != 1 || per[0] != 0 || total != 0 {
		t.Errorf("backwards: %v %v", per, total)
	}
}

func TestStealDelta(t *testing.T) {
	a, _ := ParseStat(strings.NewReader(stat0))
	b, _ := ParseStat(strings.NewReader(stat1))
	per, total := StealDelta(a, b)
	if diff := cmp.Diff([]time.Duration{0, 70 * time.Millisecond}, per); diff != "" {
		t.Errorf("per CPU (-want +got):\n%s", diff)
	}
	if total != 70*time.Millisecond {
		t.Errorf("total = %v", total)
	}
}

func TestParseEthtool(t *testing.T) {
	in := `NIC statistics:
     peer_ifindex: 2
     rx_queue_0_xdp_packets: 884800
     rx_queue_0_drops: 7
     garbage line
     weird: value
`
	got, err := ParseEthtool(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"peer_ifindex": 2, "rx_queue_0_xdp_packets": 884800, "rx_queue_0_drops": 7}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseEthtool (-want +got):\n%s", diff)
	}
}

func TestParseSNMP(t *testing.T) {
	in := `Ip: Forwarding DefaultTTL InReceives InAddrErrors
Ip: 2 64 884800 884800
Tcp: RtoAlgorithm MaxConn
Tcp: 1 -1
Udp: InDatagrams NoPorts InErrors RcvbufErrors
Udp: 10 1 3 2
`
	got, err := ParseSNMP(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := SNMP{
		"Ip":  {"Forwarding": 2, "DefaultTTL": 64, "InReceives": 884800, "InAddrErrors": 884800},
		"Tcp": {"RtoAlgorithm": 1},
		"Udp": {"InDatagrams": 10, "NoPorts": 1, "InErrors": 3, "RcvbufErrors": 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseSNMP (-want +got):\n%s", diff)
	}
}

func TestDelta(t *testing.T) {
	got := Delta(map[string]uint64{"a": 5, "b": 10}, map[string]uint64{"a": 7, "b": 4, "c": 3})
	if diff := cmp.Diff(map[string]int64{"a": 2, "b": -6, "c": 3}, got); diff != "" {
		t.Errorf("Delta (-want +got):\n%s", diff)
	}
}

func TestParseSchedstat(t *testing.T) {
	s, err := ParseSchedstat("542239 82403 17\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Sched{Run: 542239, Wait: 82403, Slices: 17}); s != want {
		t.Fatalf("ParseSchedstat = %+v, want %+v", s, want)
	}
	for _, bad := range []string{"", "1 2", "1 2 3 4", "1 x 3", "-1 2 3"} {
		if _, err := ParseSchedstat(bad); err == nil {
			t.Errorf("ParseSchedstat(%q): no error", bad)
		}
	}
}
