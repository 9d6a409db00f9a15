package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/rxpath/rxpath/internal/harness/lab"
	"github.com/rxpath/rxpath/internal/harness/traffic"
	"github.com/rxpath/rxpath/internal/sys/affinity"
)

// genCmd sends sequenced UDP frames from the lab's peer to its DUT with the
// generator --gen chooses (auto: the fastest that sends a probe frame).
func genCmd(args []string) error {
	fs := flag.NewFlagSet("rxbench gen", flag.ContinueOnError)
	count := fs.Uint64("count", 0, "frames to send (0: use --duration)")
	duration := fs.Duration("duration", 5*time.Second, "how long to send when --count is 0")
	size := fs.Int("size", 60, "frame length without FCS")
	cpu := fs.Int("cpu", 0, "CPU to send from (-1: unpinned)")
	port := fs.Int("port", 9000, "UDP destination port")
	method := fs.String("gen", "auto", "generator: auto (the first of xdp, xsk, packet that sends a probe frame), xdp, xsk or packet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := traffic.ParseMethod(*method); err != nil {
		return err
	}
	l, err := lab.Open(lab.DefaultConfig())
	if err != nil {
		return fmt.Errorf("open lab (run 'rxpath lab up' first): %w", err)
	}
	o := traffic.Options{
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
	var res traffic.Result
	var kind string
	err = lab.InNS(l.PeerNS, func() error {
		if *cpu >= 0 {
			runtime.LockOSThread() // InNS already holds the thread; pin it
			if err := affinity.Pin(*cpu); err != nil {
				return err
			}
		}
		g, err := traffic.Open(o, *method, func(r traffic.Refusal) { fmt.Fprintln(os.Stderr, r) })
		if err != nil {
			return err
		}
		defer g.Close()
		kind = g.Kind()
		res, err = g.Send(o.Count, o.Duration)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("%s: sent %d frames of %d bytes in %v: %.3f Mpps\n", kind, res.Sent, *size, res.Elapsed.Round(time.Millisecond), res.PPS()/1e6)
	return nil
}
