package report

import (
	"math"
	"strings"
	"time"
)

// Status says whether a row was measured.
type Status string

// Row statuses. Rows are never dropped from a report: a scenario that could
// not run says so with its reason.
const (
	StatusOK Status = "ok"
	// StatusFailed: the scenario was tried and failed; Reason says why.
	StatusFailed Status = "failed"
	// StatusNotRun: the run was interrupted before this row.
	StatusNotRun Status = "not run"
)

// Kind tells how a row is measured.
type Kind string

// Row kinds.
const (
	// KindLive rows receive live traffic from the generator on the veth.
	KindLive Kind = "live"
	// KindStackCost rows replay recorded frames into a stack with no
	// kernel in the loop (driver/replay).
	KindStackCost Kind = "stack-cost"
	// KindCapacity rows measure what one poller core can take: a
	// driver that plays the NIC from memory on another CPU feeds it
	// as fast as it can, with no kernel and no generator in the loop
	// (the memnic-* rows). Their Reps are filled like a live row's.
	KindCapacity Kind = "capacity"
	// KindHTTP rows serve net/http on the DUT (over rxpath's TCP, or a
	// kernel socket) to wrk and ab in the peer namespace; their figures
	// are in HTTP, not Reps.
	KindHTTP Kind = "http"
	// KindConnMemory rows measure the memory of idle connections and
	// TIME_WAIT entries; their figures are in Mem, not Reps.
	KindConnMemory Kind = "conn-memory"
)

// Proto is the transport a row measures. It decides the row's units: UDP
// rows count datagrams (Mpps, CPU per packet), TCP rows count stream bytes
// (Gbit/s of goodput, CPU per byte) and segments.
type Proto string

// Row transports.
const (
	ProtoUDP Proto = "udp"
	ProtoTCP Proto = "tcp"
)

// Loss is where frames were lost, as counter deltas over one repetition.
type Loss struct {
	// Veth: dropped by the veth before any receiver saw them (its ring
	// overflowed, XDP_DROP, a failed redirect or xmit).
	Veth uint64 `json:"veth"`
	// RingFull: the AF_XDP rx ring was full (XDP_STATISTICS
	// rx_ring_full), or AF_PACKET's ring was (tp_drops).
	RingFull uint64 `json:"ring_full"`
	// FillEmpty: the AF_XDP fill ring was empty (rx_fill_ring_empty_descs).
	FillEmpty uint64 `json:"fill_empty"`
	// Stack: dropped by the stack (rxpath's counters, or the kernel's
	// Ip and Udp MIBs), socket overflows excluded.
	Stack uint64 `json:"stack"`
	// Socket: the socket's receive queue was full (rcvbuf).
	Socket uint64 `json:"socket_overflow"`
}

// Sum adds up the places.
func (l Loss) Sum() uint64 { return l.Veth + l.RingFull + l.FillEmpty + l.Stack + l.Socket }

// Rep is one repetition of a live scenario: raw figures only; everything
// derived is computed from them.
type Rep struct {
	Sent      uint64 `json:"sent"`
	Received  uint64 `json:"received"`
	ElapsedNS int64  `json:"elapsed_ns"` // the generator's send time
	FrameLen  int    `json:"frame_len"`
	Loss      Loss   `json:"loss"`
	// RxCPUNS is the CPU time of the receiver's own threads (pollers,
	// readers); zero for a receiver with no thread (the XDP ceiling).
	RxCPUNS int64 `json:"rx_cpu_ns"`
	// SoftirqNS is the softirq time of all CPUs (/proc/stat); on veth
	// that is the kernel's receive work, done on the sending CPU.
	SoftirqNS       int64   `json:"softirq_ns"`
	SoftirqPerCPUNS []int64 `json:"softirq_per_cpu_ns"`
	// ProcessCPUNS is the whole process's CPU time (getrusage) minus
	// the generator threads' (their thread CPU clocks): the receiver
	// threads and every other thread the row runs, such as the tap's
	// writer, timers, the garbage collector and the runtime's. It is
	// what CPUPerPacketNS counts; reports made before it existed have
	// 0 here and fall back to RxCPUNS.
	ProcessCPUNS int64 `json:"process_cpu_ns"`
	// IdlePasses is how many passes of the receiver's loop found no
	// frame (poller.Stats.IdlePasses, xsk-minimal's empty peeks, a
	// spinning recvmmsg's EAGAINs); 0 for a receiver that sleeps in
	// the kernel when idle. See Scenario.IdleCal.
	IdlePasses uint64 `json:"idle_passes,omitempty"`
	// Counters are the raw counter deltas behind Loss (ethtool -S of both
	// veth ends, XDP_STATISTICS, the stack's and the kernel's MIBs).
	Counters map[string]int64 `json:"counters,omitempty"`

	// TCP rows only. Sent and Received count segments there (the
	// client's transmissions, retransmissions included, and the
	// segments that reached the receiver's TCP, over the whole rep), so
	// Loss and LossPct are segments lost on the way. TxBytes is what the
	// client's writes handed to its socket during the send time, RxBytes
	// what the receiving application got in that same time; the CPU
	// times cover that time too. Retrans is the client's retransmitted
	// segments.
	TxBytes uint64 `json:"tx_bytes,omitempty"`
	RxBytes uint64 `json:"rx_bytes,omitempty"`
	Retrans uint64 `json:"retrans_segs,omitempty"`
}

