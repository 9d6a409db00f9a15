package afxdp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
)

// The triage program's unit tests: crafted frames through
// BPF_PROG_TEST_RUN on this kernel's verifier and JIT. No socket is in the
// XSKMAP, so a frame the stage lets through comes back XDP_PASS (the
// redirect's fallback) and one it drops XDP_DROP: a dropped frame never
// reaches the redirect, so never a ring, a poller or the stack.

const xdpRedirectFallback = xdpPass

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	ipA  = net.IP{10, 1, 0, 1}
	ipB  = net.IP{10, 1, 0, 2}
	ipC  = net.IP{192, 0, 2, 7}
)

// loadTestTriage loads t's program with an empty XSKMAP, skipping when
// BPF is not permitted here.
func loadTestTriage(t *testing.T, tg Triage) (*triage, *ebpf.Program) {
	t.Helper()
	if err := tg.validate(); err != nil {
		t.Fatal(err)
	}
	xsks, err := ebpf.NewMap(xskMapSpec(1))
	if errors.Is(err, unix.EPERM) {
		t.Skipf("needs CAP_BPF: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { xsks.Close() })
	tr, prog, err := loadTriage(xsks, Pass, tg)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("verifier: %+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close(); tr.close() })
	return tr, prog
}

// run runs one frame through the program and returns its action.
func run(t *testing.T, prog *ebpf.Program, frame []byte) uint32 {
	t.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return ret
}

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: typ}
}

func ipv4(src, dst net.IP, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
}

func arpFrame(t *testing.T, op uint16) []byte {
	return labtest.Serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op, SourceHwAddress: macA, SourceProtAddress: ipA,
		DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: ipB})
}

