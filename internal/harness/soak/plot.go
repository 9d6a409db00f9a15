package soak

import (
	"fmt"
	"image/color"
	"io"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The colours and layout of bench/report's chart.
var (
	blue   = color.RGBA{R: 0x33, G: 0x66, B: 0xcc, A: 0xff}
	orange = color.RGBA{R: 0xcc, G: 0x66, B: 0x33, A: 0xff}
	green  = color.RGBA{R: 0x33, G: 0x99, B: 0x55, A: 0xff}
	gray   = color.RGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff}
)

type series struct {
	name string
	col  color.Color
	f    func(Sample) float64
}

// WritePlot draws the samples over time as a PNG in three panels, one
// above the other: RSS and Go heap in MiB, the ledger's free and kernel
// frames, and its held and tx frames. A dashed line marks the end of the
// warm-up.
func WritePlot(w io.Writer, samples []Sample, warmup time.Duration, title string) error {
	if len(samples) == 0 {
		return fmt.Errorf("plot: no samples")
	}
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	panels := []struct {
		title string
		y     string
		s     []series
	}{
		{title + ": memory of the rxpath process", "MiB", []series{
			{"RSS (VmRSS)", blue, func(s Sample) float64 { return mib(s.RSS) }},
			{"Go heap in use", orange, func(s Sample) float64 { return mib(s.Heap) }},
		}},
		{"UMEM ledger: free and kernel (fill ring, NIC, rx ring)", "frames", []series{
			{"free", blue, func(s Sample) float64 { return float64(s.Ledger.Free) }},
			{"kernel", orange, func(s Sample) float64 { return float64(s.Ledger.Kernel) }},
			{"total", gray, func(s Sample) float64 { return float64(s.Ledger.Total) }},
		}},
		{"UMEM ledger: held by the application and in the tx path", "frames", []series{
			{"held", green, func(s Sample) float64 { return float64(s.Ledger.Held) }},
			{"tx", orange, func(s Sample) float64 { return float64(s.Ledger.Tx) }},
		}},
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "time since the traffic started (s)"
		p.Y.Label.Text = pn.y
		p.Add(plotter.NewGrid())
		top := 0.0
		for _, s := range pn.s {
			pts := make(plotter.XYs, len(samples))
			for j, smp := range samples {
				pts[j] = plotter.XY{X: smp.At.Seconds(), Y: s.f(smp)}
				top = max(top, pts[j].Y)
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = s.col
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(s.name, l)
		}
		p.Y.Min, p.Y.Max = 0, max(top*1.6, 1) // room for the legend
		if warmup > 0 {
			l, err := plotter.NewLine(plotter.XYs{{X: warmup.Seconds(), Y: 0}, {X: warmup.Seconds(), Y: p.Y.Max}})
			if err != nil {
				return err
			}
			l.Color = gray
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l)
			p.Legend.Add("end of warm-up", l)
		}
		p.Legend.Top = true
		p.Legend.Left = true
		plots[i] = []*plot.Plot{p}
	}
	width, height := 10*vg.Inch, vg.Length(len(panels))*3*vg.Inch
	c := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
		PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 6}
	canvases := plot.Align(plots, tiles, draw.New(c))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := c.WriteTo(w)
	return err
}