// Elapsed is the send time.
func (r Rep) Elapsed() time.Duration { return time.Duration(r.ElapsedNS) }

// SentPPS is the generator's rate.
func (r Rep) SentPPS() float64 { return div(float64(r.Sent), r.Elapsed().Seconds()) }

// RxPPS is the receive rate over the send time.
func (r Rep) RxPPS() float64 { return div(float64(r.Received), r.Elapsed().Seconds()) }

// Gbps is the received Ethernet frames' bits (without preamble, FCS or
// gap) per second.
func (r Rep) Gbps() float64 { return r.RxPPS() * float64(r.FrameLen) * 8 / 1e9 }

// Lost is sent minus received (negative if more arrived than were sent).
func (r Rep) Lost() int64 { return int64(r.Sent) - int64(r.Received) }

// LossPct is the share of sent frames that did not arrive, in percent.
func (r Rep) LossPct() float64 { return 100 * div(float64(r.Lost()), float64(r.Sent)) }

// Unaccounted is the loss no counter explains.
func (r Rep) Unaccounted() int64 { return r.Lost() - int64(r.Loss.Sum()) }

// cpuNS is the row's CPU time: every thread but the generator's, or the
// receiver threads' alone in reports without the process figure.
func (r Rep) cpuNS() int64 {
	if r.ProcessCPUNS > 0 {
		return r.ProcessCPUNS
	}
	return r.RxCPUNS
}

// CPUPerPacketNS is the CPU time of every thread of the process except
// the generator's, plus all softirq time, per received packet.
func (r Rep) CPUPerPacketNS() float64 {
	return div(float64(r.cpuNS()+r.SoftirqNS), float64(r.Received))
}

// BusyPerPacketNS is CPUPerPacketNS less the receiver's idle passes,
// each costing passNS (IdleCal.PassNS; 0 for a receiver with no idle
// pass): the CPU the packets themselves took, whether the receiver spins
// or sleeps between them. It is never below zero.
//
// A rep of a receiver whose loops time their own work (rxpath's pollers)
// has the loops' busy time and CPU time in its counters: its busy time
// is then its CPU with the loops' CPU replaced by their busy time, the
// idle passes and everything else the loops do without frames (the
// polite spin's yields, the sleeps) left out as measured, not modelled.
func (r Rep) BusyPerPacketNS(passNS float64) float64 {
	if busy, ok := r.Counters[LoopBusyCounter]; ok {
		if loops, ok := r.Counters[LoopCPUCounter]; ok {
			return div(max(float64(r.cpuNS()+r.SoftirqNS-loops+min(busy, loops)), 0), float64(r.Received))
		}
	}
	idle := float64(r.IdlePasses) * passNS
	if math.IsNaN(idle) {
		idle = 0
	}
	return div(max(float64(r.cpuNS()+r.SoftirqNS)-idle, 0), float64(r.Received))
}