func udpFrame(t *testing.T, src net.IP, sport, dport uint16) []byte {
	ip := ipv4(src, ipB, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return labtest.Serialize(t, eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload(make([]byte, 32)))
}

func tcpFrame(t *testing.T, sport uint16, seq uint32, syn, ack bool) []byte {
	ip := ipv4(ipA, ipB, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, Seq: seq, SYN: syn, ACK: ack, Window: 1024}
	tc.SetNetworkLayerForChecksum(ip)
	return labtest.Serialize(t, eth(layers.EthernetTypeIPv4), ip, tc)
}

// fragFrame is a UDP fragment: first (offset 0, MF) with the UDP header,
// or a later one at offset 8*off.
func fragFrame(t *testing.T, src net.IP, off uint16, dport uint16) []byte {
	ip := ipv4(src, ipB, layers.IPProtocolUDP)
	ip.Flags = layers.IPv4MoreFragments
	ip.FragOffset = off
	p := make([]byte, 64)
	if off == 0 {
		p[0], p[1], p[2], p[3] = 0x30, 0x39, byte(dport>>8), byte(dport)
	}
	return labtest.Serialize(t, eth(layers.EthernetTypeIPv4), ip, gopacket.Payload(p))
}

// actions runs frames and counts passes and drops.
func actions(t *testing.T, prog *ebpf.Program, frames ...[]byte) (pass, drop int) {
	t.Helper()
	for _, f := range frames {
		switch r := run(t, prog, f); r {
		case xdpRedirectFallback:
			pass++
		case xdpDrop:
			drop++
		default:
			t.Fatalf("action %d", r)
		}
	}
	return pass, drop
}

func repeat(n int, f []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func stats(t *testing.T, tr *triage) TriageStats {
	t.Helper()
	s, err := tr.stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// slow is the rate of the tests' budgets: one frame a second, so the
// budget refills by one frame only if the test stalls for a second.
const slow = 1

func TestTriageARP(t *testing.T) {
	tr, prog := loadTestTriage(t, Triage{ARP: Budget{Rate: slow, Burst: 3}})
	req, rep := arpFrame(t, layers.ARPRequest), arpFrame(t, layers.ARPReply)
	pass, drop := actions(t, prog, repeat(10, req)...)
	if pass != 3 || drop != 7 {
		t.Errorf("10 ARP requests with a burst of 3: %d passed, %d dropped", pass, drop)
	}
	if p, _ := actions(t, prog, repeat(5, rep)...); p != 5 {
		t.Errorf("ARP replies are not guarded, but %d of 5 passed", p)
	}
	s := stats(t, tr)
	if s.ARPDropped.Packets != uint64(drop) || s.ARPDropped.Bytes != uint64(drop*len(req)) {
		t.Errorf("arp_dropped %+v, want %d frames of %d bytes", s.ARPDropped, drop, len(req))
	}
	if s.Dropped() != uint64(drop) {
		t.Errorf("Dropped() = %d, want %d", s.Dropped(), drop)
	}
}

func TestTriageFragments(t *testing.T) {
	tr, prog := loadTestTriage(t, Triage{Fragments: Budget{Rate: slow, Burst: 2}})
	// Source A: its first fragment is admitted as a new source (the
	// global budget) and remembered, as the first of its own burst of 2.
	pass, drop := actions(t, prog, repeat(6, fragFrame(t, ipA, 3, 0))...)
	if pass != 2 || drop != 4 {
		t.Errorf("6 fragments from one source: %d passed, %d dropped; want 2 and 4", pass, drop)
	}
	// Source B: new, and the global budget of new sources has one left.
	if p, d := actions(t, prog, fragFrame(t, ipB, 0, 53), fragFrame(t, ipC, 5, 0)); p != 1 || d != 1 {
		t.Errorf("two new sources after one: %d passed, %d dropped; want 1 and 1", p, d)
	}
	// Whole datagrams are not fragments.
	if p, _ := actions(t, prog, repeat(5, udpFrame(t, ipA, 1, 2))...); p != 5 {
		t.Errorf("%d of 5 whole datagrams passed", p)
	}
	s := stats(t, tr)
	if s.FragmentDropped.Packets != 5 {
		t.Errorf("fragment_dropped %+v, want 5", s.FragmentDropped)
	}
}

func TestTriageSYN(t *testing.T) {
	tr, prog := loadTestTriage(t, Triage{SYN: Budget{Rate: slow, Burst: 1}, SYNMemory: 1 << 10})
	syn1, syn2, syn3 := tcpFrame(t, 1000, 1, true, false), tcpFrame(t, 1001, 7, true, false), tcpFrame(t, 1002, 9, true, false)
	if p, d := actions(t, prog, syn1, syn2, syn3); p != 1 || d != 2 {
		t.Fatalf("three new SYNs with a burst of 1: %d passed, %d dropped", p, d)
	}
	// The retransmission of a refused SYN passes, once per refusal.
	if p, _ := actions(t, prog, syn2); p != 1 {
		t.Errorf("the retransmitted SYN was dropped")
	}
	if _, d := actions(t, prog, tcpFrame(t, 1003, 11, true, false)); d != 1 {
		t.Errorf("a fourth new SYN passed")
	}
	// Established flows and handshakes' other segments always pass.
	var others [][]byte
	for i := range 20 {
		others = append(others, tcpFrame(t, 1000, uint32(i), false, true), tcpFrame(t, 1001, uint32(i), true, true))
	}
	if p, _ := actions(t, prog, others...); p != len(others) {
		t.Errorf("%d of %d ACK and SYN-ACK segments passed", p, len(others))
	}
	s := stats(t, tr)
	if s.SYNDropped.Packets != 3 || s.SYNAdmitted.Packets != 1 || s.SYNRetransmits.Packets != 1 {
		t.Errorf("syn counters: dropped %+v admitted %+v retransmits %+v; want 3, 1, 1", s.SYNDropped, s.SYNAdmitted, s.SYNRetransmits)
	}
}

// TestTriageSYNMemoryTwoChoices: refused SYNs of 100 clients, then 300
// refused SYNs of a flood, all into 1024 slots; then the clients'
// retransmissions. With one slot per SYN each client's entry survives the
// 300 later inserts with probability (1-1/1024)^300 (75%: 56-84 of 100 in
// simulation); with two candidates and the oldest (or an empty) one
// evicted, 84-100 (87 or more in 99% of random hash draws). The hash is
// fixed, so this run's count is too.
func TestTriageSYNMemoryTwoChoices(t *testing.T) {
	tr, prog := loadTestTriage(t, Triage{SYN: Budget{Rate: slow, Burst: 1}, SYNMemory: 1 << 10})
	if _, d := actions(t, prog, tcpFrame(t, 999, 1, true, false)); d != 0 {
		t.Fatal("the first SYN (the burst) was dropped")
	}
	var clients, flood [][]byte
	for i := range 100 {
		clients = append(clients, tcpFrame(t, uint16(2000+i), uint32(7*i+1), true, false))
	}
	for i := range 300 {
		flood = append(flood, tcpFrame(t, uint16(30000+i), 99, true, false))
	}
	if p, _ := actions(t, prog, clients...); p != 0 {
		t.Fatalf("%d of the clients' first SYNs passed, want 0 (budget spent)", p)
	}
	if p, _ := actions(t, prog, flood...); p != 0 {
		t.Fatalf("%d of the flood's SYNs passed, want 0", p)
	}
	passed, _ := actions(t, prog, clients...)
	t.Logf("%d of 100 clients' retransmissions passed after 300 flood SYNs into 1024 slots", passed)
	if passed < 85 {
		t.Errorf("%d of 100 retransmissions passed; two choices keep 84-100, one slot 56-84", passed)
	}
	if s := stats(t, tr); s.SYNRetransmits.Packets != uint64(passed) {
		t.Errorf("syn_retransmits_passed %d, want %d", s.SYNRetransmits.Packets, passed)
	}
}

func TestTriageClosedUDP(t *testing.T) {
	tr, prog := loadTestTriage(t, Triage{ClosedUDP: Budget{Rate: slow, Burst: 2}})
	d := &Device{triage: tr}
	if err := d.SetUDPPort(53, true); err != nil {
		t.Fatal(err)
	}
	if p, _ := actions(t, prog, repeat(10, udpFrame(t, ipA, 9, 53))...); p != 10 {
		t.Errorf("%d of 10 datagrams to an open port passed", p)
	}
	if p, dr := actions(t, prog, repeat(10, udpFrame(t, ipA, 9, 54))...); p != 2 || dr != 8 {
		t.Errorf("10 datagrams to a closed port, burst 2: %d passed, %d dropped", p, dr)
	}
	if err := d.SetUDPPort(53, false); err != nil {
		t.Fatal(err)
	}
	if _, dr := actions(t, prog, udpFrame(t, ipA, 9, 53)); dr != 1 {
		t.Errorf("port 53 closed again, but its datagram passed")
	}
	if s := stats(t, tr); s.ClosedUDPDropped.Packets != 9 {
		t.Errorf("udp_closed_dropped %+v, want 9", s.ClosedUDPDropped)
	}
}

func TestTriageRules(t *testing.T) {
	rules := []Rule{
		// drop udp dport 9001 (input: ports need the whole datagram)
		{Proto: 17, Ports: true, Whole: true, SrcPort: [2]uint16{0, 0xffff}, DstPort: [2]uint16{9001, 9001}, Queue: -1},
		// prerouting drop src 192.0.2.0/24
		{Src: netip.MustParsePrefix("192.0.2.0/24"), Queue: -1},
		// prerouting drop tcp sport 1000-1009 dst 10.1.0.2
		{Proto: 6, Ports: true, SrcPort: [2]uint16{1000, 1009}, DstPort: [2]uint16{0, 0xffff}, Dst: netip.MustParsePrefix("10.1.0.2/32"), Queue: -1},
		// drop icmp on queue 3: never matches here (queue 0)
		{Proto: 1, Queue: 3},
	}
	tr, prog := loadTestTriage(t, Triage{Rules: rules})
	cases := []struct {
		name  string
		frame []byte
		rule  int // -1: passes
	}{
		{"udp to 9001", udpFrame(t, ipA, 5, 9001), 0},
		{"udp to 9002", udpFrame(t, ipA, 5, 9002), -1},
		{"first fragment to 9001: left to the stack", fragFrame(t, ipA, 0, 9001), -1},
		{"udp from 192.0.2.7", udpFrame(t, ipC, 5, 9002), 1},
		{"fragment from 192.0.2.7", fragFrame(t, ipC, 4, 0), 1},
		{"tcp sport 1005", tcpFrame(t, 1005, 1, false, true), 2},
		{"tcp sport 1010", tcpFrame(t, 1010, 1, false, true), -1},
		{"icmp", labtest.Serialize(t, eth(layers.EthernetTypeIPv4), ipv4(ipA, ipB, layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}), -1},
	}
	want := make([]Counter, len(rules))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(t, prog, c.frame)
			if c.rule < 0 && got != xdpRedirectFallback || c.rule >= 0 && got != xdpDrop {
				t.Errorf("action %d, want rule %d", got, c.rule)
			}
		})
		if c.rule >= 0 {
			want[c.rule].Packets++
			want[c.rule].Bytes += uint64(binary.BigEndian.Uint16(c.frame[16:])) // the IPv4 total length, as the stack's filter counts
		}
	}
	s := stats(t, tr)
	for i := range rules {
		if s.Rules[i] != want[i] {
			t.Errorf("rule %d: %+v, want %+v", i, s.Rules[i], want[i])
		}
	}
	if s.RuleDropped.Packets != 4 {
		t.Errorf("rule_dropped %+v, want 4", s.RuleDropped)
	}
}

