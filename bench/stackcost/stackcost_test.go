package stackcost

import (
	"testing"
)

func TestMeasure(t *testing.T) {
	frames, err := FrameSet(1024, 60, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		new  func() (Sink, error)
	}{
		{"rxpath", NewRxpath},
		{"gvisor", NewGVisor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reps, err := Measure(frames, tc.new, Options{Packets: 20000, Reps: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 2 {
				t.Fatalf("got %d reps, want 2", len(reps))
			}
			for _, r := range reps {
				if r.Delivered != r.Packets || r.Packets < 20000 {
					t.Errorf("rep %+v: want every replayed packet delivered", r)
				}
				t.Logf("%s: %.1f ns/pkt, %.2f allocs/pkt", tc.name, r.NSPerPacket(), r.AllocsPerPacket())
			}
		})
	}
}