// The rep counters of a receiver whose loops time their own work: the
// loops' busy time (poller.Stats.BusyNS, summed) and the CPU time of
// their threads over the rep.
const (
	LoopBusyCounter = "poller.busy_ns"
	LoopCPUCounter  = "poller.thread_cpu_ns"
)

// GoodputGbps is a TCP row's application bytes per second over the send
// time, in Gbit/s.
func (r Rep) GoodputGbps() float64 { return div(float64(r.RxBytes)*8, r.Elapsed().Seconds()) / 1e9 }

// SentGbps is what a TCP row's client wrote per second, in Gbit/s.
func (r Rep) SentGbps() float64 { return div(float64(r.TxBytes)*8, r.Elapsed().Seconds()) / 1e9 }

// CPUPerByteNS is a TCP row's CPU time (every thread but the client's)
// plus all softirq time per byte delivered to the application.
func (r Rep) CPUPerByteNS() float64 {
	return div(float64(r.cpuNS()+r.SoftirqNS), float64(r.RxBytes))
}

// IdleCal is what one idle pass of a receiver costs, measured on that
// receiver after its warm-up in one or two windows. A spinner's window has
// no traffic: its threads' CPU time over the passes they made is the cost.
// A sleeper (rxpath's default poller) would sleep through that, so it gets
// two windows with one frame every so often, sparse and dense, both well
// under its idle spin, so that it spins between frames as it does between
// a rep's bursts; CPU = cost × passes + frame cost × frames in each
// window, and the two windows give both costs. A frame's own work (a
// reader woken, a tap record) would otherwise count as idle.
type IdleCal struct {
	Windows []IdleWindow `json:"windows"`
}

// IdleWindow is one calibration window: its length, the CPU time of the
// threads that make the idle passes, the passes, and the frames sent
// meanwhile.
type IdleWindow struct {
	ElapsedNS int64  `json:"elapsed_ns"`
	RxCPUNS   int64  `json:"rx_cpu_ns"`
	Passes    uint64 `json:"passes"`
	Frames    uint64 `json:"frames,omitempty"`
}

// Passes is the idle passes over every window.
func (c *IdleCal) Passes() uint64 {
	var n uint64
	if c != nil {
		for _, w := range c.Windows {
			n += w.Passes
		}
	}
	return n
}

// PassNS is the CPU time of one idle pass: 0 without a calibration (the
// receiver makes no idle pass), NaN when no window saw a pass. With two
// windows that got frames it solves for the pass and the frame costs;
// when noise makes that fit meaningless (a negative cost) it falls back
// to the window with the fewest frames per pass, frames counted as idle.
func (c *IdleCal) PassNS() float64 {
	if c == nil {
		return 0
	}
	best := math.NaN()
	var fewest float64
	for _, w := range c.Windows {
		if w.Passes == 0 {
			continue
		}
		if r := float64(w.Frames) / float64(w.Passes); math.IsNaN(best) || r < fewest {
			best, fewest = float64(w.RxCPUNS)/float64(w.Passes), r
		}
	}
	if len(c.Windows) != 2 {
		return best
	}
	a, b := c.Windows[0], c.Windows[1]
	pa, fa, ca := float64(a.Passes), float64(a.Frames), float64(a.RxCPUNS)
	pb, fb, cb := float64(b.Passes), float64(b.Frames), float64(b.RxCPUNS)
	det := pa*fb - pb*fa
	if det == 0 {
		return best
	}
	pass, frame := (ca*fb-cb*fa)/det, (pa*cb-pb*ca)/det
	if pass <= 0 || frame < 0 || math.IsNaN(pass) {
		return best
	}
	return pass
}

// CostRep is one repetition of a stack-cost row.
type CostRep struct {
	Packets uint64 `json:"packets"`
	// Delivered is the datagrams the application read, or for a TCP row
	// the segments' worth of stream bytes it read (DeliveredBytes over
	// the segment payload).
	Delivered      uint64 `json:"delivered"`
	DeliveredBytes uint64 `json:"delivered_bytes,omitempty"`
	ElapsedNS      int64  `json:"elapsed_ns"` // wall time on the measuring thread
	// CPUNS is the CPU time of the whole process (every thread: the
	// stack's own goroutines, the garbage collector) over the same
	// section; 0 when it could not be read.
	CPUNS  int64  `json:"cpu_ns,omitempty"`
	Allocs uint64 `json:"allocs"` // heap allocations (runtime.MemStats.Mallocs delta)
	Bytes  uint64 `json:"alloc_bytes"`
	// TxFrames is what the stack transmitted meanwhile (a TCP row's
	// ACKs and window updates).
	TxFrames uint64 `json:"tx_frames,omitempty"`
}