// TestTriageMalformed: frames the stage cannot parse go on to the
// redirect, where the stack counts them; none crashes the program.
func TestTriageMalformed(t *testing.T) {
	tg := DefaultTriage()
	tg.Rules = []Rule{{Proto: 17, Ports: true, SrcPort: [2]uint16{0, 0xffff}, DstPort: [2]uint16{1, 1}, Queue: -1}}
	tr, prog := loadTestTriage(t, tg)
	good := udpFrame(t, ipA, 1, 1)
	frames := [][]byte{
		make([]byte, 14),                       // ethernet only (the kernel's minimum)
		append([]byte(nil), good[:20]...),      // truncated IPv4 header
		append([]byte(nil), good[:14+20+2]...), // truncated UDP header
	}
	bad := append([]byte(nil), good...)
	bad[14] = 0x65 // version 6
	frames = append(frames, bad)
	ihl := append([]byte(nil), good...)
	ihl[14] = 0x4f // IHL 15: options beyond the frame
	frames = append(frames, ihl)
	short := append([]byte(nil), arpFrame(t, layers.ARPRequest)[:21]...)
	frames = append(frames, short)
	for i, f := range frames {
		if r := run(t, prog, f); r != xdpRedirectFallback {
			t.Errorf("malformed frame %d: action %d, want the redirect", i, r)
		}
	}
	if s := stats(t, tr); s.Dropped() != 0 {
		t.Errorf("malformed frames counted as drops: %+v", s)
	}
}

