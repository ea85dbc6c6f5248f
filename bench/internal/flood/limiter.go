package flood

import "time"

// Limiter is a token bucket over an injected clock: tokens accrue at rate
// per second up to burst, and each packet takes one. It starts empty, so
// a flood ramps up instead of opening with a burst.
//
// A flood of 100,000 packets a second cannot sleep between packets (the
// timer resolution alone is tens of microseconds): the sender asks Take
// how many packets it may send now, sends them as one batch, and sleeps
// until Next.
type Limiter struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter of rate packets per second that lets at
// most burst packets go at once (at least 1).
func NewLimiter(rate float64, burst int, now time.Time) *Limiter {
	if burst < 1 {
		burst = 1
	}
	return &Limiter{rate: rate, burst: float64(burst), last: now}
}

func (l *Limiter) refill(now time.Time) {
	if dt := now.Sub(l.last); dt > 0 {
		l.tokens += dt.Seconds() * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
		l.last = now
	}
}

// Take returns how many packets, at most max, may be sent at now, and
// takes their tokens.
func (l *Limiter) Take(now time.Time, max int) int {
	l.refill(now)
	n := int(l.tokens)
	if n > max {
		n = max
	}
	if n < 0 {
		n = 0
	}
	l.tokens -= float64(n)
	return n
}

// Next is how long from now until want packets (at most burst) may go.
func (l *Limiter) Next(now time.Time, want int) time.Duration {
	l.refill(now)
	w := min(float64(want), l.burst)
	if l.tokens >= w || l.rate <= 0 {
		return 0
	}
	return time.Duration((w - l.tokens) / l.rate * float64(time.Second))
}