// NSPerPacket is the time per replayed packet.
func (c CostRep) NSPerPacket() float64 { return div(float64(c.ElapsedNS), float64(c.Packets)) }

// CPUNSPerPacket is the process CPU time per replayed packet, NaN when it
// was not measured.
func (c CostRep) CPUNSPerPacket() float64 {
	if c.CPUNS <= 0 {
		return math.NaN()
	}
	return div(float64(c.CPUNS), float64(c.Packets))
}

// AllocsPerPacket is the heap allocations per replayed packet.
func (c CostRep) AllocsPerPacket() float64 { return div(float64(c.Allocs), float64(c.Packets)) }

// Summary is a row's figures over its repetitions.
type Summary struct {
	SentMpps Stat `json:"sent_mpps"`
	RxMpps   Stat `json:"rx_mpps"`
	Gbps     Stat `json:"rx_gbps"`
	LossPct  Stat `json:"loss_pct"`
	// CPUNSPkt is a live row's CPU time of every thread but the
	// generator's plus softirq time per received packet (Rep.CPUPerPacketNS),
	// and a stack-cost row's process CPU time per replayed packet.
	CPUNSPkt Stat `json:"cpu_ns_per_packet"`
	// BusyNSPkt is CPUNSPkt less the receiver's idle passes
	// (Rep.BusyPerPacketNS): comparable between a spinner and a sleeper.
	BusyNSPkt Stat `json:"busy_ns_per_packet"`
	// RxCPUNSPkt is the receiver's own threads alone, SoftNSPkt the
	// softirq time alone.
	RxCPUNSPkt Stat `json:"rx_thread_cpu_ns_per_packet"`
	SoftNSPkt  Stat `json:"softirq_ns_per_packet"`
	// Loss by place, the median of each place's count.
	LossVeth        Stat `json:"loss_veth"`
	LossRingFull    Stat `json:"loss_ring_full"`
	LossFillEmpty   Stat `json:"loss_fill_empty"`
	LossStack       Stat `json:"loss_stack"`
	LossSocket      Stat `json:"loss_socket_overflow"`
	LossUnaccounted Stat `json:"loss_unaccounted"`

	// TCP rows: application goodput, the client's write rate, CPU per
	// byte delivered, and the client's retransmitted segments per rep.
	GoodputGbps Stat `json:"goodput_gbps"`
	SentGbps    Stat `json:"sent_gbps"`
	CPUNSByte   Stat `json:"cpu_ns_per_byte"`
	Retrans     Stat `json:"retrans_segs"`

	NSPerPacket     Stat `json:"ns_per_packet"`
	AllocsPerPacket Stat `json:"allocs_per_packet"`

	// HTTP rows: wrk's requests per second over kept-alive connections,
	// its 99th percentile latency and the server's CPU (its process +
	// softirq) per request; the same for ab, a new connection per
	// request.
	KeepAliveRPS   Stat `json:"keepalive_req_per_sec"`
	KeepAliveP99MS Stat `json:"keepalive_p99_ms"`
	KeepAliveCPUUS Stat `json:"keepalive_cpu_us_per_req"`
	ConnectRPS     Stat `json:"connect_req_per_sec"`
	ConnectP99MS   Stat `json:"connect_p99_ms"`
	ConnectCPUUS   Stat `json:"connect_cpu_us_per_req"`

	// The conn-memory row: bytes per idle established connection and per
	// TIME_WAIT entry, rxpath's (Go heap) and the kernel server's (slab).
	IdleBytesRxpath     Stat `json:"idle_conn_bytes_rxpath"`
	IdleBytesKernel     Stat `json:"idle_conn_bytes_kernel"`
	TimeWaitBytesRxpath Stat `json:"time_wait_bytes_rxpath"`
	TimeWaitBytesKernel Stat `json:"time_wait_bytes_kernel"`

	// VsXSK is the median receive rate over xsk-minimal's of the same
	// frame length: the fair ratio for an AF_XDP receiver on veth.
	// VsCeiling is the median receive rate over the ceiling's (same frame
	// length; NaN for TCP rows, whose sender is not the frame
	// generator), VsKernel over kernel-recvmmsg's (same frame length) or,
	// for a TCP row, its goodput over tcp-kernel's, for an HTTP row its
	// keep-alive (wrk) rate over http-kernel's, and VsKernelConnect its
	// new-connection (ab) rate over http-kernel's. For stack-cost rows
	// VsGVisor is the gVisor row's (same transport) wall time per packet
	// over this row's, and VsGVisorCPU the same with process CPU time.
	// NaN when there is nothing to compare with.
	VsXSK     Num `json:"vs_xsk_minimal"`
	VsCeiling Num `json:"vs_ceiling"`
	VsKernel  Num `json:"vs_kernel"`
	// VsKernelConnect: HTTP rows only, see VsKernel.
	VsKernelConnect Num `json:"vs_kernel_connect"`
	VsGVisor        Num `json:"vs_gvisor"`
	VsGVisorCPU     Num `json:"vs_gvisor_cpu"`
}

