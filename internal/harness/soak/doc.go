// Package soak is the long-running check of issue 8: the real `rxpath run`
// binary, with the whole stack, under mixed legitimate and hostile traffic
// for minutes or hours, watched from outside for memory growth, frame
// leaks and lost data.
//
// TestSoak builds cmd/rxpath, starts `rxpath run --driver xdp --ip ...
// --udp-sink --tcp-sink --port-unreachable --metrics 127.0.0.1:0 --json
// --cpus 1` in the DUT namespace of a veth lab (labtest.New), and drives it
// from the kernel in the peer namespace, every generator pinned to CPU 0
// and the poller to CPU 1:
//
//   - legitimate: sequenced UDP datagrams to the UDP sink at a fixed rate,
//     and kernel TCP clients that open connections one after another, each
//     streaming a few MiB of pseudo-random data at a fixed rate and
//     recording its SHA-256;
//   - hostile, at a low rate: hping3 SYNs from random sources to the TCP
//     sink's port, UDP to closed ports, first and last IPv4 fragments that
//     never complete, ARP requests from made-up neighbours, and random
//     garbage frames (labtest.RawSender).
//
// Every interval (RXPATH_SOAK_INTERVAL) it takes a Sample, and one more
// once the traffic has stopped, the sinks are quiet and the flood's
// half-open connections have timed out: the process's
// VmRSS from /proc, and from the metrics endpoint the Go heap in use, the
// goroutine count, the UMEM ledger of the queue and the counters named in
// Counters (frames, drops by place, UDP and TCP delivery, SYN cookies,
// reassembly, ICMP sent and suppressed). Samples go to soak.csv; at the end
// WritePlot draws soak.png and the verdicts go to summary.txt, all in
// RXPATH_SOAK_OUT (a temporary directory by default). Next to them are
// two heap profiles of live objects (rxpath runs with --pprof), one at the
// end of the warm-up and one once drained: `go tool pprof -diff_base
// heap-warm.pb.gz heap-end.pb.gz` names whatever memory grew by.
//
// The pass criteria, each computed by a function here so that it is
// tested on its own:
//
//   - memory is flat (Flat): after the warm-up, the peak RSS, Go heap and
//     goroutine count over the last third of the samples under traffic
//     stay within a slack of their peak over the first third (short soaks
//     run rxpath with GOGC=25 so that the heap's peaks follow its live
//     size; see soakConfigFromEnv);
//   - the ledger balances at every sample (Ledger.Balanced); once the
//     traffic has stopped no frame is held and no connection is left (the
//     SYN queue drains within 90 s); after rxpath exits every frame is
//     free and ledger_error is empty;
//   - every TCP stream arrives exact (MatchStreams): each client's byte
//     count and SHA-256 appear in the sink's summary, complete, and the
//     sink has no other connection;
//   - every UDP datagram sent is either delivered to the sink or counted
//     missing by its sequence check (AccountUDP), and the missing ones are
//     no more than the drops counted by rxpath and the two veth ends.
//
// The ledger's four counts are separate atomics that the poller updates
// while a scrape reads them one by one, so a sample taken mid-move can be
// torn: off by the frames in flight. A sample that does not add up is read
// again (up to MaxLedgerRereads times); a real imbalance persists, a torn
// read does not. The number of re-reads is a CSV column.
//
// The package's own code (samples, CSV, criteria, plot) is plain Go with
// no privilege; TestSoak and its traffic generators are Linux-only test
// files. `make test` runs a 2-minute soak; `make soak DURATION=30m` a long one
// into soak-out/.
package soak
