package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  rxpath lab up [--queues N] [--mtu M]   create the veth lab (netns rxp-peer and rxp-dut)
  rxpath lab down                        remove it
  rxpath run --iface IF [flags]          receive on IF and print stats (run 'rxpath run -h')
  rxpath stats [--once] ADDR             print the stats of a run started with --metrics ADDR
  rxpath demo                            lab up, rxpath run with every service, ping/UDP/TCP/curl from kernel peers, report, lab down
`

func main() {
	os.Exit(mainCmd(os.Args[1:], os.Stdout, os.Stderr))
}

// rxpath runs the command line args and returns the exit code.
func mainCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "lab":
		err = labCmd(args[1:], stdout, stderr)
	case "run":
		err = runCmd(args[1:], stdout, stderr)
	case "stats":
		err = statsCmd(args[1:], stdout, stderr)
	case "demo":
		err = demoCmd(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "rxpath: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "rxpath: %v\n", err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "rxpath: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}
