package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/bench/report"
)

func TestCatalogNames(t *testing.T) {
	want := []string{
		"ceiling", "xsk-minimal", "rxpath-raw", "rxpath-udp-handler", "rxpath-udp-readbatch", "rxpath-afpacket-udp",
		"kernel-recvmmsg", "kernel-recvmmsg-spin", "asavie",
		"xsk-minimal-512", "rxpath-udp-handler-512", "kernel-recvmmsg-512",
		"xsk-minimal-1472", "rxpath-udp-handler-1472", "kernel-recvmmsg-1472",
		"tap-devnull", "tap-file", "tcp-rxpath", "tcp-kernel", "http-rxpath", "http-kernel", "conn-memory",
		"stack-rxpath", "stack-gvisor", "stack-rxpath-tcp", "stack-gvisor-tcp",
		"memnic-raw", "memnic-udp-handler", "memnic-udp-readbatch", "memnic-tap-devnull",
	}
	if diff := cmp.Diff(want, Names()); diff != "" {
		t.Errorf("scenario names (-want +got):\n%s", diff)
	}
	for _, d := range Catalog() {
		wantProto := report.ProtoUDP
		if strings.Contains(d.Name, "tcp") || strings.HasPrefix(d.Name, "http-") || d.Name == "conn-memory" {
			wantProto = report.ProtoTCP
		}
		switch {
		case strings.HasSuffix(d.Name, "-512") && d.FrameLen != 554,
			strings.HasSuffix(d.Name, "-1472") && d.FrameLen != 1514,
			d.Proto == report.ProtoTCP && d.FrameLen != 1514: // full-size segments with timestamps
			t.Errorf("%s: frame %d bytes", d.Name, d.FrameLen)
		case d.Proto != wantProto:
			t.Errorf("%s: transport %q, want %q", d.Name, d.Proto, wantProto)
		case d.recv == recvNone && d.run == nil:
			t.Errorf("%s has no receiver", d.Name)
		case d.Description == "":
			t.Errorf("%s has no description", d.Name)
		}
	}
}

