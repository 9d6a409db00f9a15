package report

import "math"

// HTTPRep is one repetition of an HTTP row (KindHTTP): one wrk run, which
// keeps its connections alive, then one ab run, which opens a new
// connection per request, against the row's net/http server.
type HTTPRep struct {
	Wrk HTTPLoad `json:"wrk"`
	AB  HTTPLoad `json:"ab"`
}

// HTTPLoad is what one load generator reported, with the CPU the server
// used meanwhile.
type HTTPLoad struct {
	// Command is the command line that ran, in the peer namespace.
	Command string `json:"command"`
	// Requests is the requests completed, ElapsedNS the time the tool
	// says they took, ReqPerSec its own rate (wrk's Requests/sec, ab's
	// Requests per second).
	Requests  uint64  `json:"requests"`
	ElapsedNS int64   `json:"elapsed_ns"`
	ReqPerSec float64 `json:"req_per_sec"`
	// Latency as the tool reports it: wrk's mean and percentiles of a
	// request on a kept-alive connection; ab's mean time per request at
	// its concurrency and the percentiles of the whole request, connect
	// included (whole milliseconds: ab's resolution).
	LatencyMeanNS int64 `json:"latency_mean_ns"`
	LatencyP50NS  int64 `json:"latency_p50_ns"`
	LatencyP99NS  int64 `json:"latency_p99_ns"`
	// Errors are wrk's socket errors (connect, read, write, timeout) or
	// ab's failed requests; Non2xx the responses with another status.
	Errors uint64 `json:"errors"`
	Non2xx uint64 `json:"non_2xx"`
	// ServerCPUNS is the CPU time of the server's process (rxbench, less
	// its generator threads) over the run, SoftirqNS the softirq time of
	// all CPUs: the client is another process, so it is not in either
	// but for the softirq work it causes.
	ServerCPUNS int64 `json:"server_cpu_ns"`
	SoftirqNS   int64 `json:"softirq_ns"`
	// StealNS is the hypervisor's steal on all CPUs over the run.
	StealNS int64 `json:"steal_ns"`
}

// CPUPerRequestUS is the server's CPU plus all softirq time per request,
// in microseconds.
func (l HTTPLoad) CPUPerRequestUS() float64 {
	return div(float64(l.ServerCPUNS+l.SoftirqNS)/1e3, float64(l.Requests))
}

// rps is the tool's rate, NaN when it completed no request.
func (l HTTPLoad) rps() float64 {
	if l.Requests == 0 {
		return math.NaN()
	}
	return l.ReqPerSec
}

// MemRep is one repetition of the conn-memory row (KindConnMemory):
// Conns connections from the peer namespace to an rxpath server, then to
// a kernel server, each held idle in ESTABLISHED and then closed by the
// server so that it keeps them in TIME_WAIT.
type MemRep struct {
	Conns int `json:"conns"`
	// rxpath server: the Go heap's live bytes (runtime/metrics
	// /gc/heap/live:bytes right after runtime.GC) before the first
	// connection, with Conns idle established connections accepted, and
	// after the server closed them all and holds RxpathTimeWaits entries
	// in TIME_WAIT (the application keeps no reference to them).
	RxpathHeapBase     uint64 `json:"rxpath_heap_base"`
	RxpathHeapEstab    uint64 `json:"rxpath_heap_established"`
	RxpathHeapTimeWait uint64 `json:"rxpath_heap_time_wait"`
	RxpathTimeWaits    int    `json:"rxpath_time_waits"`
	// Kernel slab bytes (Δ active objects × object size, per cache of
	// /proc/slabinfo) from before the first connection: in the rxpath
	// run, where only the client has kernel sockets (Client*), and in
	// the kernel run, where both ends do (Kernel*). The server's share
	// is the difference.
	ClientSlabEstab    map[string]int64 `json:"client_slab_established"`
	ClientSlabTimeWait map[string]int64 `json:"client_slab_time_wait"`
	KernelSlabEstab    map[string]int64 `json:"kernel_slab_established"`
	KernelSlabTimeWait map[string]int64 `json:"kernel_slab_time_wait"`
	KernelTimeWaits    int              `json:"kernel_time_waits"`
}

func sum(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// RxpathIdleBytes is the rxpath server's heap per idle established
// connection.
func (m MemRep) RxpathIdleBytes() float64 {
	return div(float64(int64(m.RxpathHeapEstab)-int64(m.RxpathHeapBase)), float64(m.Conns))
}

// RxpathTimeWaitBytes is the rxpath server's heap per TIME_WAIT entry.
func (m MemRep) RxpathTimeWaitBytes() float64 {
	return div(float64(int64(m.RxpathHeapTimeWait)-int64(m.RxpathHeapBase)), float64(m.RxpathTimeWaits))
}

// KernelIdleBytes is the kernel server's slab bytes per idle established
// connection: both ends' delta less the client's alone.
func (m MemRep) KernelIdleBytes() float64 {
	if m.KernelSlabEstab == nil || m.ClientSlabEstab == nil {
		return math.NaN()
	}
	return div(float64(sum(m.KernelSlabEstab)-sum(m.ClientSlabEstab)), float64(m.Conns))
}

// KernelTimeWaitBytes is the kernel server's slab bytes per TIME_WAIT
// entry.
func (m MemRep) KernelTimeWaitBytes() float64 {
	if m.KernelSlabTimeWait == nil || m.ClientSlabTimeWait == nil {
		return math.NaN()
	}
	return div(float64(sum(m.KernelSlabTimeWait)-sum(m.ClientSlabTimeWait)), float64(m.KernelTimeWaits))
}

// summarizeApp fills the HTTP and connection-memory figures of s.
func summarizeApp(s *Scenario, sum *Summary) {
	httpCol := func(f func(HTTPRep) float64) Stat {
		v := make([]float64, len(s.HTTP))
		for i, r := range s.HTTP {
			v[i] = f(r)
		}
		return Summarize(v)
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	sum.KeepAliveRPS = httpCol(func(r HTTPRep) float64 { return r.Wrk.rps() })
	sum.KeepAliveP99MS = httpCol(func(r HTTPRep) float64 { return ms(r.Wrk.LatencyP99NS) })
	sum.KeepAliveCPUUS = httpCol(func(r HTTPRep) float64 { return r.Wrk.CPUPerRequestUS() })
	sum.ConnectRPS = httpCol(func(r HTTPRep) float64 { return r.AB.rps() })
	sum.ConnectP99MS = httpCol(func(r HTTPRep) float64 { return ms(r.AB.LatencyP99NS) })
	sum.ConnectCPUUS = httpCol(func(r HTTPRep) float64 { return r.AB.CPUPerRequestUS() })
	memCol := func(f func(MemRep) float64) Stat {
		v := make([]float64, len(s.Mem))
		for i, r := range s.Mem {
			v[i] = f(r)
		}
		return Summarize(v)
	}
	sum.IdleBytesRxpath = memCol(MemRep.RxpathIdleBytes)
	sum.IdleBytesKernel = memCol(MemRep.KernelIdleBytes)
	sum.TimeWaitBytesRxpath = memCol(MemRep.RxpathTimeWaitBytes)
	sum.TimeWaitBytesKernel = memCol(MemRep.KernelTimeWaitBytes)
}
