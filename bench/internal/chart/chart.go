// Package chart draws the harness's latency figure as a PNG with the
// standard library only: one row per daemon, every sample a dot on a
// logarithmic time axis, the middle half a box, the median a bar and the
// 99th percentile a red tick. Latencies of the daemons differ by orders
// of magnitude, which is why the axis is logarithmic and why a strip of
// every sample says more than bars of averages.
package chart

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Series is one row: the samples that succeeded, and how many did not.
type Series struct {
	Label  string
	Values []time.Duration
	Failed int
}

// Strip is the figure.
type Strip struct {
	Title  string
	Note   string // a second, smaller line under the title
	Series []Series
}

// Layout, in pixels.
const (
	rowH    = 56
	top     = 64
	bottom  = 48
	rightW  = 250
	minPlot = 420
	pad     = 12
)

var (
	white   = color.RGBA{255, 255, 255, 255}
	ink     = color.RGBA{30, 30, 30, 255}
	grey    = color.RGBA{120, 120, 120, 255}
	grid    = color.RGBA{215, 215, 215, 255}
	minor   = color.RGBA{236, 236, 236, 255}
	stripe  = color.RGBA{246, 246, 250, 255}
	red     = color.RGBA{200, 30, 30, 255}
	palette = []color.RGBA{{31, 119, 180, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {255, 127, 14, 255}, {214, 39, 40, 255}, {140, 86, 75, 255}, {23, 190, 207, 255}}
)

// Draw renders the figure.
func (s Strip) Draw() *image.RGBA {
	labelW := 0
	for _, se := range s.Series {
		labelW = max(labelW, TextWidth(se.Label, 1))
	}
	left := labelW + 2*pad
	width := left + minPlot + 280 + rightW
	plotW := width - left - rightW - pad
	height := top + rowH*max(1, len(s.Series)) + bottom
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)
	DrawText(img, pad, 12, s.Title, ink, 2)
	DrawText(img, pad, 38, s.Note, grey, 1)

	lo, hi := decades(s.Series)
	x := func(d time.Duration) int {
		ms := math.Max(float64(d)/float64(time.Millisecond), lo)
		return left + int(math.Round((math.Log10(ms)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*float64(plotW)))
	}
	plotBottom := top + rowH*len(s.Series)
	for i := range s.Series {
		if i%2 == 0 {
			fill(img, left, top+i*rowH, left+plotW, top+(i+1)*rowH, stripe)
		}
	}
	for dec := lo; dec <= hi*1.001; dec *= 10 {
		for _, m := range []float64{2, 5} {
			if v := dec * m; v < hi {
				vline(img, x(ms(v)), top, plotBottom, minor)
			}
		}
		xx := x(ms(dec))
		vline(img, xx, top, plotBottom+4, grid)
		label := msLabel(dec)
		DrawText(img, xx-TextWidth(label, 1)/2, plotBottom+10, label, ink, 1)
	}
	axis := "time from the last knock packet to an established connection (log scale)"
	DrawText(img, left+plotW/2-TextWidth(axis, 1)/2, plotBottom+28, axis, grey, 1)

	for i, se := range s.Series {
		c := palette[i%len(palette)]
		y0 := top + i*rowH
		mid := y0 + rowH/2
		DrawText(img, pad, mid-4, se.Label, ink, 1)
		s.row(img, se, x, mid, c)
		DrawText(img, left+plotW+pad, mid-10, summary(se), ink, 1)
		if se.Failed > 0 {
			DrawText(img, left+plotW+pad, mid+4, fmt.Sprintf("%d did not open", se.Failed), red, 1)
		}
	}
	return img
}

// row draws one series' dots, box, median and 99th percentile.
func (Strip) row(img *image.RGBA, se Series, x func(time.Duration) int, mid int, c color.RGBA) {
	if len(se.Values) == 0 {
		return
	}
	v := slices.Clone(se.Values)
	slices.Sort(v)
	dot := color.NRGBA{c.R, c.G, c.B, 110}
	rng := rand.New(rand.NewPCG(uint64(len(v)), 7)) // the same figure for the same samples
	for _, d := range v {
		blend(img, x(d)-1, mid+rng.IntN(33)-17, 3, 3, dot)
	}
	q := func(p float64) time.Duration { return v[int(math.Round(p*float64(len(v)-1)))] }
	bx0, bx1 := x(q(0.25)), x(q(0.75))
	rect(img, bx0, mid-12, bx1, mid+12, ink)
	for dx := -1; dx <= 1; dx++ {
		vline(img, x(q(0.5))+dx, mid-16, mid+16, ink)
	}
	p99 := x(q(0.99))
	vline(img, p99, mid-14, mid+14, red)
	vline(img, p99+1, mid-14, mid+14, red)
	hline(img, bx1, p99, mid, grey)
	hline(img, x(v[0]), bx0, mid, grey)
}

func summary(se Series) string {
	if len(se.Values) == 0 {
		return "no sample opened"
	}
	v := slices.Clone(se.Values)
	slices.Sort(v)
	q := func(p float64) time.Duration { return v[int(math.Round(p*float64(len(v)-1)))] }
	return fmt.Sprintf("median %s  p99 %s  n=%d", short(q(0.5)), short(q(0.99)), len(v))
}

// short prints a latency with three significant digits.
func short(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 1:
		return fmt.Sprintf("%.0f µs", ms*1000)
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", ms/1000)
}

// decades is the axis range in milliseconds: whole powers of ten around
// every sample.
func decades(ss []Series) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, se := range ss {
		for _, d := range se.Values {
			ms := float64(d) / float64(time.Millisecond)
			lo, hi = math.Min(lo, ms), math.Max(hi, ms)
		}
	}
	if math.IsInf(lo, 1) {
		return 0.1, 1000
	}
	lo = math.Pow(10, math.Floor(math.Log10(math.Max(lo, 0.001))))
	hi = math.Pow(10, math.Ceil(math.Log10(math.Max(hi, lo*10))))
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func msLabel(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%g s", v/1000)
	case v < 1:
		return fmt.Sprintf("%g µs", v*1000)
	}
	return fmt.Sprintf("%g ms", v)
}

// WritePNG encodes the figure.
func (s Strip) WritePNG(w io.Writer) error { return png.Encode(w, s.Draw()) }

func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), &image.Uniform{c}, image.Point{}, draw.Src)
}

func blend(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{c}, image.Point{}, draw.Over)
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y < y1; y++ {
		img.Set(x, y, c)
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x < x1; x++ {
		img.Set(x, y, c)
	}
}

func rect(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	hline(img, x0, x1+1, y0, c)
	hline(img, x0, x1+1, y1, c)
	vline(img, x0, y0, y1, c)
	vline(img, x1, y0, y1, c)
}