// TestTriageSamples: with SampleDrops, each drop reaches the perf buffer
// with its reason and first bytes.
func TestTriageSamples(t *testing.T) {
	tr, prog := loadTestTriage(t, Triage{ARP: Budget{Rate: slow, Burst: 1}, SampleDrops: true, SampleSnap: 32})
	req := arpFrame(t, layers.ARPRequest)
	if _, d := actions(t, prog, req, req); d != 1 {
		t.Fatalf("want one drop")
	}
	dev := &Device{triage: tr}
	s, err := dev.ReadDropSample(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Reason != "arp" || s.Length != len(req) || string(s.Data) != string(req[:32]) {
		t.Errorf("sample %q, %d bytes, data %x; want arp, %d, %x", s.Reason, s.Length, s.Data, len(req), req[:32])
	}
	if st, _, _ := dev.TriageStats(); st.Samples != 1 {
		t.Errorf("samples %d, want 1", st.Samples)
	}
}

// TestTriageValidate: configurations Open refuses before loading.
func TestTriageValidate(t *testing.T) {
	if err := (Triage{Rules: make([]Rule, MaxTriageRules+1)}).validate(); err == nil {
		t.Error("too many rules accepted")
	}
	if err := (Triage{SYN: Budget{Rate: 1}, SYNMemory: 1000}).validate(); err == nil {
		t.Error("SYNMemory 1000 accepted")
	}
	if err := (Triage{SampleDrops: true}).validate(); err == nil {
		t.Error("sampling with nothing to drop accepted")
	}
}

// TestTriageFragmentNewSources: sources not yet known spend their own
// budget, so a known source keeps its burst while new ones are refused.
func TestTriageFragmentNewSources(t *testing.T) {
	tr, prog := loadTestTriage(t, Triage{Fragments: Budget{Rate: slow, Burst: 5}, FragmentNewSources: Budget{Rate: slow, Burst: 1}})
	if p, d := actions(t, prog, repeat(7, fragFrame(t, ipA, 2, 0))...); p != 5 || d != 2 {
		t.Errorf("7 fragments from a new source, its burst 5: %d passed, %d dropped", p, d)
	}
	if _, d := actions(t, prog, fragFrame(t, ipB, 2, 0), fragFrame(t, ipC, 2, 0)); d != 2 {
		t.Errorf("new sources past the new-source budget of 1: %d of 2 dropped", d)
	}
	if s := stats(t, tr); s.FragmentDropped.Packets != 4 {
		t.Errorf("fragment_dropped %+v, want 4", s.FragmentDropped)
	}
}
