package rxpath_test

import (
	"bufio"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/rxpath/rxpath"
	"github.com/rxpath/rxpath/driver/afxdp"
	"github.com/rxpath/rxpath/driver/auto"
	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/lab/labtest"
	"github.com/rxpath/rxpath/poller"
)

// procResources is what the process holds at one moment.
type procResources struct {
	fds        int
	bpfFDs     map[string]int // fds by BPF object kind: bpf-prog, bpf-map, bpf_link
	goroutines int
	threads    int // OS threads
	pinned     int // of those, allowed on fewer CPUs than the process
	rssKiB     int64
}

func (r procResources) String() string {
	return "fds " + strconv.Itoa(r.fds) + " (bpf " + strconv.Itoa(r.bpfFDs["bpf-prog"]) + " prog, " +
		strconv.Itoa(r.bpfFDs["bpf-map"]) + " map, " + strconv.Itoa(r.bpfFDs["bpf_link"]) + " link), goroutines " +
		strconv.Itoa(r.goroutines) + ", threads " + strconv.Itoa(r.threads) + " (" + strconv.Itoa(r.pinned) + " pinned), RSS " +
		strconv.FormatInt(r.rssKiB/1024, 10) + " MiB"
}

// measure takes a reading after a garbage collection that returns freed
// memory to the OS.
func measure(t *testing.T) procResources {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	r := procResources{bpfFDs: map[string]int{}, goroutines: runtime.NumGoroutine()}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	r.fds = len(ents)
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			if kind, ok := strings.CutPrefix(target, "anon_inode:"); ok && strings.HasPrefix(kind, "bpf") {
				r.bpfFDs[kind]++
			}
		}
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	r.threads = len(tasks)
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		var set unix.CPUSet
		if unix.SchedGetaffinity(tid, &set) == nil && set.Count() < all.Count() {
			r.pinned++
		}
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			r.rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return r
}

// liveBPF returns the IDs of every BPF program and map loaded on the
// system, whoever owns them.
func liveBPF(t *testing.T) (progs map[ebpf.ProgramID]bool, maps map[ebpf.MapID]bool) {
	t.Helper()
	progs, maps = map[ebpf.ProgramID]bool{}, map[ebpf.MapID]bool{}
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatalf("BPF program IDs: %v", err)
		}
		progs[next], id = true, next
	}
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatalf("BPF map IDs: %v", err)
		}
		maps[next], id = true, next
	}
	return progs, maps
}

