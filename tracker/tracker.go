// Package tracker keeps the recent knocks of each source address, in
// bounded memory, for a daemon that must survive floods of spoofed packets.
//
// Memory is fixed at construction and never grows: a cap on tracked sources
// and on knocks per source, oldest evicted first. The sources live in two
// segments, as in a 2Q cache:
//
//   - probation: a source seen once. A flood of spoofed packets, one per
//     random address, only ever churns this segment; each entry holds one
//     knock and costs a few dozen bytes, so it can be large.
//   - active: a source seen at least twice within the knock timeout, with a
//     queue of its last knocks. A flood cannot push a real client out of it
//     unless the flood repeats addresses, which costs the flooder as much
//     as the client.
//
// Knocks further apart than the timeout start a new queue.
//
// Each active source also has a budget: a token bucket of costly work
// (the engine spends it on full decodes of candidates that skip foreign
// knocks), full when the source becomes active and refilled at a fixed
// rate, so that one source's packets cannot buy more work than that
// whatever they hold.
package tracker

import (
	"net/netip"
	"time"
)

// Config sizes a tracker.
type Config struct {
	Probation int           // sources seen once (default 131072)
	Active    int           // sources seen more than once (default 16384)
	Depth     int           // knocks kept per active source (default 64)
	Timeout   time.Duration // longest gap between knocks of one sequence (default 10 s)
	Budget    int           // work units an active source may spend at once (default 1024)
	Refill    time.Duration // time to earn the whole budget back (default 20 s)
}

