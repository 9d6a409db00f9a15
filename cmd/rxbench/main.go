// Command rxbench compares rxpath's receive paths with kernel sockets, side
// by side in one run, so that a user can decide between them on their own
// machine.
//
//	sudo rxbench --quick --json /tmp/q.json --plot /tmp/q.png
//
// It builds a veth lab of its own (network namespaces rxb-<pid>-p and
// rxb-<pid>-d, deleted on exit, on error and on SIGINT/SIGTERM), pins the
// generator to one CPU and every receiver thread to the other, and runs
// each scenario as a warm-up then N repetitions of a fixed duration. The
// table on stdout gives min, median and max of each figure, the loss split
// by where it happened, CPU and busy time per packet, and the ratios to
// xsk-minimal (the smallest AF_XDP receiver, the fair floor on veth), to
// the XDP-drop ceiling and to kernel sockets; the goals of the benchmark
// issue follow, each pass, miss, info or not-run; the TCP rows (a kernel TCP client
// streaming to rxpath's TCP sink, or to a kernel TCP server) give goodput
// in Gbit/s and CPU per byte instead, against the kernel server; the
// stack-cost rows give the time and allocations per packet of rxpath's
// stack and gVisor's netstack, for UDP datagrams and in-order TCP
// segments; the HTTP rows give wrk's (keep-alive) and ab's (a new
// connection per request) requests per second against net/http on
// rxpath's TCP and on a kernel socket, and the conn-memory row the bytes
// per idle connection and per TIME_WAIT entry of rxpath and of the
// kernel. Progress goes to stderr. --json writes every raw figure,
// --plot a chart. See package bench/scenario for the method and
// bench/report for the figures.
//
// `rxbench gen` only sends traffic into a lab made by `rxpath lab up`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rxpath/rxpath/bench/report"
	"github.com/rxpath/rxpath/bench/scenario"
	"github.com/rxpath/rxpath/internal/harness/traffic"
)

