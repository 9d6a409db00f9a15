package afxdp

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// triageMaps are the maps the triage program uses besides the XSKMAP.
// A nil map is a guard that is off.
type triageMaps struct {
	counts  *ebpf.Map // PERCPU_ARRAY of Counter: reasons, then rules
	buckets *ebpf.Map // ARRAY of u64: each global budget's clock
	synMem  *ebpf.Map // ARRAY of u32: fingerprints of refused SYNs
	fragSrc *ebpf.Map // LRU_HASH u32 source → u64 clock
	udp     *ebpf.Map // ARRAY of u32 by port: nonzero when open
	samples *ebpf.Map // PERF_EVENT_ARRAY, when sampling
}

// Keys of the global budgets in the buckets map.
const (
	bucketSYN = iota
	bucketARP
	bucketFragNew
	bucketUDP
	numBuckets
)

// Stack slots of the triage program (offsets from R10).
const (
	slotKey    = -8  // u32 map key
	slotNow    = -16 // u64 bpf_ktime_get_ns
	slotVal    = -24 // u64 value for an update, or a fingerprint
	slotSrc    = -32 // u32 source address, as in the packet (LRU key)
	slotProto  = -36 // u32
	slotSaddr  = -40 // u32, host order
	slotDaddr  = -44 // u32, host order
	slotSport  = -48 // u32, host order
	slotDport  = -52 // u32, host order
	slotFlags  = -56 // u32: flagPorts, flagWhole
	slotIPLen  = -60 // u32: IPv4 total length
	slotQueue  = -64 // u32: rx queue
	slotLen    = -72 // u64: bytes to count
	slotSample = -80 // 8 bytes: sample header (reason, frame length)
	slotKey2   = -84 // u32 second map key (the SYN memory's second slot)
	slotEpoch  = -88 // u32: the SYN memory's epoch now
	slotPtr    = -96 // u64: a map value pointer kept across a call
)

// synEpochShift makes the SYN memory's epochs of 2^28 ns (268 ms): 256 of
// them (69 s) before the 8-bit epoch wraps.
const synEpochShift = 28

const (
	flagPorts = 1 // the packet's ports were read (first fragment or whole)
	flagWhole = 2 // not a fragment
)

const (
	ethPArp  = 0x0608 // ETH_P_ARP as a little-endian load of the wire bytes
	ethPIPv4 = 0x0008
	// bpfFCurrentCPU is BPF_F_CURRENT_CPU.
	bpfFCurrentCPU = 0xffffffff
	// Multipliers of the SYN fingerprint hash (splitmix64's).
	hashK1 = 0x9e3779b97f4a7c15
	hashK2 = 0xbf58476d1ce4e5b9
	hashK3 = 0x94d049bb133111eb
)

// progBuilder emits the triage program with unique labels.
type progBuilder struct {
	ins    asm.Instructions
	labels int
	t      Triage
	m      triageMaps
}

func (b *progBuilder) emit(ins ...asm.Instruction) { b.ins = append(b.ins, ins...) }

func (b *progBuilder) label(name string) string {
	b.labels++
	return fmt.Sprintf("%s_%d", name, b.labels)
}

// lookup emits bpf_map_lookup_elem(m, R10+keySlot): R0 is the value or
// NULL.
func (b *progBuilder) lookup(m *ebpf.Map, keySlot int32) {
	b.emit(
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, keySlot),
		asm.FnMapLookupElem.Call(),
	)
}

// mark puts a label on the next instruction: a no-op jump target.
func (b *progBuilder) mark(label string) {
	b.emit(asm.Mov.Reg(asm.R6, asm.R6).WithSymbol(label))
}

// count adds one packet and the u64 at slotLen bytes to counter idx.
func (b *progBuilder) count(idx int) {
	skip := b.label("count_skip")
	b.emit(
		asm.StoreImm(asm.R10, slotKey, int64(idx), asm.Word),
	)
	b.lookup(b.m.counts, slotKey)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, slotLen, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
	)
	b.mark(skip)
}

