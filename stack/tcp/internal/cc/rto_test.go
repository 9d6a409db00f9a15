package cc

import (
	"testing"
	"time"
)

// rtoStep is one event fed to an RTO and what must hold after it.
type rtoStep struct {
	sample  time.Duration // > 0 or zeroSample: Sample; 0: nothing
	backoff int           // Backoff calls after the sample
	srtt    time.Duration
	rttvar  time.Duration
	timeout time.Duration
}

// zeroSample asks a step to feed a zero RTT.
const zeroSample = -1

func TestRTO(t *testing.T) {
	ms := time.Millisecond
	us := time.Microsecond
	tests := []struct {
		name             string
		min, max, initTO time.Duration
		steps            []rtoStep
	}{
		{
			name: "before any sample",
			steps: []rtoStep{
				{timeout: time.Second},
				{backoff: 1, timeout: 2 * time.Second},
				{backoff: 1, timeout: 4 * time.Second},
			},
		},
		{
			// RFC 6298 2.2 and 2.3 with alpha 1/8, beta 1/4, K 4.
			name: "rfc 6298 worked values",
			min:  us,
			steps: []rtoStep{
				{sample: 100 * ms, srtt: 100 * ms, rttvar: 50 * ms, timeout: 300 * ms},
				// RTTVAR = 3/4*50 + 1/4*|100-200| = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5.
				{sample: 200 * ms, srtt: 112500 * us, rttvar: 62500 * us, timeout: 362500 * us},
				// RTTVAR = 3/4*62.5 + 1/4*12.5 = 50; SRTT = 112.5 - 12.5/8 = 110.9375.
				{sample: 100 * ms, srtt: 110937500, rttvar: 50 * ms, timeout: 310937500},
			},
		},
		{
			name: "steady rtt converges",
			min:  us,
			steps: []rtoStep{
				{sample: 40 * ms, srtt: 40 * ms, rttvar: 20 * ms, timeout: 120 * ms},
				{sample: 40 * ms, srtt: 40 * ms, rttvar: 15 * ms, timeout: 100 * ms},
				{sample: 40 * ms, srtt: 40 * ms, rttvar: 11250 * us, timeout: 85 * ms},
			},
		},
		{
			name: "clock granularity bounds the variance term",
			min:  us,
			steps: []rtoStep{
				{sample: zeroSample, timeout: ms},
				// RTTVAR = 0 + 1/4*100us; 4*RTTVAR = 100us < G.
				{sample: 100 * us, srtt: 12500, rttvar: 25 * us, timeout: 12500 + ms},
			},
		},
		{
			name: "min clamps a short rtt",
			steps: []rtoStep{
				{sample: ms, srtt: ms, rttvar: 500 * us, timeout: 200 * ms},
				{backoff: 1, srtt: ms, rttvar: 500 * us, timeout: 400 * ms},
			},
		},
		{
			name: "max clamps a long rtt",
			steps: []rtoStep{
				{sample: 100 * time.Second, srtt: 100 * time.Second, rttvar: 50 * time.Second, timeout: 120 * time.Second},
				{backoff: 3, srtt: 100 * time.Second, rttvar: 50 * time.Second, timeout: 120 * time.Second},
			},
		},
		{
			name: "backoff doubles, clamps, and a sample resets it",
			steps: []rtoStep{
				{sample: 100 * ms, srtt: 100 * ms, rttvar: 50 * ms, timeout: 300 * ms},
				{backoff: 1, srtt: 100 * ms, rttvar: 50 * ms, timeout: 600 * ms},
				{backoff: 1, srtt: 100 * ms, rttvar: 50 * ms, timeout: 1200 * ms},
				{backoff: 6, srtt: 100 * ms, rttvar: 50 * ms, timeout: 76800 * ms},
				{backoff: 1, srtt: 100 * ms, rttvar: 50 * ms, timeout: 120 * time.Second},
				{backoff: 1000, srtt: 100 * ms, rttvar: 50 * ms, timeout: 120 * time.Second},
				// RTTVAR = 37.5 + 0, SRTT 100: 250ms.
				{sample: 100 * ms, srtt: 100 * ms, rttvar: 37500 * us, timeout: 250 * ms},
			},
		},
		{
			name:   "custom bounds",
			min:    time.Second,
			max:    3 * time.Second,
			initTO: 100 * ms,
			steps: []rtoStep{
				{timeout: time.Second},
				{backoff: 1, timeout: 2 * time.Second},
				{backoff: 1, timeout: 3 * time.Second},
			},
		},
		{
			name: "max below min is raised",
			min:  2 * time.Second,
			max:  time.Second,
			steps: []rtoStep{
				{timeout: 2 * time.Second},
				{backoff: 1, timeout: 2 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRTO(tt.min, tt.max, tt.initTO)
			for i, s := range tt.steps {
				switch {
				case s.sample == zeroSample:
					r.Sample(0)
				case s.sample > 0:
					r.Sample(s.sample)
				}
				for range s.backoff {
					r.Backoff()
				}
				if r.SRTT() != s.srtt || r.RTTVar() != s.rttvar || r.Timeout() != s.timeout {
					t.Errorf("step %d: SRTT %v RTTVAR %v RTO %v, want %v %v %v",
						i, r.SRTT(), r.RTTVar(), r.Timeout(), s.srtt, s.rttvar, s.timeout)
				}
			}
		})
	}
}

func TestRTOBackoffs(t *testing.T) {
	r := NewRTO(0, 0, 0)
	for i := range 20 {
		if got := r.Backoffs(); got != i {
			t.Fatalf("Backoffs() = %d, want %d", got, i)
		}
		r.Backoff()
	}
	if got := r.Timeout(); got != DefaultMaxRTO {
		t.Errorf("Timeout() after 20 backoffs = %v, want %v", got, DefaultMaxRTO)
	}
	r.Sample(10 * time.Millisecond)
	if got := r.Backoffs(); got != 0 {
		t.Errorf("Backoffs() after a sample = %d, want 0", got)
	}
}

func TestRTOZeroValue(t *testing.T) {
	var r RTO
	r.Backoff()
	if got, want := r.Timeout(), 2*DefaultInitialRTO; got != want {
		t.Errorf("zero value Timeout() after one backoff = %v, want %v", got, want)
	}
	r.Sample(time.Millisecond)
	if got := r.Timeout(); got != DefaultMinRTO {
		t.Errorf("zero value Timeout() after a 1ms sample = %v, want %v", got, DefaultMinRTO)
	}
	r.Sample(-time.Second) // ignored
	if got := r.SRTT(); got != time.Millisecond {
		t.Errorf("SRTT() after a negative sample = %v, want 1ms", got)
	}
}
