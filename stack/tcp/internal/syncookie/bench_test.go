package syncookie_test

import (
	"testing"

	"github.com/rxpath/rxpath/stack/tcp/internal/syncookie"
)

func BenchmarkISN(b *testing.B) {
	g := syncookie.New(syncookie.Options{})
	b.ReportAllocs()
	for b.Loop() {
		g.ISN(tuple)
	}
}

func BenchmarkCookie(b *testing.B) {
	g := syncookie.New(syncookie.Options{})
	for _, bc := range []struct {
		name string
		p    syncookie.Params
	}{
		{"mss", syncookie.Params{MSS: 1460}},
		{"ts", syncookie.Params{MSS: 1460, HasTS: true, HasWScale: true, WScale: 7, SACKPermitted: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var seq uint32
			for b.Loop() {
				seq++
				g.Cookie(tuple, seq, bc.p, t0)
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	g := syncookie.New(syncookie.Options{})
	p := syncookie.Params{MSS: 1460, HasTS: true, HasWScale: true, WScale: 7, SACKPermitted: true}
	isn, tsval, _ := g.Cookie(tuple, 1, p, t0)
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := g.Check(tuple, 2, isn+1, true, tsval, t0); !ok {
				b.Fatal("rejected")
			}
		}
	})
	// A flood of blind ACKs: most fail after the first hash.
	b.Run("random", func(b *testing.B) {
		b.ReportAllocs()
		var ack uint32
		for b.Loop() {
			ack += 0x9e3779b9
			g.Check(tuple, 2, ack, false, 0, t0)
		}
	})
}
