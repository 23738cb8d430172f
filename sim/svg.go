package sim

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Plot geometry, in SVG user units (pixels).
const (
	svgWidth      = 960
	svgMarginL    = 72
	svgMarginR    = 24
	svgPanelH     = 170
	svgPanelGap   = 66
	svgTitleH     = 64
	svgChartGap   = 30
	svgMaxPoints  = 2400 // buckets per line; longer runs merge buckets
	svgPlotW      = svgWidth - svgMarginL - svgMarginR
	colorCapacity = "#222222"
	colorRate     = "#1f77b4"
	colorOracle   = "#2ca02c"
	colorDelay    = "#d62728"
	colorTarget   = "#7f7f7f"
	colorLoaded   = "#fff3c4"
	colorPeer     = "#ff7f0e"
	colorPeerLine = "#9467bd"
	svgPeerLineH  = 18 // the peer's scores, one more header line
)

// WriteSVG plots each result: per direction, the true capacity, the
// policy's shaper rate, the peer's (cake-autorate's) when it ran and the
// oracle's rate (upper panel), and the policies' added delay with the
// target line (lower panel), over time, on a shaded background where the
// direction is loaded. Lines are drawn from 100 ms buckets (rates averaged,
// delay the bucket's maximum).
func WriteSVG(w io.Writer, results ...*Result) error {
	bw := bufio.NewWriter(w)
	height := 10
	for _, res := range results {
		height += 2 * (chartHeight(res) + svgChartGap)
	}
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	y := 10
	for _, res := range results {
		for d := range Dir(2) {
			chart(bw, res, d, y)
			y += chartHeight(res) + svgChartGap
		}
	}
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

func titleHeight(res *Result) int {
	if res.Peer != nil {
		return svgTitleH + svgPeerLineH
	}
	return svgTitleH
}

func chartHeight(res *Result) int { return titleHeight(res) + 2*svgPanelH + 2*svgPanelGap }

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // strings.Builder does not fail
	return b.String()
}

// merged downsamples a series to at most svgMaxPoints buckets.
func merged(s Series) (capacity, rate, delay []float64, step time.Duration) {
	k := (len(s.Capacity) + svgMaxPoints - 1) / svgMaxPoints
	k = max(k, 1)
	for i := 0; i < len(s.Capacity); i += k {
		j := min(i+k, len(s.Capacity))
		var c, r float64
		var dl float32
		for x := i; x < j; x++ {
			c += float64(s.Capacity[x])
			r += float64(s.Rate[x])
			dl = max(dl, s.Delay[x])
		}
		n := float64(j - i)
		capacity = append(capacity, c/n)
		rate = append(rate, r/n)
		delay = append(delay, float64(dl))
	}
	return capacity, rate, delay, s.Step * time.Duration(k)
}

