package soak

import (
	"fmt"
	"slices"
	"time"
)

// Slack is how far a peak may rise before it counts as growth: the larger
// of Frac times the earlier peak and Abs.
type Slack struct {
	Frac float64
	Abs  float64
}

// Limit returns the highest value allowed after a peak of v.
func (s Slack) Limit(v float64) float64 { return v + max(v*s.Frac, s.Abs) }

// Flatness is Flat's verdict on one series.
type Flatness struct {
	Name      string
	Samples   int     // after the warm-up
	FirstPeak float64 // peak over the first third after the warm-up
	LastPeak  float64 // peak over the last third
	Limit     float64 // Slack.Limit(FirstPeak)
	Min, Max  float64 // over every sample, warm-up included
	// Trend is the series' slope after the warm-up, per minute (the
	// Theil-Sen estimate: the median of the slopes between every pair of
	// samples, which a sawtooth or one outlier does not move). Rise is
	// Trend over the span after the warm-up, and RiseLimit what Rise may
	// reach; a span shorter than TrendMinSpan is not judged by it
	// (RiseJudged false), as the ramp of the caps still dominates.
	Trend, Rise, RiseLimit float64
	RiseJudged             bool
}

// TrendMinSpan is the shortest span after the warm-up whose trend Flat
// judges.
const TrendMinSpan = 10 * time.Minute

// OK reports whether the series stayed flat: its last peak within the
// limit and, over a long enough span, its trend too.
func (f Flatness) OK() bool {
	return f.LastPeak <= f.Limit && (!f.RiseJudged || f.Rise <= f.RiseLimit)
}

func (f Flatness) String() string {
	verdict := "flat"
	if !f.OK() {
		verdict = "GROWING"
	}
	rise := "not judged: span under " + TrendMinSpan.String()
	if f.RiseJudged {
		rise = fmt.Sprintf("limit %.4g", f.RiseLimit)
	}
	return fmt.Sprintf("%s: min %.4g max %.4g; peak %.4g over the first third after warm-up, %.4g over the last (limit %.4g, %d samples); trend %+.3g a minute, %+.3g over the span (%s): %s",
		f.Name, f.Min, f.Max, f.FirstPeak, f.LastPeak, f.Limit, f.Samples, f.Trend, f.Rise, rise, verdict)
}

// Flat judges the samples of value taken after warmup. It compares their
// peak over the last third with their peak over the first third: peaks
// rather than means, because a garbage-collected heap saws up and down
// and what must not creep is its top. And when they span TrendMinSpan or
// more, their trend: a creep too slow to clear slack over the run (the
// tcp-sink's 0.4 MiB a minute once did) still may not add up to more
// than rise over it. It needs at least three samples after the warm-up.
func Flat(name string, samples []Sample, warmup time.Duration, value func(Sample) float64, slack, rise Slack) (Flatness, error) {
	f := Flatness{Name: name}
	var after []float64
	var at []time.Duration
	for i, s := range samples {
		v := value(s)
		if i == 0 || v < f.Min {
			f.Min = v
		}
		f.Max = max(f.Max, v)
		if s.At >= warmup {
			after = append(after, v)
			at = append(at, s.At)
		}
	}
	n := len(after)
	if n < 3 {
		return f, fmt.Errorf("%s: %d samples after the %v warm-up, need at least 3: run longer or sample more often", name, n, warmup)
	}
	k := n / 3
	f.Samples = n
	for _, v := range after[:k] {
		f.FirstPeak = max(f.FirstPeak, v)
	}
	for _, v := range after[n-k:] {
		f.LastPeak = max(f.LastPeak, v)
	}
	f.Limit = slack.Limit(f.FirstPeak)
	span := at[n-1] - at[0]
	f.Trend = theilSen(at, after)
	f.Rise = f.Trend * span.Minutes()
	f.RiseLimit = rise.Limit(f.FirstPeak) - f.FirstPeak
	f.RiseJudged = span >= TrendMinSpan
	return f, nil
}

