package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rxpath/rxpath/bench/gen"
	"github.com/rxpath/rxpath/driver"
	"github.com/rxpath/rxpath/internal/affinity"
	"github.com/rxpath/rxpath/internal/engine"
	"github.com/rxpath/rxpath/internal/lab"
	"github.com/rxpath/rxpath/poller"
)

// demoCmd builds the lab, receives a burst from the live-frame generator
// on AF_XDP, prints what arrived, and always tears the lab down.
func demoCmd(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("demo", stderr)
	dur := fs.Duration("duration", 3*time.Second, "how long the generator sends")
	if err := parse(fs, args); err != nil {
		return err
	}
	step := func(format string, a ...any) { fmt.Fprintf(stdout, "==> "+format+"\n", a...) }

	cfg := lab.DefaultConfig()
	step("creating the veth lab (netns %s and %s)", cfg.PeerNS, cfg.DUTNS)
	l, err := lab.Up(cfg)
	if err != nil {
		return err
	}
	defer func() {
		step("removing the lab")
		if derr := l.Close(); derr != nil && err == nil {
			err = derr
		}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// Sender on CPU 0, poller on the last CPU: on veth the kernel's
	// receive work runs on the sending CPU.
	pollCPU := runtime.NumCPU() - 1
	var seqErr, lastSeq atomic.Uint64
	var ok atomic.Uint64
	h := func(b *poller.Batch) {
		for _, f := range b.Frames {
			if seq, good := seqOf(f.Data); good {
				if seq != lastSeq.Load()+1 && ok.Load() > 0 {
					seqErr.Add(1)
				}
				lastSeq.Store(seq)
				ok.Add(1)
			}
		}
	}
	var e *engine.Engine
	step("binding AF_XDP on %s in %s, poller pinned to CPU %d", cfg.DUTIf, cfg.DUTNS, pollCPU)
	if err := lab.InNS(l.DUTNS, func() (err error) {
		e, err = engine.Start(engine.Options{Iface: l.DUTIf, CPUs: []int{pollCPU}, Handler: h, Poller: poller.Options{IdleSpin: -1},
			Driver: driver.Options{Kind: driver.XDP}})
		return err
	}); err != nil {
		return err
	}
	defer e.Close()
	d := e.Device()
	step("attached: %s, %s", d.Kind, d.Mode)

	step("sending 60-byte UDP frames from %s for %v (BPF_PROG_RUN live frames, CPU 0)", cfg.PeerNS, *dur)
	var res gen.Result
	done := make(chan error, 1)
	go func() {
		done <- lab.InNS(l.PeerNS, func() error {
			if err := affinity.Pin(0); err != nil {
				return err
			}
			g, err := gen.New(gen.Options{
				Ifindex: l.PeerIndex, SrcMAC: l.PeerMAC, DstMAC: l.DUTMAC,
				Src: netip.AddrPortFrom(l.PeerAddr.Addr(), 9000), Dst: netip.AddrPortFrom(l.DUTAddr, 9000),
				Duration: *dur, FirstSeq: 1,
			})
			if err != nil {
				return err
			}
			defer g.Close()
			res, err = g.Run()
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case s := <-sigs:
		return fmt.Errorf("interrupted by %v", s)
	}
	time.Sleep(100 * time.Millisecond) // let the rings drain
	if err := e.Close(); err != nil {
		return err
	}
	s := e.Final()
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "generator sent   %d frames (%.3f Mpps)\n", res.Sent, res.PPS()/1e6)
	fmt.Fprintf(stdout, "rxpath received  %d frames on AF_XDP (%.3f Mpps over the send time), %d out of sequence\n",
		ok.Load(), float64(ok.Load())/res.Elapsed.Seconds()/1e6, seqErr.Load())
	fmt.Fprintf(stdout, "dropped          %d (counted by place below)\n", s.Dropped)
	fmt.Fprintln(stdout, summary(s))
	return nil
}

// seqOf returns the generator's sequence number in a UDP frame to 9000.
func seqOf(f []byte) (uint64, bool) {
	if len(f) < 50 || f[12] != 8 || f[13] != 0 || f[23] != 17 || f[36] != 0x23 || f[37] != 0x28 {
		return 0, false
	}
	var v uint64
	for _, b := range f[42:50] {
		v = v<<8 | uint64(b)
	}
	return v, true
}
