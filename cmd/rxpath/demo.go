package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rxpath/rxpath/internal/cli/demo"
)

// demoCmd is `rxpath demo` (package demo). SIGINT or SIGTERM stops it,
// removes the lab and makes it return demo.ErrInterrupted.
func demoCmd(args []string, stdout, stderr io.Writer) error {
	o := demo.Options{Out: stdout}
	fs := newFlagSet("demo", stderr)
	fs.StringVar(&o.Pcap, "pcap", "rxpath-demo.pcap", "where rxpath writes its capture (kept after the demo)")
	fs.DurationVar(&o.Burst, "udp-duration", 2*time.Second, "how long each UDP burst lasts")
	fs.Int64Var(&o.TCPBytes, "tcp-bytes", 64<<20, "bytes the TCP stream carries")
	if err := parse(fs, args); err != nil {
		return err
	}
	if o.Burst <= 0 || o.TCPBytes <= 0 {
		return usageError{errors.New("demo: --udp-duration and --tcp-bytes must be positive")}
	}
	var err error
	if o.Self, err = os.Executable(); err != nil {
		return fmt.Errorf("demo: find own binary: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return demo.Run(ctx, o)
}
