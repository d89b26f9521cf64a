package load

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	svgW       = 960
	svgH       = 560
	plotLeft   = 70
	plotRight  = svgW - 30
	plotTop    = 60
	plotBottom = 360
	barTop     = 410
	barBottom  = 510
)

// WriteSVG draws latency over time from r.Seconds: per second p50 and p99
// (and max, lighter; clipped to the chart when far above p99) as
// polylines, and the completed requests per second as a bar strip below.
// The output is a self-contained SVG document.
func WriteSVG(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	s := r.Seconds
	n := len(s)
	xMax := float64(n)
	if xMax < 1 {
		xMax = 1
	}
	var yTop, maxMax float64
	var peak int64
	for _, sec := range s {
		yTop = math.Max(yTop, sec.P99)
		maxMax = math.Max(maxMax, sec.Max)
		if sec.Completed > peak {
			peak = sec.Completed
		}
	}
	// Scale to p99 with room above it; max is clipped beyond, since one
	// outlier would flatten everything else.
	yTop = niceCeil(math.Max(yTop*1.1, 1))
	yStep := yTop / 5
	x := func(t float64) float64 { return plotLeft + t/xMax*(plotRight-plotLeft) }
	y := func(v float64) float64 {
		return plotBottom - math.Min(v, yTop)/yTop*(plotBottom-plotTop)
	}

	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	p(`<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	p(`<defs><clipPath id="plot"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath></defs>`+"\n", plotLeft, plotTop, plotRight-plotLeft, plotBottom-plotTop)
	title := fmt.Sprintf("souk load: %g journeys/s for %gs, %d requests, %d errors, throughput %.1f req/s, p99 %.1f ms",
		r.Rate, r.ScheduledS, r.Requests, r.Errors, r.ThroughputRPS, r.Latency.P99)
	p(`<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", plotLeft, esc(title))

	// Latency axes, grid and labels.
	for i := 0; i <= 5; i++ {
		v := yStep * float64(i)
		yy := y(v)
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", plotLeft, yy, plotRight, yy)
		p(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, yy+4, esc(fmtNum(v)))
	}
	p(`<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">latency (ms)</text>`+"\n", (plotTop+plotBottom)/2)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, plotTop, plotLeft, plotBottom)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, plotBottom, plotRight, plotBottom)
	xStep := niceCeil(xMax / 10)
	for t := 0.0; t <= xMax+1e-9; t += xStep {
		xx := x(t)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", xx, plotBottom, xx, plotBottom+5)
		p(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xx, plotBottom+18, esc(fmtNum(t)))
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", xx, barBottom, xx, barBottom+5)
		p(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xx, barBottom+18, esc(fmtNum(t)))
	}
	p(`<text x="%d" y="%d" text-anchor="middle">time (s)</text>`+"\n", (plotLeft+plotRight)/2, barBottom+38)

	// The series, plotted at the middle of their second.
	line := func(get func(Second) float64, color, width, extra string) {
		if n == 0 {
			return
		}
		var pts strings.Builder
		for _, sec := range s {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(float64(sec.T)+0.5), y(get(sec)))
		}
		p(`<polyline fill="none" stroke="%s" stroke-width="%s" %s clip-path="url(#plot)" points="%s"/>`+"\n", color, width, extra, strings.TrimSpace(pts.String()))
	}
	line(func(s Second) float64 { return s.Max }, "#f2a0a0", "1", `stroke-opacity="0.8"`)
	line(func(s Second) float64 { return s.P99 }, "#c0392b", "2", "")
	line(func(s Second) float64 { return s.P50 }, "#2c6fbb", "2", "")

	// Legend.
	legend := []struct{ color, label string }{{"#2c6fbb", "p50"}, {"#c0392b", "p99"}, {"#f2a0a0", "max"}}
	for i, l := range legend {
		lx := plotLeft + 10 + i*90
		p(`<line x1="%d" y1="44" x2="%d" y2="44" stroke="%s" stroke-width="3"/>`+"\n", lx, lx+24, l.color)
		p(`<text x="%d" y="48">%s</text>`+"\n", lx+30, l.label)
	}
	if maxMax > yTop {
		p(`<text x="%d" y="48" text-anchor="end" fill="#888">max clipped at %s ms (highest %s ms)</text>`+"\n", plotRight, esc(fmtNum(yTop)), esc(fmtNum(maxMax)))
	}

	// Throughput strip.
	p(`<text x="%d" y="%d" font-weight="bold">completed requests per second (peak %d)</text>`+"\n", plotLeft, barTop-10, peak)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, barBottom, plotRight, barBottom)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, barTop, plotLeft, barBottom)
	p(`<text x="%d" y="%d" text-anchor="end">%d</text>`+"\n", plotLeft-6, barTop+4, peak)
	p(`<text x="%d" y="%d" text-anchor="end">0</text>`+"\n", plotLeft-6, barBottom+4)
	if peak > 0 {
		bw0 := (plotRight - plotLeft) / xMax
		for _, sec := range s {
			h := float64(sec.Completed) / float64(peak) * (barBottom - barTop)
			ok := float64(sec.Completed-sec.Errors) / float64(peak) * (barBottom - barTop)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#e67e22"><title>%ds: %d completed, %d errors</title></rect>`+"\n",
				x(float64(sec.T))+0.5, barBottom-h, math.Max(bw0-1, 0.5), h, sec.T, sec.Completed, sec.Errors)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#7fb77e"/>`+"\n", x(float64(sec.T))+0.5, barBottom-ok, math.Max(bw0-1, 0.5), ok)
		}
	}
	p(`<text x="%d" y="%d" fill="#555">green: answered without error; orange: errors</text>`+"\n", plotRight-300, barTop-10)
	p("</svg>\n")
	return bw.Flush()
}

// niceCeil rounds v up to a round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6
// or 8 times a power of ten) so that fifths of it read well.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*e >= v*(1-1e-9) {
			return m * e
		}
	}
	return 10 * e
}

func fmtNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