// frameLen stores the frame's length in slotLen.
func (b *progBuilder) frameLen() {
	b.emit(
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Sub.Reg(asm.R1, asm.R7),
		asm.StoreMem(asm.R10, slotLen, asm.R1, asm.DWord),
	)
}

// now stores bpf_ktime_get_ns in slotNow.
func (b *progBuilder) now() {
	b.emit(
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R10, slotNow, asm.R0, asm.DWord),
	)
}

// gcra runs budget bg on the u64 clock R0 points to (not NULL): over
// budget jumps to drop, else it advances the clock and falls through.
// slotNow must hold the time.
func (b *progBuilder) gcra(bg Budget, drop string) {
	late := b.label("gcra_late")
	b.emit(
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, slotNow, asm.DWord),
		asm.JGE.Reg(asm.R1, asm.R2, late),
		asm.Mov.Reg(asm.R1, asm.R2),
		asm.Mov.Reg(asm.R3, asm.R1).WithSymbol(late),
		asm.Sub.Reg(asm.R3, asm.R2),
		asm.LoadImm(asm.R4, int64(bg.tau()), asm.DWord),
		asm.JGT.Reg(asm.R3, asm.R4, drop),
		asm.LoadImm(asm.R4, int64(bg.interval()), asm.DWord),
		asm.Add.Reg(asm.R1, asm.R4),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	)
}

// bucket runs the global budget bg kept at key: over budget jumps to
// drop, else falls through.
func (b *progBuilder) bucket(key int, bg Budget, drop string) {
	pass := b.label("bucket_pass")
	b.now()
	b.emit(
		asm.StoreImm(asm.R10, slotKey, int64(key), asm.Word),
	)
	b.lookup(b.m.buckets, slotKey)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, pass),
	)
	b.gcra(bg, drop)
	b.mark(pass)
}

// dropTail counts reason (slotLen must hold the bytes), samples the frame
// if asked, and returns XDP_DROP.
func (b *progBuilder) dropTail(label string, reason int, counter int) {
	b.mark(label)
	b.count(counter)
	if b.m.samples != nil {
		done := b.label("sample_done")
		b.emit(
			asm.StoreImm(asm.R10, slotSample, int64(reason), asm.Word),
			asm.Mov.Reg(asm.R3, asm.R8),
			asm.Sub.Reg(asm.R3, asm.R7),
			asm.StoreMem(asm.R10, slotSample+4, asm.R3, asm.Word),
			asm.JLE.Imm(asm.R3, int32(b.t.SampleSnap), done+"_len"),
			asm.Mov.Imm(asm.R3, int32(b.t.SampleSnap)),
			asm.LSh.Imm(asm.R3, 32).WithSymbol(done+"_len"),
			asm.LoadImm(asm.R4, bpfFCurrentCPU, asm.DWord),
			asm.Or.Reg(asm.R3, asm.R4),
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, b.m.samples.FD()),
			asm.Mov.Reg(asm.R4, asm.R10),
			asm.Add.Imm(asm.R4, slotSample),
			asm.Mov.Imm(asm.R5, 8),
			asm.FnPerfEventOutput.Call(), // bpf_xdp_event_output in XDP: copies the frame,
		)
		b.mark(done)
	}
	b.emit(
		asm.Mov.Imm(asm.R0, xdpDrop),
		asm.Return(),
	)
}

