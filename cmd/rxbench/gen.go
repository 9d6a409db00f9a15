package main

import (
	"flag"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/bench/gen"
	"github.com/rxpath/rxpath/internal/affinity"
	"github.com/rxpath/rxpath/internal/lab"
)

// genCmd sends sequenced UDP frames from the lab's peer to its DUT with the
// live-frame XDP generator.
func genCmd(args []string) error {
	fs := flag.NewFlagSet("rxbench gen", flag.ContinueOnError)
	count := fs.Uint64("count", 0, "frames to send (0: use --duration)")
	duration := fs.Duration("duration", 5*time.Second, "how long to send when --count is 0")
	size := fs.Int("size", 60, "frame length without FCS")
	cpu := fs.Int("cpu", 0, "CPU to send from (-1: unpinned)")
	port := fs.Int("port", 9000, "UDP destination port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := lab.Open(lab.DefaultConfig())
	if err != nil {
		return fmt.Errorf("open lab (run 'rxpath lab up' first): %w", err)
	}
	o := gen.Options{
		Ifindex:  l.PeerIndex,
		SrcMAC:   l.PeerMAC,
		DstMAC:   l.DUTMAC,
		Src:      netip.AddrPortFrom(l.PeerAddr.Addr(), 9000),
		Dst:      netip.AddrPortFrom(l.DUTAddr, uint16(*port)),
		FrameLen: *size,
		Count:    *count,
	}
	if *count == 0 {
		o.Duration = *duration
	}
	var res gen.Result
	err = lab.InNS(l.PeerNS, func() error {
		if *cpu >= 0 {
			runtime.LockOSThread() // InNS already holds the thread; pin it
			if err := affinity.Pin(*cpu); err != nil {
				return err
			}
		}
		g, err := gen.New(o)
		if err != nil {
			return err
		}
		defer g.Close()
		res, err = g.Run()
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("sent %d frames of %d bytes in %v: %.3f Mpps\n", res.Sent, *size, res.Elapsed.Round(time.Millisecond), res.PPS()/1e6)
	return nil
}
