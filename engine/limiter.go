package engine

import "time"

// logLimiter lets through at most perSecond log lines a second, so a flood
// cannot turn into a flood of logs. The decision loop owns it.
type logLimiter struct {
	now       func() time.Time
	perSecond int
	window    time.Time
	used      int
}

func newLogLimiter(now func() time.Time, perSecond int) *logLimiter {
	return &logLimiter{now: now, perSecond: perSecond}
}

func (l *logLimiter) allow() bool {
	now := l.now()
	if now.Sub(l.window) >= time.Second {
		l.window, l.used = now, 0
	}
	if l.used >= l.perSecond {
		return false
	}
	l.used++
	return true
}

// quota lets through the first burst lines of an event in each summary
// period and counts the rest, which the period's summary line reports.
type quota struct {
	burst, used, dropped int
}

func (q *quota) allow() bool {
	if q.used < q.burst {
		q.used++
		return true
	}
	q.dropped++
	return false
}

// reset starts a new period and returns the lines dropped in the last.
func (q *quota) reset() int {
	d := q.dropped
	q.used, q.dropped = 0, 0
	return d
}