// triageProgramSpec returns the XDP program with the triage stage in
// front of the redirect:
//
//	eth → ARP request?     ARP budget              (drop: arp)
//	IPv4 → rules, in order                         (drop: rule i)
//	     → fragment?       per-source budget       (drop: fragment)
//	     → TCP SYN?        SYN budget, retransmits (drop: syn)
//	     → UDP, port shut? closed-port budget      (drop: udp_closed)
//	→ bpf_redirect_map(&xsks, ctx->rx_queue_index, fallback)
//
// Frames it cannot parse (too short, not IPv4, options it does not need)
// go on to the redirect: the stack counts what is malformed. Registers:
// R6 the context, R7 data, R8 data_end, R9 the IPv4 header.
func triageProgramSpec(xsks *ebpf.Map, unbound Action, t Triage, m triageMaps) *ebpf.ProgramSpec {
	t = t.withDefaults()
	b := &progBuilder{t: t, m: m}
	fallback := int32(xdpPass)
	if unbound == Drop {
		fallback = xdpDrop
	}
	const redirect = "redirect"
	b.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R7),
		asm.Add.Imm(asm.R2, 14),
		asm.JGT.Reg(asm.R2, asm.R8, redirect),
		asm.LoadMem(asm.R2, asm.R7, 12, asm.Half),
	)
	if t.ARP.on() {
		b.emit(asm.JEq.Imm(asm.R2, ethPArp, "arp"))
	}
	b.emit(
		asm.JNE.Imm(asm.R2, ethPIPv4, redirect),
		// The IPv4 header: version 4, IHL at least 5.
		asm.Mov.Reg(asm.R9, asm.R7),
		asm.Add.Imm(asm.R9, 14),
		asm.Mov.Reg(asm.R2, asm.R9),
		asm.Add.Imm(asm.R2, 20),
		asm.JGT.Reg(asm.R2, asm.R8, redirect),
		asm.LoadMem(asm.R3, asm.R9, 0, asm.Byte),
		asm.Mov.Reg(asm.R4, asm.R3),
		asm.And.Imm(asm.R4, 0xf0),
		asm.JNE.Imm(asm.R4, 0x40, redirect),
		asm.And.Imm(asm.R3, 0x0f),
		asm.JLT.Imm(asm.R3, 5, redirect),
		// Fields the rules and guards compare, in host order.
		asm.LoadMem(asm.R1, asm.R9, 9, asm.Byte),
		asm.StoreMem(asm.R10, slotProto, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R9, 12, asm.Word),
		asm.StoreMem(asm.R10, slotSrc, asm.R1, asm.Word),
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.StoreMem(asm.R10, slotSaddr, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R9, 16, asm.Word),
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.StoreMem(asm.R10, slotDaddr, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R9, 2, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.R10, slotIPLen, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R6, xdpMDRxQueueIndex, asm.Word),
		asm.StoreMem(asm.R10, slotQueue, asm.R1, asm.Word),
		asm.StoreImm(asm.R10, slotFlags, 0, asm.Word),
		asm.StoreImm(asm.R10, slotSport, 0, asm.Word),
		asm.StoreImm(asm.R10, slotDport, 0, asm.Word),
		// Fragment offset and flags: whole, first or later fragment.
		asm.LoadMem(asm.R1, asm.R9, 6, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, 0x3fff),
		asm.JNE.Imm(asm.R2, 0, "not_whole"),
		asm.StoreImm(asm.R10, slotFlags, flagWhole, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R1).WithSymbol("not_whole"),
		asm.And.Imm(asm.R2, 0x1fff),
		asm.JNE.Imm(asm.R2, 0, "ports_done"),
		// Ports, for TCP and UDP with 4 bytes of header in the frame.
		asm.LoadMem(asm.R1, asm.R10, slotProto, asm.Word),
		asm.JEq.Imm(asm.R1, 6, "ports"),
		asm.JNE.Imm(asm.R1, 17, "ports_done"),
		asm.LoadMem(asm.R3, asm.R9, 0, asm.Byte).WithSymbol("ports"),
		asm.And.Imm(asm.R3, 0x0f),
		asm.LSh.Imm(asm.R3, 2),
		asm.Mov.Reg(asm.R5, asm.R9),
		asm.Add.Reg(asm.R5, asm.R3),
		asm.Mov.Reg(asm.R2, asm.R5),
		asm.Add.Imm(asm.R2, 4),
		asm.JGT.Reg(asm.R2, asm.R8, "ports_done"),
		asm.LoadMem(asm.R1, asm.R5, 0, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.R10, slotSport, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R5, 2, asm.Half),
		asm.HostTo(asm.BE, asm.R1, asm.Half),
		asm.StoreMem(asm.R10, slotDport, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, asm.R10, slotFlags, asm.Word),
		asm.Or.Imm(asm.R1, flagPorts),
		asm.StoreMem(asm.R10, slotFlags, asm.R1, asm.Word),
	)
	b.mark("ports_done")

	// Rules, in order: the first that matches drops.
	for i, r := range t.Rules {
		b.rule(i, r)
	}

	if t.Fragments.on() {
		b.fragments()
	}
	if t.SYN.on() {
		b.syn()
	}
	if t.ClosedUDP.on() {
		b.closedUDP()
	}

	b.emit(
		asm.LoadMem(asm.R2, asm.R6, xdpMDRxQueueIndex, asm.Word).WithSymbol(redirect),
		asm.LoadMapPtr(asm.R1, xsks.FD()),
		asm.Mov.Imm(asm.R3, fallback),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	)

	if t.ARP.on() {
		// An ARP request (operation 1), 8 bytes of header in the frame.
		b.emit(
			asm.Mov.Reg(asm.R2, asm.R7).WithSymbol("arp"),
			asm.Add.Imm(asm.R2, 22),
			asm.JGT.Reg(asm.R2, asm.R8, redirect),
			asm.LoadMem(asm.R2, asm.R7, 20, asm.Half),
			asm.JNE.Imm(asm.R2, 0x0100, redirect),
		)
		b.frameLen()
		b.bucket(bucketARP, t.ARP, "drop_arp")
		b.emit(asm.Ja.Label(redirect))
		b.dropTail("drop_arp", reasonARP, reasonARP)
	}
	for i := range t.Rules {
		b.emit(asm.LoadMem(asm.R1, asm.R10, slotIPLen, asm.Word).WithSymbol(fmt.Sprintf("drop_rule_%d", i)),
			asm.StoreMem(asm.R10, slotLen, asm.R1, asm.DWord))
		b.count(numCounts + i)
		b.frameLen()
		b.dropTail(fmt.Sprintf("drop_rule_%d_tail", i), reasonRule, reasonRule)
	}
	if t.Fragments.on() {
		b.dropTail("drop_fragment", reasonFragment, reasonFragment)
	}
	if t.SYN.on() {
		b.dropTail("drop_syn", reasonSYN, reasonSYN)
	}
	if t.ClosedUDP.on() {
		b.dropTail("drop_udp", reasonClosedUDP, reasonClosedUDP)
	}
	return &ebpf.ProgramSpec{
		Name:         "rxpath_triage",
		Type:         ebpf.XDP,
		License:      "Dual BSD/GPL",
		Instructions: b.ins,
	}
}

