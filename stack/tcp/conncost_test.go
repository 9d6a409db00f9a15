package tcp

import "testing"

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
