package syncookie

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/dchest/siphash"
)

// MinSecretLen is the shortest Options.Secret that New accepts.
const MinSecretLen = 16

// Tuple names a connection from the peer's point of view, as it appears in
// the peer's SYN: Src is the peer (remote), Dst is us (local).
type Tuple struct {
	SrcAddr, DstAddr [4]byte
	SrcPort, DstPort uint16
}

// Options configures a Generator. The zero value is ready to use.
type Options struct {
	// Clock returns the current time; time.Now if nil. It must be safe for
	// concurrent use. Only differences between its readings matter.
	Clock func() time.Time
	// Secret keys every hash. If empty, New draws 32 random bytes from
	// crypto/rand. Otherwise it must hold at least MinSecretLen bytes;
	// generators with the same secret (and clock) agree on every value.
	Secret []byte
}

// sipKey is a 128-bit SipHash key.
type sipKey struct{ k0, k1 uint64 }

func (k sipKey) sum32(b []byte) uint32 { return uint32(siphash.Hash(k.k0, k.k1, b)) }

// Generator computes ISNs, timestamp offsets and SYN cookies. It is
// immutable after New and safe for concurrent use.
type Generator struct {
	clock func() time.Time
	// epoch is the clock's reading at New; every counter (the 4 µs ISN
	// clock, the millisecond timestamp clock, the cookie's minute count)
	// counts from it, so a monotonic clock reading makes them immune to
	// wall-clock steps.
	epoch time.Time

	isn, tsoff sipKey // RFC 6528's F; secure_tcp_ts_off
	c1, c2     sipKey // the cookie's hash1 and hash2
}

// New returns a Generator. It panics if o.Secret is non-empty but shorter
// than MinSecretLen: a weak secret is a programming error that would make
// cookies forgeable, and New has no error to return.
func New(o Options) *Generator {
	clock := o.Clock
	if clock == nil {
		clock = time.Now
	}
	secret := o.Secret
	switch {
	case len(secret) == 0:
		secret = make([]byte, 32)
		rand.Read(secret) // never fails (crypto/rand crashes the program instead)
	case len(secret) < MinSecretLen:
		panic("syncookie: Options.Secret is shorter than MinSecretLen")
	}
	// One independent key per use, so that no value we send (an ISN, a
	// TSval) tells anything about the keys of the others.
	k, err := hkdf.Key(sha256.New, secret, nil, "rxpath tcp syncookie v1", 4*16)
	if err != nil {
		panic("syncookie: derive keys: " + err.Error())
	}
	key := func(i int) sipKey {
		return sipKey{binary.LittleEndian.Uint64(k[16*i:]), binary.LittleEndian.Uint64(k[16*i+8:])}
	}
	return &Generator{
		clock: clock,
		epoch: clock(),
		isn:   key(0),
		tsoff: key(1),
		c1:    key(2),
		c2:    key(3),
	}
}

// hashInput is the bytes hashed for a tuple: the 4-tuple in the first 12
// bytes; for the cookie's hash2, the minute count, the TSval and whether
// there is one after it.
type hashInput [21]byte

func (b *hashInput) set(t Tuple) {
	copy(b[0:4], t.SrcAddr[:])
	copy(b[4:8], t.DstAddr[:])
	binary.BigEndian.PutUint16(b[8:10], t.SrcPort)
	binary.BigEndian.PutUint16(b[10:12], t.DstPort)
}

func (b *hashInput) addrs() []byte { return b[0:8] }
func (b *hashInput) tuple() []byte { return b[0:12] }

func (b *hashInput) withCount(count uint32, hasTS bool, ts uint32) []byte {
	binary.BigEndian.PutUint32(b[12:16], count)
	binary.BigEndian.PutUint32(b[16:20], ts)
	b[20] = 0
	if hasTS {
		b[20] = 1
	}
	return b[0:21]
}

// ticks returns how many whole units have passed between the Generator's
// epoch and now, rounded towards minus infinity, modulo 2^32.
func (g *Generator) ticks(now time.Time, unit time.Duration) uint32 {
	d := now.Sub(g.epoch)
	q := d / unit
	if d%unit < 0 {
		q--
	}
	return uint32(q)
}

// ISN returns the initial sequence number for a connection: M + F(t) with
// M a clock ticking every 4 µs and F SipHash-2-4 of the 4-tuple under the
// Generator's secret (RFC 6528 §3).
func (g *Generator) ISN(t Tuple) uint32 {
	var b hashInput
	b.set(t)
	return g.ticks(g.clock(), 4*time.Microsecond) + g.isn.sum32(b.tuple())
}

// TSOffset returns the offset the caller adds to TSNow for every TSval it
// sends on connection t, so timestamps do not leak the clock: a keyed hash
// of the address pair (the ports are ignored), as Linux's
// secure_tcp_ts_off. Cookie's tsval already includes it.
func (g *Generator) TSOffset(t Tuple) uint32 {
	var b hashInput
	b.set(t)
	return g.tsoff.sum32(b.addrs())
}

// TSNow returns the millisecond TCP timestamp clock (RFC 7323), read from
// the Clock. A connection t sends TSNow() + TSOffset(t) as its TSval.
func (g *Generator) TSNow() uint32 { return g.tsNow(g.clock()) }

func (g *Generator) tsNow(now time.Time) uint32 { return g.ticks(now, time.Millisecond) }
