package syncookie

import "time"

// Params is what a SYN cookie carries: the options of the peer's SYN.
type Params struct {
	MSS           uint16 // the peer's maximum segment size
	WScale        uint8  // the peer's window shift count; valid if HasWScale
	HasWScale     bool
	SACKPermitted bool
	HasTS         bool // the SYN carried a timestamp option
}

// msstab holds the MSS values a cookie can carry, Linux's msstab: 536 is
// the IPv4 default, the others are common for Ethernet paths (1460), with
// PPPoE or a tunnel in the way (1440), and behind IPsec or nested tunnels
// (1300).
var msstab = [4]uint16{536, 1300, 1440, 1460}

// MaxAge bounds how long after it was sent a cookie can still pass Check.
const MaxAge = maxCookieAge * time.Minute

const (
	cookieBits = 24 // below the minute count
	cookieMask = 1<<cookieBits - 1
	countMask  = 1<<(32-cookieBits) - 1
	// mssShift places the MSS index in the top two bits of the 24-bit
	// field; the 22 bits below must come out zero.
	mssShift = cookieBits - 2
	dataMask = 1<<mssShift - 1

	// maxCookieAge is how many minute counts a cookie is accepted for
	// (Linux's MAX_SYNCOOKIE_AGE): the one it was made in and the next.
	maxCookieAge = 2

	// The low tsBits bits of the SYN-ACK's TSval carry options, as in
	// Linux's cookie_init_timestamp (where bit 5 is ECN; it is zero here).
	tsBits      = 6
	tsOptMask   = 1<<tsBits - 1
	tsOptWScale = 0xf // the shift count, or tsOptWScale for none
	tsOptSACK   = 1 << 4
	// maxTSAge bounds how old, in milliseconds, an echoed cookie TSval may
	// be: a cookie lives less than maxCookieAge minutes, and its TSval is
	// up to 2<<tsBits ms behind the clock when it is made.
	maxTSAge = maxCookieAge*60*1000 + 2<<tsBits

	maxWScale = 14 // RFC 7323 §2.3
)

// Cookie returns the ISN of a cookie SYN-ACK answering the SYN of t with
// sequence number synSeq and options p, made at now. If p.HasTS it also
// returns the SYN-ACK's TSval, carrying the window scale and
// SACK-permitted in its low 6 bits, TSOffset(t) included; otherwise tsval
// is zero. enc is what the cookie carries and Check will return: the MSS
// rounded down to a table entry (536 if p.MSS is smaller), the window
// scale capped at 14, and, without timestamps, no window scale and no
// SACK. Build the SYN-ACK's options from enc.
func (g *Generator) Cookie(t Tuple, synSeq uint32, p Params, now time.Time) (isn, tsval uint32, enc Params) {
	idx := 0
	for i := len(msstab) - 1; i > 0; i-- {
		if p.MSS >= msstab[i] {
			idx = i
			break
		}
	}
	enc.MSS = msstab[idx]

	var b hashInput
	b.set(t)
	var ts uint32 // the TSval without the offset
	if p.HasTS {
		enc.HasTS = true
		opts := uint32(tsOptWScale)
		if p.HasWScale {
			enc.HasWScale = true
			enc.WScale = min(p.WScale, maxWScale)
			opts = uint32(enc.WScale)
		}
		if p.SACKPermitted {
			enc.SACKPermitted = true
			opts |= tsOptSACK
		}
		// The clock with its low bits replaced by the options, never
		// ahead of the clock, so the connection's next TSval is larger.
		ms := g.tsNow(now)
		ts = ms&^tsOptMask | opts
		if int32(ts-ms) > 0 {
			ts -= 1 << tsBits
		}
		tsval = ts + g.tsoff.sum32(b.addrs())
	}

	count := g.ticks(now, time.Minute)
	isn = g.c1.sum32(b.tuple()) + synSeq + count<<cookieBits +
		(g.c2.sum32(b.withCount(count, p.HasTS, ts))+uint32(idx)<<mssShift)&cookieMask
	return isn, tsval, enc
}

// Check validates the ACK completing a cookie handshake for t at now: seq
// and ack are the segment's sequence and acknowledgment numbers (the SYN's
// sequence number plus one, the cookie plus one), hasTS tells whether it
// carries a timestamp option and tsecr is that option's echoed value. It
// returns the Params the cookie carries, equal to Cookie's enc, and
// whether the cookie is valid: made by this Generator for t and that SYN
// less than two minutes ago, with the timestamp option present if and
// only if the SYN-ACK had one, and TSecr echoing its TSval.
func (g *Generator) Check(t Tuple, seq, ack uint32, hasTS bool, tsecr uint32, now time.Time) (Params, bool) {
	var b hashInput
	b.set(t)
	// (ack-1) - hash1 - (seq-1) leaves count<<24 + the 24-bit field.
	c := ack - seq - g.c1.sum32(b.tuple())
	count := g.ticks(now, time.Minute)
	diff := (count - c>>cookieBits) & countMask
	if diff >= maxCookieAge {
		return Params{}, false
	}

	var ts, opts uint32
	if hasTS {
		ts = tsecr - g.tsoff.sum32(b.addrs())
		if g.tsNow(now)-ts > maxTSAge { // a TSval from the future wraps to a large age
			return Params{}, false
		}
		opts = ts & tsOptMask
		if opts&^(tsOptWScale|tsOptSACK) != 0 {
			return Params{}, false
		}
	}

	data := (c - g.c2.sum32(b.withCount(count-diff, hasTS, ts))) & cookieMask
	if data&dataMask != 0 {
		return Params{}, false
	}
	p := Params{MSS: msstab[data>>mssShift&3], HasTS: hasTS}
	if hasTS {
		p.SACKPermitted = opts&tsOptSACK != 0
		if ws := opts & tsOptWScale; ws != tsOptWScale {
			p.HasWScale = true
			p.WScale = uint8(ws)
		}
	}
	return p, true
}

// EchoesCookieTS reports whether tsecr, the TSecr of a segment from the
// peer of t, can be the TSval of a cookie SYN-ACK this Generator sent to
// that peer less than MaxAge before now: the timestamp half of a cookie,
// which does not depend on the SYN's sequence number. An ACK whose cookie
// fails only because its sequence number moved on (a client whose first
// flight was lost, answering with a challenge ACK) still has it. TSOffset
// keys it to the address pair, so it cannot be guessed blind (a random
// value passes about once in 2^16), but it does not tell one connection
// of the pair from another.
func (g *Generator) EchoesCookieTS(t Tuple, tsecr uint32, now time.Time) bool {
	var b hashInput
	b.set(t)
	ts := tsecr - g.tsoff.sum32(b.addrs())
	if g.tsNow(now)-ts > maxTSAge {
		return false
	}
	return ts&tsOptMask&^(tsOptWScale|tsOptSACK) == 0
}
