package cc

import "time"

// Default bounds of the retransmission timeout, Linux's TCP_RTO_MIN,
// TCP_RTO_MAX and TCP_TIMEOUT_INIT.
const (
	DefaultMinRTO     = 200 * time.Millisecond
	DefaultMaxRTO     = 120 * time.Second
	DefaultInitialRTO = time.Second
)

// ClockGranularity is G of RFC 6298: the variance term of the timeout is
// never smaller than this.
const ClockGranularity = time.Millisecond

// RTO estimates the retransmission timeout of one connection as RFC 6298
// does, with Linux's bounds: a 200ms floor instead of the RFC's 1s, and a
// 120s ceiling.
//
// Before the first sample the timeout is the initial one. The first sample
// R sets SRTT = R and RTTVAR = R/2; later samples R' update
//
//	RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|
//	SRTT   = 7/8 SRTT   + 1/8 R'
//
// and in both cases RTO = SRTT + max(G, 4 RTTVAR), clamped to [min, max].
// Each Backoff doubles the timeout (RFC 6298 5.5), still clamped to max,
// until the next sample resets it.
//
// Use NewRTO; the zero value behaves as NewRTO(0, 0, 0). An RTO is not safe
// for concurrent use.
type RTO struct {
	min, max, initial time.Duration

	srtt, rttvar time.Duration
	base         time.Duration // SRTT + max(G, 4 RTTVAR), unclamped
	sampled      bool
	backoffs     int
}

// NewRTO returns an estimator with the given bounds and the timeout to use
// before the first sample. A zero (or negative) argument selects its default:
// DefaultMinRTO, DefaultMaxRTO, DefaultInitialRTO. A max below min is raised
// to min.
func NewRTO(min, max, initial time.Duration) RTO {
	if min <= 0 {
		min = DefaultMinRTO
	}
	if max <= 0 {
		max = DefaultMaxRTO
	}
	if max < min {
		max = min
	}
	if initial <= 0 {
		initial = DefaultInitialRTO
	}
	return RTO{min: min, max: max, initial: initial}
}

func (r *RTO) bounds() (min, max time.Duration) {
	if r.min == 0 && r.max == 0 { // the zero value
		d := NewRTO(0, 0, r.initial)
		r.min, r.max, r.initial = d.min, d.max, d.initial
	}
	return r.min, r.max
}

// Sample feeds one valid round-trip time measurement (RFC 6298 2.2 and 2.3)
// and resets the backoff. The caller is responsible for its validity: Karn's
// rule, or an echoed timestamp. A negative sample is ignored.
func (r *RTO) Sample(rtt time.Duration) {
	if rtt < 0 {
		return
	}
	r.bounds()
	if !r.sampled {
		r.srtt = rtt
		r.rttvar = rtt / 2
		r.sampled = true
	} else {
		delta := r.srtt - rtt
		if delta < 0 {
			delta = -delta
		}
		r.rttvar += (delta - r.rttvar) / 4
		r.srtt += (rtt - r.srtt) / 8
	}
	r.base = r.srtt + max(ClockGranularity, 4*r.rttvar)
	r.backoffs = 0
}

// Timeout returns the current retransmission timeout: the estimate (or the
// initial timeout before any sample) doubled once per Backoff, clamped to
// [min, max].
func (r *RTO) Timeout() time.Duration {
	lo, hi := r.bounds()
	d := r.initial
	if r.sampled {
		d = r.base
	}
	d = min(max(d, lo), hi)
	for i := 0; i < r.backoffs && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// Backoff doubles the timeout after the retransmission timer expired
// (RFC 6298 5.5). The count is kept even once the timeout reached max, so
// the caller can give up after a number of retransmissions (Backoffs).
func (r *RTO) Backoff() {
	r.backoffs++
}

// Backoffs returns the number of Backoff calls since the last Sample.
func (r *RTO) Backoffs() int { return r.backoffs }

// SRTT returns the smoothed round-trip time, zero before the first sample.
func (r *RTO) SRTT() time.Duration { return r.srtt }

// RTTVar returns the round-trip time variation, zero before the first
// sample.
func (r *RTO) RTTVar() time.Duration { return r.rttvar }
