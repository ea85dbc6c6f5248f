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