// rule emits rule i: each clause jumps to the next rule when it fails.
func (b *progBuilder) rule(i int, r Rule) {
	next := b.label("rule_next")
	cmp32 := func(slot int16, and uint32, want uint32) {
		b.emit(asm.LoadMem(asm.R1, asm.R10, slot, asm.Word))
		if and != 0xffffffff {
			b.emit(asm.And.Imm32(asm.R1, int32(and)))
		}
		b.emit(asm.JNE.Imm32(asm.R1, int32(want), next))
	}
	if r.Proto != 0 {
		cmp32(slotProto, 0xffffffff, uint32(r.Proto))
	}
	for _, c := range []struct {
		p    [4]byte
		bits int
		slot int16
	}{{prefixBytes(r.Src), r.Src.Bits(), slotSaddr}, {prefixBytes(r.Dst), r.Dst.Bits(), slotDaddr}} {
		if c.bits <= 0 {
			continue
		}
		mask := ^uint32(0) << (32 - c.bits)
		cmp32(c.slot, mask, binary.BigEndian.Uint32(c.p[:])&mask)
	}
	if r.Queue >= 0 {
		cmp32(slotQueue, 0xffffffff, uint32(r.Queue))
	}
	if r.Ports {
		need := uint32(flagPorts)
		if r.Whole {
			need |= flagWhole
		}
		cmp32(slotFlags, need, need)
		for _, c := range []struct {
			rg   [2]uint16
			slot int16
		}{{r.SrcPort, slotSport}, {r.DstPort, slotDport}} {
			if c.rg == [2]uint16{0, 0xffff} {
				continue
			}
			b.emit(
				asm.LoadMem(asm.R1, asm.R10, c.slot, asm.Word),
				asm.JLT.Imm(asm.R1, int32(c.rg[0]), next),
				asm.JGT.Imm(asm.R1, int32(c.rg[1]), next),
			)
		}
	}
	b.emit(asm.Ja.Label(fmt.Sprintf("drop_rule_%d", i)))
	b.mark(next)
}

