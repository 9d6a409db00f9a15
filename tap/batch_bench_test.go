package tap

import (
	"io"
	"testing"
	"time"
)

// BenchmarkCaptureBatch offers 64-frame batches the way the root
// package's tap stage does: Capture for each frame, then EndBatch, as
// fast as it can, into io.Discard. It reports ns and drops per frame; the
// drops say how far the writer goroutine, woken per buffer, falls behind
// a producer that does nothing but capture.
func BenchmarkCaptureBatch(b *testing.B) {
	const batch = 64
	frames := testFrames(b, batch)
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"noexpr", Options{}},
		{"expr", Options{Expr: "tcp and (port 80 or port 443) or udp portrange 50-60 or arp"}},
		{"pcapng", Options{Format: PCAPNG}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp, err := New(io.Discard, bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer tp.Close()
			b.ReportAllocs()
			for b.Loop() {
				for _, f := range frames {
					tp.Capture(f, 0)
				}
				tp.EndBatch(0)
			}
			b.StopTimer()
			st := tp.Stats()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(st.Seen, 1)), "ns/frame")
			b.ReportMetric(float64(st.Dropped)/float64(max(st.Seen, 1)), "drop/frame")
		})
	}
}

// BenchmarkCapturePaced offers 64-frame batches at a fixed frame rate,
// spinning between batches as a busy poller does, and reports the drops
// per frame: whether the writer keeps up at rates a poller reaches.
func BenchmarkCapturePaced(b *testing.B) {
	const batch = 64
	frames := testFrames(b, batch)
	for _, bc := range []struct {
		name string
		mpps float64
		opts Options
	}{
		{"1Mpps", 1, Options{}},
		{"8Mpps", 8, Options{}},
		{"8Mpps-pcapng", 8, Options{Format: PCAPNG}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp, err := New(io.Discard, bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer tp.Close()
			b.ReportAllocs()
			every := time.Duration(float64(batch) / bc.mpps * 1e3)
			next := time.Now()
			for b.Loop() {
				for time.Now().Before(next) {
				}
				next = next.Add(every)
				for _, f := range frames {
					tp.Capture(f, 0)
				}
				tp.EndBatch(0)
			}
			b.StopTimer()
			st := tp.Stats()
			b.ReportMetric(float64(st.Dropped)/float64(max(st.Seen, 1)), "drop/frame")
		})
	}
}