// theilSen returns the median slope, per minute, between the pairs of
// points (at[i], v[i]), on at most 400 of them evenly spread (80 000
// pairs) so that a day-long soak costs no more than a short one.
func theilSen(at []time.Duration, v []float64) float64 {
	const most = 400
	step := max(1, (len(v)+most-1)/most)
	var slopes []float64
	for i := 0; i < len(v); i += step {
		for j := i + step; j < len(v); j += step {
			if dt := (at[j] - at[i]).Minutes(); dt > 0 {
				slopes = append(slopes, (v[j]-v[i])/dt)
			}
		}
	}
	if len(slopes) == 0 {
		return 0
	}
	slices.Sort(slopes)
	m := len(slopes) / 2
	if len(slopes)%2 == 0 {
		return (slopes[m-1] + slopes[m]) / 2
	}
	return slopes[m]
}

// UDPAccount is what became of the sequenced datagrams 0..Sent-1, by the
// UDP sink's sequence check (first and last sequence number seen, numbers
// skipped, numbers at or below the highest seen).
type UDPAccount struct {
	Sent, Received, First, Last, Gaps, OutOfOrder uint64
	// Missing are the numbers the sink never saw: skipped and not filled
	// in later, before the first or after the last.
	Missing uint64
	// Balanced: every number sent is received or missing, nothing else;
	// received + gaps - out of order + first + (sent-1-last) = sent. It
	// fails when the sink saw numbers that were never sent.
	Balanced bool
}

// AccountUDP checks the sink's counters against the number sent.
func AccountUDP(sent, received, first, last, gaps, outOfOrder uint64) UDPAccount {
	a := UDPAccount{Sent: sent, Received: received, First: first, Last: last, Gaps: gaps, OutOfOrder: outOfOrder}
	if received == 0 {
		a.Missing = sent
		a.Balanced = gaps == 0 && outOfOrder == 0
		return a
	}
	if last >= sent || first > last || outOfOrder > received {
		return a // numbers that were never sent
	}
	tail := sent - 1 - last
	a.Missing = gaps + first + tail - min(outOfOrder, gaps)
	a.Balanced = received+gaps+first+tail == sent+outOfOrder
	return a
}

// LossPct is the share of datagrams missing, in percent.
func (a UDPAccount) LossPct() float64 {
	if a.Sent == 0 {
		return 0
	}
	return 100 * float64(a.Missing) / float64(a.Sent)
}

func (a UDPAccount) String() string {
	return fmt.Sprintf("sent %d, received %d, missing %d (%.4f%%); seq %d..%d, gaps %d, out of order %d; balanced %v",
		a.Sent, a.Received, a.Missing, a.LossPct(), a.First, a.Last, a.Gaps, a.OutOfOrder, a.Balanced)
}

// Stream is one TCP stream a client sent.
type Stream struct {
	Remote string // the client's address as the sink sees it
	Bytes  uint64
	SHA256 string
}

// SinkConn is one connection in the TCP sink's summary.
type SinkConn struct {
	Remote   string `json:"remote"`
	Bytes    uint64 `json:"bytes"`
	SHA256   string `json:"sha256"`
	Complete bool   `json:"complete"`
}

// MatchStreams checks that the sink received exactly the streams sent:
// every stream appears once with its length and SHA-256, complete, and
// the sink has no other connection. A client port may be reused over a
// long soak, so streams are matched as a multiset per address. It returns
// one line per mismatch.
func MatchStreams(sent []Stream, got []SinkConn) []string {
	byRemote := map[string][]SinkConn{}
	for _, c := range got {
		byRemote[c.Remote] = append(byRemote[c.Remote], c)
	}
	var bad []string
	for _, s := range sent {
		cs := byRemote[s.Remote]
		i := -1
		for j, c := range cs {
			if c.Bytes == s.Bytes && c.SHA256 == s.SHA256 && c.Complete {
				i = j
				break
			}
		}
		if i < 0 {
			bad = append(bad, fmt.Sprintf("stream from %s (%d bytes, sha256 %s): the sink has %+v", s.Remote, s.Bytes, s.SHA256, cs))
			continue
		}
		byRemote[s.Remote] = append(cs[:i], cs[i+1:]...)
	}
	for remote, cs := range byRemote {
		for _, c := range cs {
			bad = append(bad, fmt.Sprintf("sink connection from %s (%d bytes, complete %v) matches no stream sent", remote, c.Bytes, c.Complete))
		}
	}
	return bad
}
