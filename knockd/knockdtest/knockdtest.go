// Package knockdtest holds fakes of package knockd's edges: an Executor
// that records commands instead of running them, and a Clock that moves
// only when told.
package knockdtest

import (
	"context"
	"sync"
	"time"

	"github.com/portknock/knock/knockd"
)

// Exec records each command it is asked to run on Ran, and returns Err.
// If Hold is not nil, each Run then waits for a value on it.
type Exec struct {
	Ran  chan string
	Err  error
	Hold chan struct{}
}

// NewExec returns an Exec whose Ran holds up to 100 commands.
func NewExec() *Exec { return &Exec{Ran: make(chan string, 100)} }

// Run records command.
func (e *Exec) Run(ctx context.Context, command string) error {
	e.Ran <- command
	if e.Hold != nil {
		<-e.Hold
	}
	return e.Err
}

// Clock is a manual clock: timers fire, in the caller's goroutine, when
// Advance passes them. Scheduled receives each timer's duration as it is
// set, so tests can wait for one.
type Clock struct {
	mu        sync.Mutex
	now       time.Time
	timers    []*timer
	Scheduled chan time.Duration
}

type timer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (t *timer) Stop() bool {
	was := !t.stopped
	t.stopped = true
	return was
}

// NewClock returns a Clock at now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, Scheduled: make(chan time.Duration, 100)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc sets a timer.
func (c *Clock) AfterFunc(d time.Duration, f func()) knockd.Timer {
	c.mu.Lock()
	t := &timer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.Scheduled <- d
	return t
}

// Advance moves the clock on by d and runs the timers due, in order.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, left []*timer
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			left = append(left, t)
		}
	}
	c.timers = left
	c.mu.Unlock()
	for _, t := range due {
		if !t.stopped {
			t.f()
		}
	}
}