func TestSelect(t *testing.T) {
	names := func(ds []Def) []string {
		var n []string
		for _, d := range ds {
			n = append(n, d.Name)
		}
		return n
	}
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: Names()},
		{in: "all", want: Names()},
		{in: "asavie, ceiling,asavie", want: []string{"ceiling", "asavie"}},
		{in: "ceiling,nope", err: `unknown scenario "nope"`},
		{in: ",", err: "no scenario"},
	} {
		got, err := Select(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Select(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Select(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, names(got)); diff != "" {
			t.Errorf("Select(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestPreset(t *testing.T) {
	for _, m := range []string{"quick", "full", "smoke"} {
		c, err := Preset(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	q, _ := Preset("quick")
	// The live rows' warm-up plus reps, with about a second of set-up,
	// drain and counters each, and the capacity rows' (a shorter
	// warm-up, no lab), must leave room in two minutes for the
	// stack-cost rows.
	live, capRows := 0, 0
	for _, d := range Catalog() {
		switch d.Kind {
		case report.KindLive:
			live++
		case report.KindCapacity:
			capRows++
		}
	}
	perRow := q.Warmup + time.Duration(q.Reps)*q.Duration + time.Second
	perCap := min(q.Warmup, capWarmupMax) + time.Duration(q.Reps)*q.Duration + 300*time.Millisecond
	if total := time.Duration(live)*perRow + time.Duration(capRows)*perCap; total > 110*time.Second {
		t.Errorf("quick mode needs about %v for the live and capacity rows", total)
	}
	if _, err := Preset("slow"); err == nil {
		t.Error("unknown mode accepted")
	}
	bad := q
	bad.Generator = "carrier-pigeon"
	if bad.Validate() == nil {
		t.Error("bad generator accepted")
	}
}

func TestPlacement(t *testing.T) {
	for _, tc := range []struct{ q, ncpu, gen, rx int }{{0, 2, 0, 1}, {1, 2, 1, 0}, {0, 1, 0, 0}, {2, 4, 2, 3}} {
		if g, r := GenCPU(tc.q, tc.ncpu), RxCPU(tc.q, tc.ncpu); g != tc.gen || r != tc.rx {
			t.Errorf("queue %d of %d CPUs: generator %d receiver %d, want %d %d", tc.q, tc.ncpu, g, r, tc.gen, tc.rx)
		}
	}
}

func TestVethCounters(t *testing.T) {
	et := map[string]uint64{"peer_ifindex": 2, "rx_queue_0_drops": 5, "rx_queue_0_xdp_drops": 7}
	got := vethCounters(et, 12, 3)
	want := map[string]uint64{"peer_ifindex": 2, "rx_queue_0_drops": 5, "rx_queue_0_xdp_drops": 7, "link.rx_dropped": 12, "link.tx_dropped": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("vethCounters (-want +got):\n%s", diff)
	}
	if _, ok := et["link.rx_dropped"]; ok {
		t.Error("vethCounters wrote into its argument")
	}
	if got := vethCounters(nil, 1, 0); got["link.rx_dropped"] != 1 || len(got) != 2 {
		t.Errorf("vethCounters(nil, 1, 0) = %v", got)
	}
}

func TestVethLoss(t *testing.T) {
	d := map[string]int64{
		"veth.dut.link.rx_dropped":        100,
		"veth.peer.link.tx_dropped":       3,
		"veth.dut.rx_queue_0_xdp_drops":   7,
		"veth.dut.rx_queue_1_xdp_drops":   1,
		"veth.peer.rx_queue_0_xdp_drops":  50, // the peer's own: not ours
		"veth.dut.rx_queue_0_xdp_packets": 1000,
	}
	for _, tc := range []struct {
		name       string
		xdpDrops   bool
		redirected uint64
		want       uint64
	}{
		{"kernel receiver", true, 0, 111},
		{"ceiling: XDP drops are deliveries", false, 0, 103},
		{"AF_XDP: the socket's drops are not the veth's", true, 60, 51},
		{"more socket drops than veth drops", true, 500, 11},
	} {
		if got := vethLoss(d, tc.xdpDrops, tc.redirected); got != tc.want {
			t.Errorf("%s: vethLoss = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRunWithoutLab runs the rows that need no lab: the stack-cost rows,
// UDP and TCP. It needs no privilege.
func TestRunWithoutLab(t *testing.T) {
	cfg, _ := Preset("smoke")
	cfg.StackPackets = 5000
	defs, err := Select("stack-rxpath,stack-gvisor,stack-rxpath-tcp,stack-gvisor-tcp")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(t.Context(), cfg, defs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]report.Status{
		"stack-rxpath": report.StatusOK, "stack-gvisor": report.StatusOK,
		"stack-rxpath-tcp": report.StatusOK, "stack-gvisor-tcp": report.StatusOK,
	}
	got := map[string]report.Status{}
	for _, s := range r.Scenarios {
		got[s.Name] = s.Status
		if s.Status != report.StatusOK {
			t.Errorf("%s: %s", s.Name, s.Reason)
			continue
		}
		if len(s.Cost) != cfg.Reps || !s.Summary.NSPerPacket.Valid() || !s.Summary.AllocsPerPacket.Valid() || !s.Summary.CPUNSPkt.Valid() {
			t.Errorf("%s: %d cost reps, ns/pkt %+v, allocs/pkt %+v, CPU ns/pkt %+v", s.Name, len(s.Cost),
				s.Summary.NSPerPacket, s.Summary.AllocsPerPacket, s.Summary.CPUNSPkt)
		}
		if !s.Summary.VsGVisor.Valid() || !s.Summary.VsGVisorCPU.Valid() {
			t.Errorf("%s: no ratio to gVisor: %v, %v", s.Name, s.Summary.VsGVisor, s.Summary.VsGVisorCPU)
		}
		wantProto := report.ProtoUDP
		if strings.HasSuffix(s.Name, "-tcp") {
			wantProto = report.ProtoTCP
		}
		for i, c := range s.Cost {
			if s.Proto != wantProto || c.Delivered != c.Packets || c.Packets < cfg.StackPackets ||
				(wantProto == report.ProtoTCP && (c.DeliveredBytes == 0 || c.TxFrames == 0)) {
				t.Errorf("%s (%s) rep %d: %+v", s.Name, s.Proto, i, c)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if len(r.Goals) != 21 {
		t.Errorf("%d goals reported, want all 21", len(r.Goals))
	}
	for _, g := range r.Goals {
		switch {
		case (g.ID == "stack-vs-gvisor" || g.ID == "stack-vs-gvisor-tcp") && !g.Value.Valid():
			t.Errorf("goal %s has no value: %s", g.ID, g.Detail)
		case g.ID == "raw-vs-xsk-minimal" && g.Status != report.GoalNotRun:
			t.Errorf("goal %s without its rows: %s, want not-run", g.ID, g.Status)
		}
	}
}