func (c *Config) defaults() {
	if c.Probation <= 0 {
		c.Probation = 1 << 17
	}
	if c.Active <= 0 {
		c.Active = 1 << 14
	}
	if c.Depth <= 0 {
		c.Depth = 64
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Budget <= 0 {
		c.Budget = 1024
	}
	if c.Refill <= 0 {
		c.Refill = 20 * time.Second
	}
}

type key [16]byte

func keyOf(a netip.Addr) key { return a.As16() }

// Stats are the tracker's counters.
type Stats struct {
	Probation, Active uint64 // sources tracked now
	Evicted           uint64 // sources pushed out to make room
	Expired           uint64 // queues restarted because the timeout passed
	Promoted          uint64 // sources moved from probation to active
	Throttled         uint64 // times a source ran out of budget
}

// Tracker is the per-source queue store. It is not safe for concurrent use:
// the daemon's decision loop owns it.
type Tracker struct {
	cfg       Config
	timeout   int64
	perToken  int64 // nanoseconds to earn one unit of budget back
	probation lru[probEntry]
	active    lru[activeEntry]
	ring      []uint16 // Active*Depth ports, Depth per active slot
	out       []uint16 // scratch returned by Add
	stats     Stats
}

type probEntry struct {
	port uint16
	last int64
}

type activeEntry struct {
	start, n  int // ring position of the oldest knock, and the count
	last      int64
	tokens    int   // budget left
	filled    int64 // when tokens were last topped up
	throttled bool  // ran out since the budget was last full
}

// New returns a tracker with all its memory allocated.
func New(cfg Config) *Tracker {
	cfg.defaults()
	return &Tracker{
		cfg:       cfg,
		timeout:   int64(cfg.Timeout),
		perToken:  max(int64(cfg.Refill)/int64(cfg.Budget), 1),
		probation: newLRU[probEntry](cfg.Probation),
		active:    newLRU[activeEntry](cfg.Active),
		ring:      make([]uint16, cfg.Active*cfg.Depth),
		out:       make([]uint16, 0, cfg.Depth),
	}
}

// Add records a knock on port from src at t and returns the source's queue,
// oldest first, ending with this knock. The slice is valid until the next
// call.
func (t *Tracker) Add(src netip.Addr, port uint16, at time.Time) []uint16 {
	k := keyOf(src)
	now := at.UnixNano()
	if i, ok := t.active.get(k); ok {
		return t.addActive(i, port, now)
	}
	if i, ok := t.probation.get(k); ok {
		prev := *t.probation.val(i)
		t.probation.remove(i)
		if now-prev.last <= t.timeout {
			t.stats.Promoted++
			j := t.insertActive(k, now)
			t.addActive(j, prev.port, prev.last)
			return t.addActive(j, port, now)
		}
		t.stats.Expired++
	}
	if t.probation.full() {
		t.probation.remove(t.probation.oldest())
		t.stats.Evicted++
	}
	i := t.probation.insert(k)
	*t.probation.val(i) = probEntry{port: port, last: now}
	t.out = append(t.out[:0], port)
	return t.out
}

func (t *Tracker) insertActive(k key, now int64) int {
	if t.active.full() {
		t.active.remove(t.active.oldest())
		t.stats.Evicted++
	}
	i := t.active.insert(k)
	*t.active.val(i) = activeEntry{tokens: t.cfg.Budget, filled: now}
	return i
}

func (t *Tracker) addActive(i int, port uint16, now int64) []uint16 {
	e := t.active.val(i)
	if e.n > 0 && now-e.last > t.timeout {
		e.n = 0
		t.stats.Expired++
	}
	t.active.touch(i)
	d := t.cfg.Depth
	base := i * d
	if e.n == d {
		// Full: overwrite the oldest.
		t.ring[base+e.start] = port
		e.start = (e.start + 1) % d
	} else {
		t.ring[base+(e.start+e.n)%d] = port
		e.n++
	}
	e.last = now
	t.out = t.out[:0]
	for j := 0; j < e.n; j++ {
		t.out = append(t.out, t.ring[base+(e.start+j)%d])
	}
	return t.out
}

// Consume forgets src's knocks, after a knock was accepted from them, so
// its ports cannot be read again as part of another knock.
func (t *Tracker) Consume(src netip.Addr) {
	k := keyOf(src)
	if i, ok := t.active.get(k); ok {
		t.active.remove(i)
	}
	if i, ok := t.probation.get(k); ok {
		t.probation.remove(i)
	}
}

// Allowance returns how much of its budget src may spend at time at: its
// tokens, topped up for the time since they were last counted. A source
// not in the active segment has none.
func (t *Tracker) Allowance(src netip.Addr, at time.Time) int {
	i, ok := t.active.get(keyOf(src))
	if !ok {
		return 0
	}
	e := t.active.val(i)
	now := at.UnixNano()
	if earned := (now - e.filled) / t.perToken; earned > 0 {
		e.tokens += int(min(earned, int64(t.cfg.Budget)))
		e.filled += earned * t.perToken
	}
	if e.tokens >= t.cfg.Budget {
		e.tokens, e.filled, e.throttled = t.cfg.Budget, now, false
	}
	return e.tokens
}

// Spend takes n units from src's budget; call Allowance first. starved
// says that src wanted more than it had. Spend reports whether src has
// just been throttled: starved for the first time since its budget was
// last full, so that each episode is counted and logged once.
func (t *Tracker) Spend(src netip.Addr, n int, starved bool) (throttled bool) {
	i, ok := t.active.get(keyOf(src))
	if !ok {
		return false
	}
	e := t.active.val(i)
	e.tokens = max(e.tokens-n, 0)
	if starved && !e.throttled {
		e.throttled = true
		t.stats.Throttled++
		return true
	}
	return false
}

// Drop removes the n oldest knocks of src's queue (after they were used).
func (t *Tracker) Drop(src netip.Addr, n int) {
	i, ok := t.active.get(keyOf(src))
	if !ok {
		return
	}
	e := t.active.val(i)
	if n >= e.n {
		e.n, e.start = 0, 0
		return
	}
	e.start = (e.start + n) % t.cfg.Depth
	e.n -= n
}

// Stats returns the counters and current sizes.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Probation = uint64(t.probation.len())
	s.Active = uint64(t.active.len())
	return s
}

// Depth is the number of knocks kept per active source.
func (t *Tracker) Depth() int { return t.cfg.Depth }

// Config returns the tracker's sizes, defaults filled in.
func (t *Tracker) Config() Config { return t.cfg }

// Defaulted returns c with its defaults filled in, as New would.
func (c Config) Defaulted() Config { c.defaults(); return c }
