// Package stats summarizes the harness's samples: latency distributions
// (median, 99th percentile) and ratios between daemons.
package stats

import (
	"math"
	"slices"
	"time"
)

// Summary describes a set of durations.
type Summary struct {
	N      int           `json:"n"`
	Min    time.Duration `json:"min_ns"`
	P25    time.Duration `json:"p25_ns"`
	Median time.Duration `json:"median_ns"`
	P75    time.Duration `json:"p75_ns"`
	P90    time.Duration `json:"p90_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
	Mean   time.Duration `json:"mean_ns"`
}

// Summarize sorts a copy of d and describes it; an empty sample gives a
// zero Summary.
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return Summary{
		N: len(s), Min: s[0], Max: s[len(s)-1], Mean: sum / time.Duration(len(s)),
		P25: Quantile(s, 0.25), Median: Quantile(s, 0.5), P75: Quantile(s, 0.75),
		P90: Quantile(s, 0.90), P99: Quantile(s, 0.99),
	}
}

// Quantile of a sorted sample, interpolating linearly between the two
// nearest ranks (the "type 7" estimator of R and NumPy's default).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	frac := pos - float64(lo)
	return sorted[lo] + time.Duration(frac*float64(sorted[hi]-sorted[lo]))
}

// Ratio is a/b, or 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Ms is a duration in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