// Scenario is one row of the report.
type Scenario struct {
	Name        string `json:"name"`
	Kind        Kind   `json:"kind"`
	Proto       Proto  `json:"proto,omitempty"` // empty: UDP (reports before TCP rows existed)
	Description string `json:"description"`
	Status      Status `json:"status"`
	Reason      string `json:"reason,omitempty"`
	FrameLen    int    `json:"frame_len,omitempty"`
	// Receiver describes how the receiver ran (driver mode, attach).
	Receiver string `json:"receiver,omitempty"`
	// Warmup is the warm-up's figures, not summarized.
	Warmup *Rep      `json:"warmup,omitempty"`
	Reps   []Rep     `json:"reps,omitempty"`
	Cost   []CostRep `json:"cost_reps,omitempty"`
	// HTTP and Mem are the repetitions of an HTTP row and of the
	// conn-memory row.
	HTTP []HTTPRep `json:"http_reps,omitempty"`
	Mem  []MemRep  `json:"mem_reps,omitempty"`
	// IdleCal is the cost of one idle pass of the receiver, for the
	// busy time; nil for receivers that count no idle pass.
	IdleCal *IdleCal `json:"idle_cal,omitempty"`
	// Notes are remarks worth a line under the table (a tap that
	// dropped, a fallback taken).
	Notes   []string `json:"notes,omitempty"`
	Summary Summary  `json:"summary"`
	// Extra holds scenario-specific figures (tap counters, stack
	// counters) for the JSON only.
	Extra map[string]any `json:"extra,omitempty"`
}

// OK reports whether the row was measured.
func (s *Scenario) OK() bool { return s.Status == StatusOK }

// TCP reports whether the row measures TCP.
func (s *Scenario) TCP() bool { return s.Proto == ProtoTCP }

// Settings are the run's parameters.
type Settings struct {
	Mode       string `json:"mode"` // quick, full, smoke or custom
	Reps       int    `json:"reps"`
	DurationNS int64  `json:"duration_ns"`
	WarmupNS   int64  `json:"warmup_ns"`
	Queues     int    `json:"queues"`
	Flows      int    `json:"flows"`
	Generator  string `json:"generator"`
	// GeneratorRefused lists the generator methods that auto passed
	// over, each with the error (and errno) that refused it.
	GeneratorRefused []string `json:"generator_refused,omitempty"`
	GenCPUs          []int    `json:"generator_cpus"`
	RxCPUs           []int    `json:"receiver_cpus"`
	StackPackets     uint64   `json:"stack_cost_packets"`
	Nice             int      `json:"nice"`
	Isolated         bool     `json:"isolated"`  // own scheduling group at nice -20
	BusySpin         bool     `json:"busy_spin"` // rxpath\'s pollers never sleep

	Scenarios []string `json:"scenarios"`
	Lab       string   `json:"lab"`
}