func main() {
	os.Exit(rxbench(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1 // could not run, or a scenario failed
	exitUsage       = 2
	exitInterrupted = 130
)

func rxbench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "gen" {
		if err := genCmd(args[1:]); err != nil {
			fmt.Fprintf(stderr, "rxbench gen: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	if len(args) > 0 && args[0] == "markdown" {
		if err := markdownCmd(args[1:], stdout); err != nil {
			fmt.Fprintf(stderr, "rxbench markdown: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "rxbench: %v\n", err)
		return exitUsage
	}
	if o.isolate && !o.list {
		if os.Getenv(isolatedEnv) == "" {
			// Run again in a session of its own; the child does the work.
			return reexecIsolated(args, stderr)
		}
		if err := reniceAutogroup(o.cfg.Nice); err != nil {
			fmt.Fprintf(stderr, "rxbench: --isolate: %v\n", err)
			return exitFailed
		}
		o.cfg.Isolated = true
	}
	return run(o, stdout, stderr)
}

type options struct {
	cfg       scenario.Config
	defs      []scenario.Def
	jsonPath  string
	plotPath  string
	plotFmt   string
	list      bool
	quiet     bool
	isolate   bool
	noSignals bool // tests: leave signal handling to the test binary
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("rxbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: rxbench [flags]               run the benchmark (as root)\n       rxbench gen [flags]           send traffic into a lab made by 'rxpath lab up'\n       rxbench markdown FILE.json    print a run's figures and goals as Markdown tables (README's form)\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nscenarios: %s\n", strings.Join(scenario.Names(), ", "))
	}
	quick := fs.Bool("quick", false, "quick mode: the whole run in under two minutes (3 reps × 1s, 0.5s warm-up); without --scenarios it leaves out\nthe HTTP and conn-memory rows, whose short form adds about 25 s")
	smoke := fs.Bool("smoke", false, "smoke mode: every scenario starts and produces figures, tiny durations (for tests)")
	full := fs.Bool("full", false, "full mode (the default): 5 reps × 5s after a 2s warm-up")
	scen := fs.String("scenarios", "all", "comma-separated scenarios to run (see the list below)")
	reps := fs.Int("reps", 0, "repetitions per scenario (default: the mode's)")
	dur := fs.Duration("duration", 0, "send time of one repetition (default: the mode's)")
	warm := fs.Duration("warmup", -1, "warm-up before the repetitions (default: the mode's)")
	queues := fs.Int("queues", 1, "veth queues: queue i is sent to from CPU i and received on CPU i+1 (mod the CPU count)")
	flows := fs.Int("flows", 1, "UDP flows: source ports cycled by the generator")
	genKind := fs.String("gen", "auto", "generator: auto (the first of xdp, xsk, packet that sends a probe frame), xdp (BPF_PROG_RUN live frames),\nxsk (AF_XDP transmit) or packet (AF_PACKET sendmmsg); "+traffic.EnvLive+"=off makes auto skip live frames")
	port := fs.Uint("port", 9000, "UDP destination port")
	nice := fs.Int("nice", 0, "nice value of the generator and receiver threads (with --isolate: -20)")
	isolate := fs.Bool("isolate", false, "run in a scheduling group of its own at nice -20 (a new session, its autogroup reniced),\nso that other work on the machine barely disturbs the figures; that work gets little CPU meanwhile")
	busySpin := fs.Bool("busy-spin", false, "rxpath's pollers spin and never sleep (as `rxpath demo`); default: the adaptive policy (spin while traffic flows, sleep after real idleness)")
	stackPkts := fs.Uint64("stack-packets", 0, "packets per stack-cost repetition (default: the mode's)")
	jsonPath := fs.String("json", "", "write every raw figure as JSON to this file")
	plotPath := fs.String("plot", "", "write a chart (UDP: Mpps and CPU per packet; TCP: Gbit/s and CPU per byte; HTTP: wrk and ab req/s) to this .png or .svg file")
	list := fs.Bool("list", false, "list the scenarios and exit")
	quiet := fs.Bool("q", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	mode := "full"
	n := 0
	for m, set := range map[string]bool{"quick": *quick, "smoke": *smoke, "full": *full} {
		if set {
			mode, n = m, n+1
		}
	}
	if n > 1 {
		return options{}, errors.New("--quick, --smoke and --full exclude each other")
	}
	cfg, err := scenario.Preset(mode)
	if err != nil {
		return options{}, err
	}
	custom := false
	if *reps != 0 {
		cfg.Reps, custom = *reps, true
	}
	if *dur != 0 {
		cfg.Duration, custom = *dur, true
	}
	if *warm >= 0 {
		cfg.Warmup, custom = *warm, true
	}
	if *stackPkts != 0 {
		cfg.StackPackets, custom = *stackPkts, true
	}
	if custom {
		cfg.Mode = mode + " (adjusted)"
	}
	if *port == 0 || *port > 65535 {
		return options{}, fmt.Errorf("--port %d out of range", *port)
	}
	cfg.Queues, cfg.Flows, cfg.Generator, cfg.Port, cfg.Nice = *queues, *flows, *genKind, uint16(*port), *nice
	cfg.BusySpin = *busySpin
	niceSet := false
	fs.Visit(func(f *flag.Flag) { niceSet = niceSet || f.Name == "nice" })
	if *isolate && !niceSet {
		cfg.Nice = -20
	}
	if err := cfg.Validate(); err != nil {
		return options{}, err
	}
	defs, err := scenario.Select(*scen)
	if err != nil {
		return options{}, err
	}
	if mode == "quick" && (strings.TrimSpace(*scen) == "all" || strings.TrimSpace(*scen) == "") {
		defs = slices.DeleteFunc(defs, func(d scenario.Def) bool { return !d.QuickDefault() })
	}
	o := options{cfg: cfg, defs: defs, jsonPath: *jsonPath, plotPath: *plotPath, list: *list, quiet: *quiet, isolate: *isolate}
	if o.plotPath != "" {
		if o.plotFmt, err = report.PlotFormat(o.plotPath); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

func run(o options, stdout, stderr io.Writer) int {
	if o.list {
		for _, d := range scenario.Catalog() {
			fmt.Fprintf(stdout, "%-24s %s\n", d.Name, d.Description)
		}
		return exitOK
	}
	// Open the outputs first: a bad path should fail before minutes of
	// measuring, not after.
	var jsonF, plotF *os.File
	var err error
	if o.jsonPath != "" {
		if jsonF, err = os.Create(o.jsonPath); err != nil {
			fmt.Fprintf(stderr, "rxbench: %v\n", err)
			return exitUsage
		}
		defer jsonF.Close()
	}
	if o.plotPath != "" {
		if plotF, err = os.Create(o.plotPath); err != nil {
			fmt.Fprintf(stderr, "rxbench: %v\n", err)
			return exitUsage
		}
		defer plotF.Close()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !o.noSignals {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			s, ok := <-sigs
			if !ok {
				return
			}
			fmt.Fprintf(stderr, "\nrxbench: %v: stopping after the current repetition and deleting the lab (again to quit at once)\n", s)
			cancel()
			if _, ok := <-sigs; ok {
				if err := scenario.TearDownNow(); err != nil {
					fmt.Fprintf(stderr, "rxbench: %v\n", err)
				}
				os.Exit(exitInterrupted)
			}
		}()
	}
	if !o.quiet {
		o.cfg.Progress = stderr
	}
	start := time.Now()
	r, runErr := scenario.Run(ctx, o.cfg, o.defs)
	if r == nil {
		fmt.Fprintf(stderr, "rxbench: %v\n", runErr)
		return exitFailed
	}
	if !o.quiet {
		fmt.Fprintf(stderr, "done in %v\n\n", time.Since(start).Round(100*time.Millisecond))
	}
	code := exitOK
	if err := report.WriteTable(stdout, r); err != nil {
		fmt.Fprintf(stderr, "rxbench: %v\n", err)
		code = exitFailed
	}
	if jsonF != nil {
		if err := errors.Join(report.WriteJSON(jsonF, r), jsonF.Close()); err != nil {
			fmt.Fprintf(stderr, "rxbench: write %s: %v\n", o.jsonPath, err)
			code = exitFailed
		}
	}
	if plotF != nil {
		if err := errors.Join(report.WritePlot(plotF, r, o.plotFmt), plotF.Close()); err != nil {
			fmt.Fprintf(stderr, "rxbench: write %s: %v\n", o.plotPath, err)
			code = exitFailed
		}
	}
	for _, s := range r.Scenarios {
		if s.Status == report.StatusFailed && code == exitOK {
			code = exitFailed
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "rxbench: %v\n", runErr)
		if errors.Is(runErr, context.Canceled) {
			return exitInterrupted
		}
		return exitFailed
	}
	return code
}