// imm64 reinterprets a 64-bit constant for asm.LoadImm.
func imm64(u uint64) int64 { return int64(u) }

func prefixBytes(p netip.Prefix) [4]byte {
	if !p.IsValid() {
		return [4]byte{}
	}
	return p.Masked().Addr().As4()
}

// fragments emits the fragment guard: a known source spends its own
// budget; an unknown one is admitted through the global budget and
// remembered.
func (b *progBuilder) fragments() {
	skip, known := b.label("frag_skip"), b.label("frag_known")
	bg := b.t.Fragments
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, slotFlags, asm.Word),
		asm.JSet.Imm(asm.R1, flagWhole, skip),
	)
	b.frameLen()
	b.now()
	b.lookup(b.m.fragSrc, slotSrc)
	b.emit(
		asm.JNE.Imm(asm.R0, 0, known),
	)
	b.bucket(bucketFragNew, b.t.FragmentNewSources, "drop_fragment")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, slotNow, asm.DWord),
		asm.LoadImm(asm.R2, int64(bg.interval()), asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R10, slotVal, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, b.m.fragSrc.FD()),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, slotSrc),
		asm.Mov.Reg(asm.R3, asm.R10),
		asm.Add.Imm(asm.R3, slotVal),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Ja.Label("redirect"),
	)
	b.mark(known)
	b.gcra(bg, "drop_fragment")
	b.emit(asm.Ja.Label("redirect"))
	b.mark(skip)
}