// Machine describes where the run happened.
type Machine struct {
	Kernel       string    `json:"kernel"`
	CPUs         int       `json:"cpus"`
	GoVersion    string    `json:"go_version"`
	LoadAvgStart string    `json:"loadavg_start"`
	LoadAvgEnd   string    `json:"loadavg_end"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`
}

// Run is a whole benchmark run.
type Run struct {
	Tool      string     `json:"tool"`
	Settings  Settings   `json:"settings"`
	Machine   Machine    `json:"machine"`
	Scenarios []Scenario `json:"scenarios"`
	Goals     []Goal     `json:"goals"`
	// Notes are run-wide remarks (interrupted, generator fallback).
	Notes []string `json:"notes,omitempty"`
}

// Find returns the row named name, or nil.
func (r *Run) Find(name string) *Scenario {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// Row names the ratios and goals refer to.
const (
	CeilingName        = "ceiling"
	XSKMinimalName     = "xsk-minimal"
	RawName            = "rxpath-raw"
	HandlerName        = "rxpath-udp-handler"
	ReadBatchName      = "rxpath-udp-readbatch"
	TapFileName        = "tap-file"
	AsavieName         = "asavie"
	MemnicRawName      = "memnic-raw"
	MemnicHandlerName  = "memnic-udp-handler"
	MemnicTapName      = "memnic-tap-devnull"
	KernelName         = "kernel-recvmmsg"
	TCPKernelName      = "tcp-kernel"
	StackRxpathName    = "stack-rxpath"
	StackGVisorName    = "stack-gvisor"
	StackRxpathTCPName = "stack-rxpath-tcp"
	StackGVisorTCPName = "stack-gvisor-tcp"
	TCPRxpathName      = "tcp-rxpath"
	HTTPRxpathName     = "http-rxpath"
	HTTPKernelName     = "http-kernel"
	ConnMemoryName     = "conn-memory"
)

// isBaseline reports whether name is base or one of its size variants
// (kernel-recvmmsg-512), not another row that starts the same way
// (kernel-recvmmsg-spin).
func isBaseline(name, base string) bool {
	if name == base {
		return true
	}
	rest, ok := strings.CutPrefix(name, base+"-")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Finalize summarizes every row, computes the ratios and evaluates the
// goals. Call it once the rows are filled; calling it again recomputes.
func (r *Run) Finalize() {
	for i := range r.Scenarios {
		summarize(&r.Scenarios[i])
	}
	ceil := r.Find(CeilingName)
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		s.Summary.VsXSK, s.Summary.VsCeiling, s.Summary.VsKernel, s.Summary.VsGVisor, s.Summary.VsGVisorCPU = NaN, NaN, NaN, NaN, NaN
		s.Summary.VsKernelConnect = NaN
		if !s.OK() {
			continue
		}
		switch {
		case s.Kind == KindHTTP:
			if k := r.Find(HTTPKernelName); k != nil && k.OK() && k.Kind == KindHTTP {
				s.Summary.VsKernel = Num(Ratio(s.Summary.KeepAliveRPS, k.Summary.KeepAliveRPS))
				s.Summary.VsKernelConnect = Num(Ratio(s.Summary.ConnectRPS, k.Summary.ConnectRPS))
			}
		case s.Kind == KindLive && s.TCP():
			if k := r.Find(TCPKernelName); k != nil && k.OK() && k.TCP() {
				s.Summary.VsKernel = Num(Ratio(s.Summary.GoodputGbps, k.Summary.GoodputGbps))
			}
		case s.Kind == KindLive:
			if ceil != nil && ceil.OK() && ceil.FrameLen == s.FrameLen {
				s.Summary.VsCeiling = Num(Ratio(s.Summary.RxMpps, ceil.Summary.RxMpps))
			}
			if x := r.baselineFor(XSKMinimalName, s.FrameLen); x != nil {
				s.Summary.VsXSK = Num(Ratio(s.Summary.RxMpps, x.Summary.RxMpps))
			}
			if k := r.baselineFor(KernelName, s.FrameLen); k != nil {
				s.Summary.VsKernel = Num(Ratio(s.Summary.RxMpps, k.Summary.RxMpps))
			}
		case s.Kind == KindStackCost:
			if g := r.Find(gvisorFor(s.Proto)); g != nil && g.OK() && g.Proto == s.Proto {
				s.Summary.VsGVisor = Num(Ratio(g.Summary.NSPerPacket, s.Summary.NSPerPacket))
				s.Summary.VsGVisorCPU = Num(Ratio(g.Summary.CPUNSPkt, s.Summary.CPUNSPkt))
			}
		}
	}
	r.Goals = EvaluateGoals(r)
}

// gvisorFor names the gVisor stack-cost row of a transport.
func gvisorFor(p Proto) string {
	if p == ProtoTCP {
		return StackGVisorTCPName
	}
	return StackGVisorName
}

// baselineFor returns the measured live row of a baseline (xsk-minimal,
// kernel-recvmmsg) or of its size variant for a frame length.
func (r *Run) baselineFor(base string, frameLen int) *Scenario {
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		if s.OK() && s.Kind == KindLive && !s.TCP() && isBaseline(s.Name, base) && s.FrameLen == frameLen {
			return s
		}
	}
	return nil
}

