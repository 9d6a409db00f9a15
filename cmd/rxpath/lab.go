package main

import (
	"fmt"
	"io"

	"github.com/rxpath/rxpath/internal/harness/lab"
)

func labCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("lab: want 'up' or 'down'")}
	}
	cfg := lab.DefaultConfig()
	switch args[0] {
	case "up":
		fs := newFlagSet("lab up", stderr)
		fs.IntVar(&cfg.Queues, "queues", cfg.Queues, "rx/tx queues on each veth end")
		fs.IntVar(&cfg.MTU, "mtu", cfg.MTU, "MTU of both veth ends")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		l, err := lab.Up(cfg)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, l)
		return nil
	case "down":
		fs := newFlagSet("lab down", stderr)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if err := lab.Down(cfg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed netns %s and %s\n", cfg.PeerNS, cfg.DUTNS)
		return nil
	}
	return usageError{fmt.Errorf("lab: unknown subcommand %q (want up or down)", args[0])}
}
