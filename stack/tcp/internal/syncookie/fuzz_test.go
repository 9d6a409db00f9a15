package syncookie_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rxpath/rxpath/stack/tcp/internal/syncookie"
)

// FuzzCheck feeds Check arbitrary ACKs, which must never panic, never
// validate under two independent secrets at once (a forgery that works
// without the secret would), and never validate with timestamps (a blind
// forgery has about 2^-45 odds there; without timestamps it has 2^-29,
// too likely for a long fuzzing run to assert). The same inputs also make
// a genuine cookie, which must round-trip, and fail under the other
// secret when timestamps are on.
func FuzzCheck(f *testing.F) {
	f.Add(uint32(0xc0000201), uint32(0xc6336407), uint16(40000), uint16(443), uint32(1), uint32(0x12345678), false, uint32(0), int64(0), uint16(1460), uint8(0x37))
	f.Add(uint32(0), uint32(0), uint16(0), uint16(0), uint32(0), uint32(0), true, uint32(0), int64(-1), uint16(0), uint8(0))
	f.Add(uint32(0xffffffff), uint32(0xffffffff), uint16(0xffff), uint16(0xffff), uint32(0xffffffff), uint32(0xffffffff), true, uint32(0xffffffff), int64(1)<<62, uint16(0xffff), uint8(0xff))
	ga, _ := newGen(secretA)
	gb, _ := newGen(secretB)
	f.Fuzz(func(t *testing.T, src, dst uint32, sport, dport uint16, seq, ack uint32, hasTS bool, tsecr uint32, elapsedMS int64, mss uint16, opts uint8) {
		u := syncookie.Tuple{
			SrcAddr: [4]byte{byte(src >> 24), byte(src >> 16), byte(src >> 8), byte(src)},
			DstAddr: [4]byte{byte(dst >> 24), byte(dst >> 16), byte(dst >> 8), byte(dst)},
			SrcPort: sport, DstPort: dport,
		}
		now := t0.Add(time.Duration(elapsedMS) * time.Millisecond)

		pa, oka := ga.Check(u, seq, ack, hasTS, tsecr, now)
		_, okb := gb.Check(u, seq, ack, hasTS, tsecr, now)
		if oka {
			wellFormed(t, pa, hasTS)
			if okb {
				t.Fatalf("random ACK valid under two secrets: %+v", pa)
			}
			if hasTS {
				t.Fatalf("random ACK with timestamps valid: %+v", pa)
			}
		}

		p := syncookie.Params{MSS: mss, WScale: opts & 0x1f, HasWScale: opts&0x20 != 0, SACKPermitted: opts&0x40 != 0, HasTS: hasTS}
		isn, tsval, enc := ga.Cookie(u, seq-1, p, now)
		wellFormed(t, enc, hasTS)
		later := now.Add(time.Duration(ack%60_000) * time.Millisecond)
		got, ok := ga.Check(u, seq, isn+1, hasTS, tsval, later)
		if !ok {
			t.Fatalf("genuine cookie for %+v rejected %v later", p, later.Sub(now))
		}
		if d := cmp.Diff(enc, got); d != "" {
			t.Fatalf("round trip (-enc +got):\n%s", d)
		}
		if _, ok := gb.Check(u, seq, isn+1, hasTS, tsval, later); ok && hasTS {
			t.Fatalf("cookie with timestamps valid under another secret")
		}
	})
}

func wellFormed(t *testing.T, p syncookie.Params, hasTS bool) {
	t.Helper()
	if !slices.Contains(msstab, p.MSS) || p.HasTS != hasTS || p.WScale > 14 ||
		(!p.HasWScale && p.WScale != 0) || (!hasTS && (p.HasWScale || p.SACKPermitted)) {
		t.Fatalf("malformed Params %+v (hasTS %v)", p, hasTS)
	}
}