func chart(w io.Writer, res *Result, d Dir, top int) {
	run := res.Wanctl.Dirs[d]
	capacity, rate, delay, step := merged(run.Series)
	_, orate, _, _ := merged(res.Oracle.Dirs[d].Series)
	sc := run.Scores
	fmt.Fprintf(w, `<g transform="translate(0,%d)">`+"\n", top)
	fmt.Fprintf(w, `<text x="%d" y="16" font-size="15" font-weight="bold">%s — %s</text>`+"\n", svgMarginL, esc(res.Scenario), d)
	fmt.Fprintf(w, `<text x="%d" y="34" fill="#444">%s</text>`+"\n", svgMarginL, esc(fmt.Sprintf(
		"wanctl: utilisation %.1f%%, added delay p50 %.1f / p95 %.1f / p99 %.1f ms, recovery %.1f s, %.0f writes/h (seed %d)",
		100*sc.Utilisation, sc.AddedDelayMS.P50, sc.AddedDelayMS.P95, sc.AddedDelayMS.P99, sc.RecoveryS, sc.WritesPerHour, res.Seed)))
	var prate, pdelay []float64
	if res.Peer != nil {
		_, prate, pdelay, _ = merged(res.Peer.Dirs[d].Series)
		ps := res.Peer.Dirs[d].Scores
		fmt.Fprintf(w, `<text x="%d" y="%d" fill="#444">%s</text>`+"\n", svgMarginL, 34+svgPeerLineH, esc(fmt.Sprintf(
			"%s: utilisation %.1f%%, added delay p50 %.1f / p95 %.1f / p99 %.1f ms, recovery %.1f s, %.0f writes/h",
			CakeAutorateName, 100*ps.Utilisation, ps.AddedDelayMS.P50, ps.AddedDelayMS.P95, ps.AddedDelayMS.P99, ps.RecoveryS, ps.WritesPerHour)))
	}

	dur := res.Duration.Seconds()
	xOf := func(t float64) float64 { return svgMarginL + t/dur*svgPlotW }
	xStep := niceStep(dur, 10)

	// Upper panel: rates in Mbit/s.
	y0 := float64(titleHeight(res))
	rmax := 0.0
	for i := range capacity {
		rmax = max(rmax, capacity[i], rate[i], orate[i])
	}
	for _, v := range prate {
		rmax = max(rmax, v)
	}
	rmax = niceCeil(1.05 * rmax / 1e6)
	panel(w, res, d, y0, rmax, "rate (Mbit/s)", xOf, xStep, dur)
	yOf := func(v float64) float64 { return y0 + svgPanelH - v/rmax*svgPanelH }
	line(w, capacity, step, 1e-6, xOf, yOf, colorCapacity, "")
	line(w, orate, step, 1e-6, xOf, yOf, colorOracle, ` stroke-dasharray="4 3"`)
	colors, labels := []string{colorCapacity, colorOracle, colorRate}, []string{"capacity", "oracle rate (95%)", "wanctl shaper rate"}
	if prate != nil {
		line(w, prate, step, 1e-6, xOf, yOf, colorPeer, "")
		colors, labels = append(colors, colorPeer), append(labels, CakeAutorateName)
	}
	line(w, rate, step, 1e-6, xOf, yOf, colorRate, "")
	legend(w, y0, colors, labels)

	// Lower panel: added delay in ms.
	y1 := y0 + svgPanelH + svgPanelGap
	target := ms(res.TargetBloat)
	dmax := 2 * target
	for _, v := range delay {
		dmax = max(dmax, v)
	}
	for _, v := range pdelay {
		dmax = max(dmax, v)
	}
	dmax = niceCeil(1.05 * dmax)
	panel(w, res, d, y1, dmax, "added delay (ms)", xOf, xStep, dur)
	yOf1 := func(v float64) float64 { return y1 + svgPanelH - v/dmax*svgPanelH }
	fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4"/>`+"\n",
		svgMarginL, svgMarginL+svgPlotW, yOf1(target), yOf1(target), colorTarget)
	colors, labels = []string{colorDelay, colorTarget}, []string{"wanctl added delay (max per bucket)", fmt.Sprintf("target_bloat %g ms", target)}
	if pdelay != nil {
		line(w, pdelay, step, 1, xOf, yOf1, colorPeerLine, "")
		colors, labels = []string{colorDelay, colorPeerLine, colorTarget}, []string{"wanctl added delay (max per bucket)", CakeAutorateName, fmt.Sprintf("target_bloat %g ms", target)}
	}
	line(w, delay, step, 1, xOf, yOf1, colorDelay, "")
	legend(w, y1, colors, labels)
	fmt.Fprintln(w, `</g>`)
}

// panel draws a panel's loaded shading, frame, grid, ticks and labels.
func panel(w io.Writer, res *Result, d Dir, y0, ymax float64, ylabel string, xOf func(float64) float64, xStep, dur float64) {
	for _, sp := range res.Loaded[d] {
		x0, x1 := xOf(sp.Start.Seconds()), xOf(sp.End.Seconds())
		fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y0, x1-x0, svgPanelH, colorLoaded)
	}
	yStep := niceStep(ymax, 5)
	for v := 0.0; v <= ymax*1.0001; v += yStep {
		y := y0 + svgPanelH - v/ymax*svgPanelH
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", svgMarginL, svgMarginL+svgPlotW, y, y)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgMarginL-6, y+4, fmtTick(v))
	}
	for t := 0.0; t <= dur*1.0001; t += xStep {
		x := xOf(t)
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#999"/>`+"\n", x, x, y0+svgPanelH, y0+svgPanelH+4)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+svgPanelH+17, fmtTick(t))
	}
	fmt.Fprintf(w, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", svgMarginL, y0, svgPlotW, svgPanelH)
	fmt.Fprintf(w, `<text transform="translate(%d,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", 18, y0+svgPanelH/2, esc(ylabel))
	fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="middle">time (s); shaded: loaded</text>`+"\n", svgMarginL+svgPlotW/2, y0+svgPanelH+32)
}

func line(w io.Writer, v []float64, step time.Duration, scale float64, xOf, yOf func(float64) float64, color, extra string) {
	if len(v) == 0 {
		return
	}
	fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1.3"%s points="`, color, extra)
	for i, x := range v {
		t := (float64(i) + 0.5) * step.Seconds()
		fmt.Fprintf(w, "%.1f,%.1f ", xOf(t), yOf(x*scale))
	}
	fmt.Fprintln(w, `"/>`)
}

func legend(w io.Writer, y0 float64, colors, labels []string) {
	width := 8.0
	for _, l := range labels {
		width += 30 + 6.5*float64(len(l))
	}
	x := float64(svgMarginL+svgPlotW) - width
	y0 -= 24 // above the panel's frame
	for i, c := range colors {
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", x, x+18, y0+12, y0+12, c)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x+22, y0+16, esc(labels[i]))
		x += 30 + 6.5*float64(len(labels[i]))
	}
}

// niceStep is a 1/2/5·10^k step giving about n intervals over span.
func niceStep(span float64, n int) float64 {
	if !(span > 0) {
		return 1
	}
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// niceCeil rounds v up to a multiple of a nice step.
func niceCeil(v float64) float64 {
	if !(v > 0) {
		return 1
	}
	s := niceStep(v, 5)
	return math.Ceil(v/s*(1-1e-9)) * s
}

func fmtTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}
