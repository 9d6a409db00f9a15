package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
)

// triage is the loaded triage stage of a Device: its maps and, when
// sampling, the perf reader.
type triage struct {
	opts   Triage
	maps   triageMaps
	all    []*ebpf.Map
	reader *perf.Reader
}

// triageSpec builds the triage program; tests replace it to load one the
// kernel refuses.
var triageSpec = triageProgramSpec

// loadTriage creates the maps t needs and loads the program with the
// triage stage. On failure it releases what it created.
func loadTriage(xsks *ebpf.Map, unbound Action, t Triage) (_ *triage, _ *ebpf.Program, err error) {
	tr := &triage{opts: t.withDefaults()}
	defer func() {
		if err != nil {
			tr.close()
		}
	}()
	for name, spec := range triageMapSpecs(t) {
		m, err := ebpf.NewMap(spec)
		if err != nil {
			return nil, nil, fmt.Errorf("create triage map %s: %w", spec.Name, err)
		}
		tr.all = append(tr.all, m)
		switch name {
		case "counts":
			tr.maps.counts = m
		case "buckets":
			tr.maps.buckets = m
		case "synMem":
			tr.maps.synMem = m
		case "fragSrc":
			tr.maps.fragSrc = m
		case "udp":
			tr.maps.udp = m
		case "samples":
			tr.maps.samples = m
		}
	}
	prog, err := ebpf.NewProgram(triageSpec(xsks, unbound, t, tr.maps))
	if err != nil {
		return nil, nil, fmt.Errorf("load XDP triage program: %w", err)
	}
	if tr.maps.samples != nil {
		if tr.reader, err = perf.NewReader(tr.maps.samples, 64<<10); err != nil {
			prog.Close()
			return nil, nil, fmt.Errorf("triage drop samples: %w", err)
		}
	}
	return tr, prog, nil
}

func (tr *triage) close() error {
	var errs []error
	if tr.reader != nil {
		errs = append(errs, tr.reader.Close())
	}
	for _, m := range tr.all {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

func (tr *triage) stats() (TriageStats, error) {
	counts := make([]Counter, numCounts+len(tr.opts.Rules))
	var per []Counter
	for i := range counts {
		if err := tr.maps.counts.Lookup(uint32(i), &per); err != nil {
			return TriageStats{}, fmt.Errorf("read triage counter %d: %w", i, err)
		}
		for _, c := range per {
			counts[i].Packets += c.Packets
			counts[i].Bytes += c.Bytes
		}
	}
	var s TriageStats
	s.set(counts, len(tr.opts.Rules))
	return s, nil
}

// Triage reports whether the triage stage is loaded, and if it was asked
// for but refused, why (the device then runs without it).
func (d *Device) Triage() (on bool, refused string) {
	return d.triage != nil, d.triageErr
}

// TriageStats returns the triage stage's counters. ok is false when the
// stage is off.
func (d *Device) TriageStats() (s TriageStats, ok bool, err error) {
	if d.triage == nil {
		return TriageStats{}, false, nil
	}
	d.sampleMu.Lock()
	s.Samples, s.SamplesLost = d.samples, d.samplesLost
	d.sampleMu.Unlock()
	st, err := d.triage.stats()
	st.Samples, st.SamplesLost = s.Samples, s.SamplesLost
	return st, true, err
}

// SetUDPPort marks a UDP port open (a socket is bound to it) or closed for
// the closed-port guard. It does nothing when the guard is off. Safe for
// concurrent use.
func (d *Device) SetUDPPort(port uint16, open bool) error {
	if d.triage == nil || d.triage.maps.udp == nil {
		return nil
	}
	v := uint32(0)
	if open {
		v = 1
	}
	if err := d.triage.maps.udp.Put(uint32(port), v); err != nil {
		return fmt.Errorf("afxdp: mark udp port %d: %w", port, err)
	}
	return nil
}

// ReadDropSample waits up to timeout for the next sampled drop. It
// returns os.ErrDeadlineExceeded when none came, ErrNoSamples when
// sampling is off, and os.ErrClosed after Close. One goroutine reads.
func (d *Device) ReadDropSample(timeout time.Duration) (DropSample, error) {
	if d.triage == nil || d.triage.reader == nil {
		return DropSample{}, ErrNoSamples
	}
	r := d.triage.reader
	r.SetDeadline(time.Now().Add(timeout))
	for {
		rec, err := r.Read()
		if err != nil {
			if errors.Is(err, perf.ErrClosed) {
				return DropSample{}, os.ErrClosed
			}
			return DropSample{}, err
		}
		d.sampleMu.Lock()
		d.samplesLost += rec.LostSamples
		if len(rec.RawSample) >= 8 {
			d.samples++
		}
		d.sampleMu.Unlock()
		if len(rec.RawSample) < 8 {
			continue
		}
		reason := binary.NativeEndian.Uint32(rec.RawSample[0:])
		length := int(binary.NativeEndian.Uint32(rec.RawSample[4:]))
		data := rec.RawSample[8:]
		if n := min(length, int(d.triage.opts.SampleSnap)); n < len(data) {
			data = data[:n] // perf pads the sample to 8 bytes
		}
		return DropSample{Reason: ReasonName(reason), Length: length, Data: data}, nil
	}
}