// syn emits SYN admission for whole TCP segments with SYN set and ACK
// clear: a retransmission of a remembered SYN passes; a new SYN spends the
// SYN budget and, refused, is remembered and dropped.
//
// The memory is a table of u32 entries, a 24-bit fingerprint over an
// 8-bit epoch (synEpochShift ns units). A SYN has two candidate slots
// from two hashes of its fingerprint: a retransmission is found in
// either, and a new SYN takes an empty candidate, else the one written
// the longest ago. So a flood evicts the entry of a refused client's SYN
// only when both of its slots come up in one insert whose other candidate
// is newer: at k inserts into n slots during the client's RTO that is
// about (k/n)² of clients, where one slot per SYN (the table before)
// evicted about k/n of them; at 190 000 SYN/s and 2²¹ slots, about 0.8%
// instead of 8.7% waited for a second retransmission (3 s).
func (b *progBuilder) syn() {
	skip, retrans := b.label("syn_skip"), b.label("syn_retrans")
	found2, use1, write := b.label("syn_found2"), b.label("syn_use1"), b.label("syn_write")
	shift := 64 - bits.TrailingZeros32(b.t.SYNMemory)
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, slotProto, asm.Word),
		asm.JNE.Imm(asm.R1, 6, skip),
		asm.LoadMem(asm.R1, asm.R10, slotFlags, asm.Word),
		asm.JSet.Imm(asm.R1, flagWhole, skip+"_whole"),
		asm.Ja.Label(skip),
		// The TCP header up to its flags.
		asm.LoadMem(asm.R3, asm.R9, 0, asm.Byte).WithSymbol(skip+"_whole"),
		asm.And.Imm(asm.R3, 0x0f),
		asm.LSh.Imm(asm.R3, 2),
		asm.Mov.Reg(asm.R5, asm.R9),
		asm.Add.Reg(asm.R5, asm.R3),
		asm.Mov.Reg(asm.R2, asm.R5),
		asm.Add.Imm(asm.R2, 14),
		asm.JGT.Reg(asm.R2, asm.R8, skip),
		asm.LoadMem(asm.R1, asm.R5, 13, asm.Byte),
		asm.And.Imm(asm.R1, 0x12),
		asm.JNE.Imm(asm.R1, 0x02, skip),
		// Fingerprint of addresses, ports and sequence number.
		asm.LoadMem(asm.R1, asm.R9, 12, asm.Word),
		asm.LoadMem(asm.R2, asm.R9, 16, asm.Word),
		asm.LSh.Imm(asm.R2, 32),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.LoadMem(asm.R3, asm.R5, 0, asm.Word),
		asm.LoadMem(asm.R4, asm.R5, 4, asm.Word),
		asm.LSh.Imm(asm.R4, 32),
		asm.Or.Reg(asm.R3, asm.R4),
		asm.LoadImm(asm.R2, imm64(hashK1), asm.DWord),
		asm.Mul.Reg(asm.R1, asm.R2),
		asm.LoadImm(asm.R4, imm64(hashK2), asm.DWord),
		asm.Mul.Reg(asm.R3, asm.R4),
		asm.Xor.Reg(asm.R1, asm.R3),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.RSh.Imm(asm.R3, 29),
		asm.Xor.Reg(asm.R1, asm.R3),
		asm.LoadImm(asm.R2, imm64(hashK3), asm.DWord),
		asm.Mul.Reg(asm.R1, asm.R2),
		// The entry without its epoch: bits 8-31 of the hash, bit 8
		// set so that an entry is never 0 (an empty slot).
		asm.Mov.Reg(asm.R2, asm.R1),
		asm.And.Imm(asm.R2, -256),
		asm.Or.Imm(asm.R2, 0x100),
		asm.StoreMem(asm.R10, slotVal, asm.R2, asm.Word),
		// The first slot from the hash's top bits, the second from
		// the top bits of the hash mixed once more.
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.RSh.Imm(asm.R3, int32(shift)),
		asm.StoreMem(asm.R10, slotKey, asm.R3, asm.Word),
		asm.LoadImm(asm.R2, imm64(hashK1), asm.DWord),
		asm.Mul.Reg(asm.R1, asm.R2),
		asm.RSh.Imm(asm.R1, int32(shift)),
		asm.StoreMem(asm.R10, slotKey2, asm.R1, asm.Word),
		asm.FnKtimeGetNs.Call(),
		asm.RSh.Imm(asm.R0, synEpochShift),
		asm.And.Imm(asm.R0, 0xff),
		asm.StoreMem(asm.R10, slotEpoch, asm.R0, asm.Word),
	)
	b.lookup(b.m.synMem, slotKey)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.StoreMem(asm.R10, slotPtr, asm.R0, asm.DWord),
	)
	b.lookup(b.m.synMem, slotKey2)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, skip),
		// R3 the first slot, R0 the second; R4 and R5 their entries.
		asm.LoadMem(asm.R3, asm.R10, slotPtr, asm.DWord),
		asm.LoadMem(asm.R4, asm.R3, 0, asm.Word),
		asm.LoadMem(asm.R5, asm.R0, 0, asm.Word),
		asm.LoadMem(asm.R1, asm.R10, slotVal, asm.Word),
		asm.RSh.Imm32(asm.R1, 8),
		asm.Mov.Reg(asm.R2, asm.R4),
		asm.RSh.Imm32(asm.R2, 8),
		asm.JNE.Reg32(asm.R1, asm.R2, found2),
		asm.Mov.Reg(asm.R0, asm.R3),
		asm.Ja.Label(retrans),
		asm.Mov.Reg(asm.R2, asm.R5).WithSymbol(found2),
		asm.RSh.Imm32(asm.R2, 8),
		asm.JEq.Reg32(asm.R1, asm.R2, retrans),
		// A new SYN: remember it in an empty candidate, else in the
		// one written the longest ago (ages mod 256 epochs), then
		// spend the budget.
		asm.JEq.Imm32(asm.R4, 0, use1),
		asm.JEq.Imm32(asm.R5, 0, write),
		asm.LoadMem(asm.R2, asm.R10, slotEpoch, asm.Word),
		asm.And.Imm(asm.R4, 0xff),
		asm.Mov.Reg(asm.R1, asm.R2),
		asm.Sub.Reg(asm.R1, asm.R4),
		asm.And.Imm(asm.R1, 0xff),
		asm.And.Imm(asm.R5, 0xff),
		asm.Sub.Reg(asm.R2, asm.R5),
		asm.And.Imm(asm.R2, 0xff),
		asm.JGE.Reg(asm.R1, asm.R2, use1),
		asm.Ja.Label(write),
		asm.Mov.Reg(asm.R0, asm.R3).WithSymbol(use1),
		asm.LoadMem(asm.R1, asm.R10, slotVal, asm.Word).WithSymbol(write),
		asm.LoadMem(asm.R2, asm.R10, slotEpoch, asm.Word),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.Word),
	)
	b.frameLen()
	b.bucket(bucketSYN, b.t.SYN, "drop_syn")
	b.count(countSYNAdmitted)
	b.emit(asm.Ja.Label("redirect"))
	b.mark(retrans)
	b.emit(asm.StoreImm(asm.R0, 0, 0, asm.Word))
	b.frameLen()
	b.count(countSYNRetransmit)
	b.emit(asm.Ja.Label("redirect"))
	b.mark(skip)
}

