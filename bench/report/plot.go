package report

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// PlotFormat returns "png" or "svg" from a file name's extension.
func PlotFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		return "png", nil
	case ".svg":
		return "svg", nil
	default:
		return "", fmt.Errorf("plot %q: want a .png or .svg file", path)
	}
}

// WritePlot draws the measured live rows as horizontal bar charts with
// whiskers from the minimum to the maximum rep: for the UDP rows the
// receive rate in Mpps and the CPU time per packet, for the TCP rows the
// goodput in Gbit/s and the CPU time per byte, for the HTTP rows wrk's and
// ab's requests per second. It writes them in format
// ("png" or "svg").
func WritePlot(w io.Writer, r *Run, format string) error {
	var udp, tcp, httpRows []*Scenario
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		switch {
		case s.OK() && s.Kind == KindHTTP:
			httpRows = append(httpRows, s)
		case !s.OK() || s.Kind != KindLive:
		case s.TCP():
			tcp = append(tcp, s)
		default:
			udp = append(udp, s)
		}
	}
	if len(udp)+len(tcp)+len(httpRows) == 0 {
		return fmt.Errorf("plot: no measured live or HTTP scenario")
	}
	type panel struct {
		title string
		f     func(*Scenario) Stat
		col   color.Color
	}
	type group struct {
		rows   []*Scenario
		panels []panel
		noSize bool // the rows' names alone, no frame size
	}
	blue, orange := color.RGBA{R: 0x33, G: 0x66, B: 0xcc, A: 0xff}, color.RGBA{R: 0xcc, G: 0x66, B: 0x33, A: 0xff}
	var groups []group
	if len(udp) > 0 {
		groups = append(groups, group{udp, []panel{
			{"receive rate (Mpps, median, whiskers min–max)", func(s *Scenario) Stat { return s.Summary.RxMpps }, blue},
			{"CPU per packet (ns: every thread but the generator's + softirq; whiskers cut at the edge)", func(s *Scenario) Stat { return s.Summary.CPUNSPkt }, orange},
		}, false})
	}
	if len(tcp) > 0 {
		groups = append(groups, group{tcp, []panel{
			{"TCP goodput (Gbit/s delivered to the application, median, whiskers min–max)", func(s *Scenario) Stat { return s.Summary.GoodputGbps }, blue},
			{"TCP CPU per byte (ns: every thread but the client's + softirq; whiskers cut at the edge)", func(s *Scenario) Stat { return s.Summary.CPUNSByte }, orange},
		}, false})
	}
	if len(httpRows) > 0 {
		groups = append(groups, group{httpRows, []panel{
			{"HTTP keep-alive (wrk): requests per second, median, whiskers min–max", func(s *Scenario) Stat { return s.Summary.KeepAliveRPS }, blue},
			{"HTTP new connection per request (ab): requests per second, median, whiskers min–max", func(s *Scenario) Stat { return s.Summary.ConnectRPS }, orange},
		}, true})
	}
	// Each group gets a height for its bars, its panels aligned with each
	// other.
	heights := make([]vg.Length, len(groups))
	var height vg.Length
	for i, g := range groups {
		heights[i] = vg.Length(len(g.panels)*(2+len(g.rows))) * 0.32 * vg.Inch
		height += heights[i]
	}
	width := 10 * vg.Inch
	var c vg.CanvasWriterTo
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
	case "svg":
		c = vgsvg.New(width, height)
	default:
		return fmt.Errorf("plot: unknown format %q", format)
	}
	dc := draw.New(c)
	top := vg.Length(0) // from the top edge down
	for i, g := range groups {
		// Bars run top to bottom in table order: plot rows reversed.
		names := make([]string, len(g.rows))
		for j, s := range g.rows {
			names[len(g.rows)-1-j] = fmt.Sprintf("%s (%d B)", s.Name, s.FrameLen)
			if g.noSize {
				names[len(g.rows)-1-j] = s.Name
			}
		}
		plots := make([][]*plot.Plot, len(g.panels))
		for j, pn := range g.panels {
			p, err := barPlot(g.rows, names, pn.title, pn.f, pn.col)
			if err != nil {
				return err
			}
			plots[j] = []*plot.Plot{p}
		}
		region := draw.Crop(dc, 0, 0, height-top-heights[i], -top)
		top += heights[i]
		tiles := draw.Tiles{Rows: len(g.panels), Cols: 1, PadY: vg.Centimeter, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
			PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 6}
		canvases := plot.Align(plots, tiles, region)
		for j := range plots {
			plots[j][0].Draw(canvases[j][0])
		}
	}
	_, err := c.WriteTo(w)
	return err
}

func barPlot(rows []*Scenario, names []string, title string, f func(*Scenario) Stat, col color.Color) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	n := len(rows)
	// One outlier rep must not squash every bar: the axis ends a little
	// past the largest median, and longer whiskers stop at its edge.
	var top float64
	for _, s := range rows {
		top = max(top, f(s).Median)
	}
	top = max(top*1.25, 1e-9)
	vals := make(plotter.Values, n)
	errs := make(plotter.XErrors, n)
	pts := make(plotter.XYs, n)
	for i, s := range rows {
		st := f(s)
		j := n - 1 - i
		vals[j] = st.Median
		pts[j] = plotter.XY{X: st.Median, Y: float64(j)}
		errs[j] = struct{ Low, High float64 }{st.Median - st.Min, min(st.Max, top) - st.Median}
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(12))
	if err != nil {
		return nil, err
	}
	bars.Horizontal = true
	bars.Color = col
	bars.LineStyle.Width = 0
	p.Add(bars)
	eb, err := plotter.NewXErrorBars(struct {
		plotter.XYer
		plotter.XErrorer
	}{pts, errs})
	if err != nil {
		return nil, err
	}
	p.Add(eb)
	p.NominalY(names...)
	p.X.Min, p.X.Max = 0, top
	p.Add(plotter.NewGrid())
	return p, nil
}
