package tcp

import (
	"testing"

	"github.com/rxpath/rxpath/stack/header"
)

// BenchmarkConnCost reports the Go heap per idle ESTABLISHED connection
// and per TIME_WAIT entry over 10,000 connections (MeasureConnCost), once
// per run whatever b.N.
func BenchmarkConnCost(b *testing.B) {
	var c ConnCost
	for i := 0; i < b.N; i++ {
		var err error
		if c, err = MeasureConnCost(10000); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(c.IdleBytes, "B/idle-conn")
	b.ReportMetric(c.TimeWaitBytes, "B/timewait")
	b.ReportMetric(c.RetainedBytes, "B/closed-conn")
}

// BenchmarkConnSetup is one whole connection per iteration, as under
// ab: SYN, SYN-ACK, ACK, Accept, a 100-byte request read, a 200-byte
// response written and acknowledged, the server's close, the client's
// FIN and our last ACK into TIME_WAIT.
func BenchmarkConnSetup(b *testing.B) {
	p, err := newCostPeer(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	const ports = 50000
	p.reserve(ports)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % ports
		c, err := p.open(k)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.exchange(k, c, 100, 200); err != nil {
			b.Fatal(err)
		}
		if err := p.activeClose(k, c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBatchTransmitsOnce: the ACKs a receive batch earns on several
// connections reach the link in one WritePackets call, one kick.
func TestBatchTransmitsOnce(t *testing.T) {
	p, err := newCostPeer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	p.reserve(3)
	for i := 0; i < 3; i++ {
		if _, err := p.open(i); err != nil {
			t.Fatal(err)
		}
	}
	calls := p.link.calls
	p.batchOpen = true
	for i := 0; i < 3; i++ { // each client's FIN earns an ACK
		p.send(i, header.TCPFlagACK|header.TCPFlagFIN, p.snd[i], p.rcv[i], nil, false)
	}
	if n := len(p.link.take()); n != 0 {
		t.Fatalf("%d frames sent before the batch ended", n)
	}
	p.s.EndBatch(0)
	frames := p.link.take()
	if len(frames) != 3 || p.link.calls != calls+1 {
		t.Fatalf("batch end: %d frames in %d calls, want 3 in 1", len(frames), p.link.calls-calls)
	}
	for _, f := range frames {
		th := header.TCP(f[header.EthernetSize+header.IPv4MinimumSize:])
		i := int(th.DstPort()) - 1024
		if th.Flags() != header.TCPFlagACK || th.Ack() != p.snd[i]+1 {
			t.Fatalf("frame to port %d: flags %#x ack %d, want the ACK of its FIN (%d)", th.DstPort(), th.Flags(), th.Ack(), p.snd[i]+1)
		}
	}
}
