package chart

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestGlyphsAreWellFormed(t *testing.T) {
	for r, g := range glyphs {
		for i, row := range g {
			if len(row) != 5 {
				t.Errorf("glyph %q row %d has %d columns", r, i, len(row))
			}
		}
	}
}

func TestDrawText(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	DrawText(img, 0, 0, "Iq", color.Black, 1)
	set := 0
	for y := 0; y < 20; y++ {
		for x := 0; x < 40; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a > 0 {
				set++
			}
		}
	}
	if set == 0 || TextWidth("Iq", 2) != 24 {
		t.Errorf("%d pixels set, width %d", set, TextWidth("Iq", 2))
	}
}

func sample(n int, median time.Duration, rng *rand.Rand) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(float64(median) * (0.5 + rng.Float64()))
	}
	return out
}

func TestStripPNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := Strip{Title: "Knock-to-open latency", Note: "test", Series: []Series{
		{Label: "fast", Values: sample(200, 800*time.Microsecond, rng)},
		{Label: "slow", Values: sample(200, 30*time.Millisecond, rng), Failed: 3},
		{Label: "none"},
	}}
	var buf bytes.Buffer
	if err := s.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dy() != top+3*rowH+bottom || b.Dx() < 800 {
		t.Errorf("size %v", b)
	}
	if os.Getenv("CHART_OUT") != "" {
		os.WriteFile(os.Getenv("CHART_OUT"), buf.Bytes(), 0o644)
	}
}

func TestDecades(t *testing.T) {
	lo, hi := decades([]Series{{Values: []time.Duration{300 * time.Microsecond, 88 * time.Millisecond}}})
	if lo != 0.1 || hi != 100 {
		t.Errorf("decades %g..%g, want 0.1..100", lo, hi)
	}
	if lo, hi := decades(nil); lo != 0.1 || hi != 1000 {
		t.Errorf("empty: %g..%g", lo, hi)
	}
}

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		420 * time.Microsecond: "420 µs", 2500 * time.Microsecond: "2.50 ms",
		26 * time.Millisecond: "26.0 ms", 880 * time.Millisecond: "880 ms", 3 * time.Second: "3.00 s",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%s) = %q, want %q", d, got, want)
		}
	}
}