func summarize(s *Scenario) {
	var sum Summary
	col := func(f func(Rep) float64) Stat {
		v := make([]float64, len(s.Reps))
		for i, r := range s.Reps {
			v[i] = f(r)
		}
		return Summarize(v)
	}
	sum.SentMpps = col(func(r Rep) float64 { return r.SentPPS() / 1e6 })
	sum.RxMpps = col(func(r Rep) float64 { return r.RxPPS() / 1e6 })
	sum.Gbps = col(Rep.Gbps)
	sum.LossPct = col(Rep.LossPct)
	sum.CPUNSPkt = col(Rep.CPUPerPacketNS)
	passNS := s.IdleCal.PassNS()
	sum.BusyNSPkt = col(func(r Rep) float64 { return r.BusyPerPacketNS(passNS) })
	sum.RxCPUNSPkt = col(func(r Rep) float64 { return div(float64(r.RxCPUNS), float64(r.Received)) })
	sum.SoftNSPkt = col(func(r Rep) float64 { return div(float64(r.SoftirqNS), float64(r.Received)) })
	sum.LossVeth = col(func(r Rep) float64 { return float64(r.Loss.Veth) })
	sum.LossRingFull = col(func(r Rep) float64 { return float64(r.Loss.RingFull) })
	sum.LossFillEmpty = col(func(r Rep) float64 { return float64(r.Loss.FillEmpty) })
	sum.LossStack = col(func(r Rep) float64 { return float64(r.Loss.Stack) })
	sum.LossSocket = col(func(r Rep) float64 { return float64(r.Loss.Socket) })
	sum.LossUnaccounted = col(func(r Rep) float64 { return float64(r.Unaccounted()) })
	if s.TCP() && s.Kind == KindLive {
		sum.GoodputGbps = col(Rep.GoodputGbps)
		sum.SentGbps = col(Rep.SentGbps)
		sum.CPUNSByte = col(Rep.CPUPerByteNS)
		sum.Retrans = col(func(r Rep) float64 { return float64(r.Retrans) })
		// The CPU of a TCP rep covers the send time, not the drain:
		// per packet it would be per segment of another interval.
		// And frame bits per second would count segments of the drain.
		sum.CPUNSPkt, sum.BusyNSPkt, sum.RxCPUNSPkt, sum.SoftNSPkt, sum.Gbps = Stat{}, Stat{}, Stat{}, Stat{}, Stat{}
	}
	cost := func(f func(CostRep) float64) Stat {
		v := make([]float64, len(s.Cost))
		for i, c := range s.Cost {
			v[i] = f(c)
		}
		return Summarize(v)
	}
	summarizeApp(s, &sum)
	sum.NSPerPacket = cost(CostRep.NSPerPacket)
	sum.AllocsPerPacket = cost(CostRep.AllocsPerPacket)
	if s.Kind == KindStackCost {
		sum.CPUNSPkt = cost(CostRep.CPUNSPerPacket)
	}
	s.Summary = sum
}
