package stats

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 5}, {1, 10}, {0.99, 9}, {-1, 1}, {2, 10}} {
		if got := Quantile(s, c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("empty sample")
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 200; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(d)
	if s.N != 200 || s.Min != time.Millisecond || s.Max != 200*time.Millisecond {
		t.Errorf("%+v", s)
	}
	if s.Median != 100500*time.Microsecond || s.P99 < 198*time.Millisecond || s.P99 > 199*time.Millisecond {
		t.Errorf("median %s p99 %s", s.Median, s.P99)
	}
	if d[0] != 200*time.Millisecond {
		t.Error("Summarize sorted its argument")
	}
	if Summarize(nil) != (Summary{}) {
		t.Error("empty sample")
	}
}

func TestRatio(t *testing.T) {
	if Ratio(1, 0) != 0 || Ratio(3, 2) != 1.5 {
		t.Error("Ratio")
	}
}
