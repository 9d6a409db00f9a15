package scenario

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rxpath/rxpath/bench/report"
)

// This file reads the output of the HTTP load generators the http-* rows
// run (wrk 4.x and ApacheBench 2.3, as Debian packages them) and
// /proc/slabinfo (version 2.1), which the conn-memory row reads.

// parseWrk reads wrk's report, run with --latency: the requests and the
// time they took, Requests/sec, the mean latency and the 50th and 99th
// percentiles, socket errors and non-2xx/3xx responses.
func parseWrk(r io.Reader) (report.HTTPLoad, error) {
	var l report.HTTPLoad
	var haveRate, haveCount bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "Latency" && strings.HasSuffix(f[1], "s"):
			// "Latency 1.00ms 1.29ms 12.45ms 88.97%": the thread stats.
			d, err := wrkDuration(f[1])
			if err != nil {
				return l, fmt.Errorf("wrk latency: %w", err)
			}
			l.LatencyMeanNS = int64(d)
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := wrkDuration(f[1])
			if err != nil {
				return l, fmt.Errorf("wrk %s latency: %w", f[0], err)
			}
			if f[0] == "50%" {
				l.LatencyP50NS = int64(d)
			} else {
				l.LatencyP99NS = int64(d)
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			// "64792 requests in 1.00s, 9.58MB read"
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return l, fmt.Errorf("wrk requests: %w", err)
			}
			d, err := wrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return l, fmt.Errorf("wrk run time: %w", err)
			}
			l.Requests, l.ElapsedNS, haveCount = n, int64(d), true
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return l, fmt.Errorf("wrk Requests/sec: %w", err)
			}
			l.ReqPerSec, haveRate = v, true
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 12, write 0, timeout 3"
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseUint(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return l, fmt.Errorf("wrk socket errors: %w", err)
				}
				l.Errors += n
			}
		case len(f) == 5 && f[0] == "Non-2xx":
			// "Non-2xx or 3xx responses: 64184"
			n, err := strconv.ParseUint(f[4], 10, 64)
			if err != nil {
				return l, fmt.Errorf("wrk non-2xx: %w", err)
			}
			l.Non2xx = n
		}
	}
	if err := sc.Err(); err != nil {
		return l, err
	}
	if !haveRate || !haveCount {
		return l, errors.New("wrk printed no request count or Requests/sec")
	}
	return l, nil
}

// wrkDuration parses one of wrk's times: "590.00us", "0.98ms", "1.00s",
// "2.00m", "1.00h".
func wrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("time %q: %w", s, err)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("time %q: no unit", s)
}

var (
	abField   = regexp.MustCompile(`^([A-Za-z0-9 -]+):\s+(\S+)`)
	abPercent = regexp.MustCompile(`^\s*(50|99)%\s+([0-9]+)`)
)

// parseAB reads ab's report: complete and failed requests, non-2xx
// responses, the time taken, Requests per second, the mean time per
// request and the 50th and 99th percentiles of the whole request (whole
// milliseconds).
func parseAB(r io.Reader) (report.HTTPLoad, error) {
	var l report.HTTPLoad
	var haveRate, haveCount bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if m := abPercent.FindStringSubmatch(line); m != nil {
			ms, err := strconv.ParseInt(m[2], 10, 64)
			if err != nil {
				return l, fmt.Errorf("ab %s%%: %w", m[1], err)
			}
			if m[1] == "50" {
				l.LatencyP50NS = ms * int64(time.Millisecond)
			} else {
				l.LatencyP99NS = ms * int64(time.Millisecond)
			}
			continue
		}
		m := abField.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, val := m[1], m[2]
		var err error
		switch {
		case key == "Complete requests":
			l.Requests, err = strconv.ParseUint(val, 10, 64)
			haveCount = err == nil
		case key == "Failed requests":
			l.Errors, err = strconv.ParseUint(val, 10, 64)
		case key == "Non-2xx responses":
			l.Non2xx, err = strconv.ParseUint(val, 10, 64)
		case key == "Time taken for tests":
			var v float64
			v, err = strconv.ParseFloat(val, 64)
			l.ElapsedNS = int64(v * 1e9)
		case key == "Requests per second":
			l.ReqPerSec, err = strconv.ParseFloat(val, 64)
			haveRate = err == nil
		case key == "Time per request" && l.LatencyMeanNS == 0 && strings.HasSuffix(line, "[ms] (mean)"):
			// The first of the two: at ab's concurrency, not divided by it.
			var v float64
			v, err = strconv.ParseFloat(val, 64)
			l.LatencyMeanNS = int64(v * 1e6)
		}
		if err != nil {
			return l, fmt.Errorf("ab %s: %w", strings.ToLower(key), err)
		}
	}
	if err := sc.Err(); err != nil {
		return l, err
	}
	if !haveRate || !haveCount {
		return l, errors.New("ab printed no complete requests or Requests per second")
	}
	return l, nil
}

// slabCache is one line of /proc/slabinfo.
type slabCache struct {
	ActiveObjs, NumObjs, ObjSize int64
}

// ActiveBytes is the bytes of the cache's objects in use.
func (c slabCache) ActiveBytes() int64 { return c.ActiveObjs * c.ObjSize }

// parseSlabinfo reads /proc/slabinfo (version 2.x): per cache, the active
// and total objects and the object size.
func parseSlabinfo(r io.Reader) (map[string]slabCache, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("slabinfo: empty")
	}
	if v, ok := strings.CutPrefix(sc.Text(), "slabinfo - version: "); !ok || !strings.HasPrefix(v, "2.") {
		return nil, fmt.Errorf("slabinfo: unknown header %q", sc.Text())
	}
	out := map[string]slabCache{}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("slabinfo: short line %q", line)
		}
		var c slabCache
		var err error
		for i, p := range []*int64{&c.ActiveObjs, &c.NumObjs, &c.ObjSize} {
			if *p, err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("slabinfo: %s: %w", f[0], err)
			}
		}
		out[f[0]] = c
	}
	return out, sc.Err()
}

// slabDelta is, for each cache in names, the change in its active bytes
// from a to b; a cache missing from both (merged into another by this
// kernel, or absent) is left out.
func slabDelta(a, b map[string]slabCache, names []string) map[string]int64 {
	d := map[string]int64{}
	for _, n := range names {
		ca, okA := a[n]
		cb, okB := b[n]
		if !okA && !okB {
			continue
		}
		d[n] = cb.ActiveBytes() - ca.ActiveBytes()
	}
	return d
}