// TestDrillStartCloseLoop (drill 8): 200 engine Start/Close cycles on one
// lab, with traffic arriving throughout and a wait for frames in every
// tenth cycle, must leave nothing behind: the same fds and goroutines as
// before, none of the cycles' BPF programs and maps still loaded, no XDP
// program on the interface, and RSS within 32 MiB.
func TestDrillStartCloseLoop(t *testing.T) {
	const (
		cycles   = 200
		port     = 9000
		every    = 10       // cycles that wait for traffic
		rssSlack = 32 << 10 // KiB
		// A queue stays taken (bind: EBUSY) until the kernel's deferred
		// release of the closed socket's buffer pool, a work item that
		// takes the RTNL lock, has run. With other tests creating and
		// deleting namespaces, that took seconds here: longer than the
		// default BindRetry (500ms).
		bindRetry = 10 * time.Second
	)
	l := labtest.New(t, lab.Config{})
	c := peerSender(t, l, port)

	// cycle runs one Start/Close and returns the program and map IDs
	// the device used.
	var startTook, closeTook [2][]time.Duration // by attach mode: native, generic
	var received uint64
	cycle := func(i int, waitFrames bool) (ebpf.ProgramID, []ebpf.MapID) {
		// Both attach modes: native XDP on veth switches the device's
		// NAPI on and off, generic does not.
		xo := afxdp.Options{Attach: afxdp.AttachNative, BindRetry: bindRetry}
		if i%2 == 1 {
			xo.Attach = afxdp.AttachGeneric
		}
		var e *rxpath.Node
		ts := time.Now()
		if err := lab.InNS(l.DUTNS, func() (err error) {
			e, err = rxpath.Open(rxpath.Config{Interface: l.DUTIf, Handler: func(*poller.Batch) {}, Driver: xdpDriver(xo), CPUs: []int{pollerCPU}})
			return err
		}); err != nil {
			t.Fatalf("cycle %d: start: %v", i, err)
		}
		ready := time.Now()
		x := auto.XDP(e.Device())
		pid, err := x.ProgramID()
		if err != nil {
			e.Close()
			t.Fatalf("cycle %d: program ID: %v", i, err)
		}
		var mids []ebpf.MapID
		if p, err := ebpf.NewProgramFromID(pid); err == nil {
			if info, err := p.Info(); err == nil {
				mids, _ = info.MapIDs()
			}
			p.Close()
		}
		if len(mids) == 0 {
			e.Close()
			t.Fatalf("cycle %d: no map IDs for program %d", i, pid)
		}
		if waitFrames {
			deadline := time.Now().Add(5 * time.Second)
			for e.Snapshot().Frames < 5 {
				if time.Now().After(deadline) {
					e.Close()
					t.Fatalf("cycle %d: no frames received in 5s", i)
				}
				time.Sleep(time.Millisecond)
			}
		}
		tc := time.Now()
		if err := e.Close(); err != nil {
			t.Fatalf("cycle %d: close: %v", i, err)
		}
		startTook[i%2] = append(startTook[i%2], ready.Sub(ts))
		closeTook[i%2] = append(closeTook[i%2], time.Since(tc))
		for _, q := range e.Final().Queues {
			if b := q.Driver.Buffers; b.Free != b.Total || b.BadRelease != 0 || b.Foreign != 0 {
				t.Fatalf("cycle %d: queue %d ledger after close: %+v", i, q.Queue, b)
			}
		}
		received += e.Final().Frames
		return pid, mids
	}

	// One cycle first: the first use of the driver initializes
	// process-wide state (cilium/ebpf's feature probes, the runtime's
	// netpoller) that stays by design.
	cycle(0, false)
	progsBefore, mapsBefore := liveBPF(t)
	before := measure(t)

	// Traffic throughout: a datagram every 500µs from the peer's CPU,
	// landing in the XDP program and socket of whatever cycle is running
	// (or in the DUT's kernel, which drops it, between cycles).
	var stop atomic.Bool
	sent := atomic.Uint64{}
	wait := sync.OnceValue(labtest.OnCPU(senderCPU, func() {
		buf := make([]byte, 64)
		for seq := uint64(0); !stop.Load(); seq++ {
			if _, err := c.Write(labtest.Payload(buf, seq)); err == nil {
				sent.Add(1)
			}
			time.Sleep(500 * time.Microsecond)
		}
	}))
	t.Cleanup(func() { stop.Store(true); wait() }) // if a cycle fails
	ours := map[ebpf.ProgramID]bool{}
	ourMaps := map[ebpf.MapID]bool{}
	startTook, closeTook, received = [2][]time.Duration{}, [2][]time.Duration{}, 0 // without the warm-up
	start := time.Now()
	for i := 1; i <= cycles; i++ {
		pid, mids := cycle(i, i%every == 0)
		ours[pid] = true
		for _, m := range mids {
			ourMaps[m] = true
		}
	}
	total := time.Since(start)
	stop.Store(true)
	if err := wait(); err != nil {
		t.Fatalf("pin sender: %v", err)
	}
	if len(ours) != cycles {
		t.Errorf("%d distinct program IDs over %d cycles", len(ours), cycles)
	}

	// BPF programs and maps are freed by the kernel after their last
	// reference goes (deferred work): poll for ours to disappear.
	var leftProgs, leftMaps int
	var progsAfter map[ebpf.ProgramID]bool
	var mapsAfter map[ebpf.MapID]bool
	for deadline := time.Now().Add(10 * time.Second); ; {
		progsAfter, mapsAfter = liveBPF(t)
		leftProgs, leftMaps = 0, 0
		for id := range ours {
			if progsAfter[id] {
				leftProgs++
			}
		}
		for id := range ourMaps {
			if mapsAfter[id] {
				leftMaps++
			}
		}
		if leftProgs+leftMaps == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Goroutines that finish asynchronously (the pollers' exit
	// watchers, InNS helpers) get a moment to go.
	after := measure(t)
	for deadline := time.Now().Add(5 * time.Second); after.goroutines > before.goroutines && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		after = measure(t)
	}

	t.Logf("%d cycles in %v (%v each on average); %d datagrams sent meanwhile, %d received by the cycles' pollers",
		cycles, total.Round(time.Millisecond), (total / cycles).Round(time.Microsecond), sent.Load(), received)
	for m, name := range []string{"native", "generic"} {
		t.Logf("%s attach: Start %s; Close %s", name, spread(startTook[m]), spread(closeTook[m]))
	}
	// Threads are logged, not checked: the runtime makes them as
	// blocking calls need them and never gives them back. A thread a
	// stopped poller leaves pinned to its CPU shows in "pinned".
	t.Logf("before: %v", before)
	t.Logf("after:  %v", after)
	t.Logf("BPF on the system: %d programs, %d maps before; %d programs, %d maps after (other tests load their own); of the %d programs and %d maps the cycles loaded, %d and %d are still loaded",
		len(progsBefore), len(mapsBefore), len(progsAfter), len(mapsAfter), len(ours), len(ourMaps), leftProgs, leftMaps)

	if after.fds != before.fds {
		t.Errorf("fds: %d after %d cycles, %d before", after.fds, cycles, before.fds)
	}
	for _, kind := range []string{"bpf-prog", "bpf-map", "bpf_link"} {
		if after.bpfFDs[kind] != before.bpfFDs[kind] {
			t.Errorf("%s fds: %d after, %d before", kind, after.bpfFDs[kind], before.bpfFDs[kind])
		}
	}
	if after.goroutines != before.goroutines {
		t.Errorf("goroutines: %d after, %d before\n%s", after.goroutines, before.goroutines, goroutineDump())
	}
	if leftProgs != 0 || leftMaps != 0 {
		t.Errorf("%d of the cycles' programs and %d of their maps are still loaded", leftProgs, leftMaps)
	}
	if labtest.XDPAttached(t, l) {
		t.Errorf("an XDP program is still attached to %s", l.DUTIf)
	}
	if grow := after.rssKiB - before.rssKiB; grow > rssSlack {
		t.Errorf("RSS grew by %d MiB over %d cycles (from %d MiB), want less than %d MiB",
			grow>>10, cycles, before.rssKiB>>10, rssSlack>>10)
	}
}

// spread describes durations: median, 90th percentile and maximum.
func spread(d []time.Duration) string {
	d = slices.Clone(d)
	slices.Sort(d)
	r := func(x time.Duration) string { return x.Round(10 * time.Microsecond).String() }
	return "median " + r(d[len(d)/2]) + ", p90 " + r(d[len(d)*9/10]) + ", max " + r(d[len(d)-1])
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
