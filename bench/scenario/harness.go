package scenario

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/bench/stackcost"
	"github.com/rxpath/rxpath/driver/replay"
	"github.com/rxpath/rxpath/internal/sys/sysstat"
)

// liveRunner runs live scenarios on a lab; newLive makes one per run
// (Linux) or reports why it cannot.
type liveRunner interface {
	// Describe names the lab and the generator, for the report, with
	// the generator methods passed over and why.
	Describe() (lab, generator string, refused []string)
	// Run measures one live scenario into row.
	Run(ctx context.Context, d Def, row *report.Scenario) error
	// Close deletes the lab. It is idempotent.
	Close() error
}

// Run runs defs with cfg and returns the report, finalized. Rows that
// fail carry their reason; Run returns an error only when nothing could be
// measured as asked (bad config) or when ctx was cancelled (the rows not
// reached are marked "not run" and the report is still returned).
func Run(ctx context.Context, cfg Config, defs []Def) (*report.Run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ncpu := runtime.NumCPU()
	r := &report.Run{
		Tool: "rxbench",
		Settings: report.Settings{
			Mode: cfg.Mode, Reps: cfg.Reps, DurationNS: int64(cfg.Duration), WarmupNS: int64(cfg.Warmup),
			Queues: cfg.Queues, Flows: cfg.Flows, Generator: cfg.Generator, StackPackets: cfg.StackPackets, Nice: cfg.Nice, Isolated: cfg.Isolated, BusySpin: cfg.BusySpin,
		},
		Machine: machine(),
	}
	for q := range cfg.Queues {
		r.Settings.GenCPUs = append(r.Settings.GenCPUs, GenCPU(q, ncpu))
		r.Settings.RxCPUs = append(r.Settings.RxCPUs, RxCPU(q, ncpu))
	}
	if ncpu < 2 {
		r.Notes = append(r.Notes, "only one CPU: generator and receiver share it, so rates are not comparable with a 2-CPU run")
	}
	for _, d := range defs {
		r.Settings.Scenarios = append(r.Settings.Scenarios, d.Name)
		r.Scenarios = append(r.Scenarios, report.Scenario{
			Name: d.Name, Kind: d.Kind, Proto: d.Proto, Description: d.Description, FrameLen: d.FrameLen, Status: report.StatusNotRun,
		})
	}
	p := progress{w: cfg.Progress, n: len(defs)}

	var live liveRunner
	var liveErr error
	defer func() {
		if live != nil { // a panic: still delete the lab
			live.Close()
		}
	}()
	var runErr error
	for i, d := range defs {
		row := &r.Scenarios[i]
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		p.start(i, d)
		switch {
		case d.run != nil:
			runOwn(ctx, cfg, d, row, &p)
		case d.Kind == report.KindStackCost:
			runCost(cfg, d, row, &p)
		default:
			if live == nil && liveErr == nil {
				p.printf("  building the lab")
				live, liveErr = newLive(cfg, &p)
				if liveErr == nil {
					r.Settings.Lab, r.Settings.Generator, r.Settings.GeneratorRefused = live.Describe()
				}
			}
			if liveErr != nil {
				row.Status, row.Reason = report.StatusFailed, liveErr.Error()
				p.printf("  failed: %v", liveErr)
				continue
			}
			err := live.Run(ctx, d, row)
			switch {
			case err == nil:
				row.Status = report.StatusOK
			case ctx.Err() != nil:
				row.Status, row.Reason = report.StatusNotRun, "interrupted"
				row.Reps = nil
				runErr = ctx.Err()
			default:
				row.Status, row.Reason = report.StatusFailed, err.Error()
				p.printf("  failed: %v", err)
			}
		}
		if runErr != nil {
			break
		}
	}
	if live != nil {
		if err := live.Close(); err != nil {
			r.Notes = append(r.Notes, "tearing the lab down: "+err.Error())
		}
		live = nil
	}
	if runErr != nil {
		r.Notes = append(r.Notes, "interrupted: the rows marked \"not run\" were not measured")
	}
	r.Machine.LoadAvgEnd = sysstat.LoadAvg()
	r.Machine.Finished = time.Now()
	r.Finalize()
	return r, runErr
}

// runOwn runs a row that brings its own runner (Def.run).
func runOwn(ctx context.Context, cfg Config, d Def, row *report.Scenario, p *progress) {
	err := d.run(ctx, cfg, row, p)
	switch {
	case err == nil:
		row.Status = report.StatusOK
	case ctx.Err() != nil:
		row.Status, row.Reason, row.Reps = report.StatusNotRun, "interrupted", nil
	default:
		row.Status, row.Reason, row.Reps = report.StatusFailed, err.Error(), nil
		p.printf("  failed: %v", err)
	}
}

func runCost(cfg Config, d Def, row *report.Scenario, p *progress) {
	ncpu := runtime.NumCPU()
	o := stackcost.Options{Packets: cfg.StackPackets, Reps: cfg.Reps, Pin: ncpu > 1, CPU: RxCPU(0, ncpu), Nice: cfg.Nice}
	var err error
	switch d.recv {
	case costRxpathTCP, costGVisorTCP:
		newSink, how := stackcost.NewRxpathTCP, "Conn.Read"
		if d.recv == costGVisorTCP {
			newSink, how = stackcost.NewGVisorTCP, "Read, gVisor's TCP processor goroutines"
		}
		row.Receiver = "feed queue → poller → stack, one thread; handshake, then in-order segments read with " + how
		row.Cost, err = stackcost.MeasureTCP(newSink, o)
	default:
		var frames []replay.Packet
		frames, err = stackcost.FrameSet(4096, d.FrameLen, max(cfg.Flows, 64))
		if err == nil {
			newSink := stackcost.NewRxpath
			if d.recv == costGVisor {
				newSink = stackcost.NewGVisor
			}
			row.Receiver = "replay driver → poller → stack, one thread"
			row.Cost, err = stackcost.Measure(frames, newSink, o)
		}
	}
	if err != nil {
		row.Status, row.Reason, row.Cost = report.StatusFailed, err.Error(), nil
		p.printf("  failed: %v", err)
		return
	}
	row.Status = report.StatusOK
	for i, c := range row.Cost {
		p.printf("  rep %d/%d: %d packets, %.1f ns/pkt, %.1f CPU ns/pkt, %.2f allocs/pkt", i+1, len(row.Cost), c.Packets,
			c.NSPerPacket(), c.CPUNSPerPacket(), c.AllocsPerPacket())
	}
}

func machine() report.Machine {
	return report.Machine{
		Kernel:       kernelRelease(),
		CPUs:         runtime.NumCPU(),
		GoVersion:    runtime.Version(),
		LoadAvgStart: sysstat.LoadAvg(),
		Started:      time.Now(),
	}
}

type progress struct {
	w io.Writer
	n int
}

func (p *progress) start(i int, d Def) {
	p.printf("[%d/%d] %s — %s", i+1, p.n, d.Name, d.Description)
}

func (p *progress) printf(format string, a ...any) {
	if p.w == nil {
		return
	}
	fmt.Fprintf(p.w, format+"\n", a...)
}