// closedUDP emits the closed-port guard for whole UDP datagrams.
func (b *progBuilder) closedUDP() {
	skip := b.label("udp_skip")
	b.emit(
		asm.LoadMem(asm.R1, asm.R10, slotProto, asm.Word),
		asm.JNE.Imm(asm.R1, 17, skip),
		asm.LoadMem(asm.R1, asm.R10, slotFlags, asm.Word),
		asm.And.Imm(asm.R1, flagPorts|flagWhole),
		asm.JNE.Imm(asm.R1, flagPorts|flagWhole, skip),
		asm.LoadMem(asm.R1, asm.R10, slotDport, asm.Word),
		asm.StoreMem(asm.R10, slotKey, asm.R1, asm.Word),
	)
	b.lookup(b.m.udp, slotKey)
	b.emit(
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JNE.Imm(asm.R1, 0, skip),
	)
	b.frameLen()
	b.bucket(bucketUDP, b.t.ClosedUDP, "drop_udp")
	b.mark(skip)
}

// triageMapSpecs returns the specs of the maps t needs.
func triageMapSpecs(t Triage) map[string]*ebpf.MapSpec {
	t = t.withDefaults()
	specs := map[string]*ebpf.MapSpec{
		"counts": {Name: "rxpath_tcounts", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16,
			MaxEntries: uint32(numCounts + len(t.Rules))},
		"buckets": {Name: "rxpath_tbuckets", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: numBuckets},
	}
	if t.SYN.on() {
		specs["synMem"] = &ebpf.MapSpec{Name: "rxpath_tsynmem", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: t.SYNMemory}
	}
	if t.Fragments.on() {
		specs["fragSrc"] = &ebpf.MapSpec{Name: "rxpath_tfragsrc", Type: ebpf.LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: t.FragmentSources}
	}
	if t.ClosedUDP.on() {
		specs["udp"] = &ebpf.MapSpec{Name: "rxpath_tudp", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 65536}
	}
	if t.SampleDrops {
		specs["samples"] = &ebpf.MapSpec{Name: "rxpath_tsamples", Type: ebpf.PerfEventArray}
	}
	return specs
}
