package replay

import "time"

// Open loads the cache at path ("" keeps it in memory only), holding at
// most max entries (DefaultMax when max <= 0). It sets no horizon.
//
// Deprecated: use New and Claim.
func Open(path string, max int, now func() time.Time) (*Cache, error) {
	return open(path, Options{Max: max, Now: now}, osFS{}, true)
}

// OpenReadOnly loads the cache at path for lookups only: nothing on disk
// changes, and Add keeps new entries in memory (knockdaemon -decode).
//
// Deprecated: use New with Options.ReadOnly, and Claim.
func OpenReadOnly(path string, now func() time.Time) (*Cache, error) {
	return open(path, Options{Now: now, ReadOnly: true}, osFS{}, true)
}

// Seen reports whether id was added and has not expired.
//
// Deprecated: use Claim; Seen then Add lets two callers both pass.
func (c *Cache) Seen(id ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[id]
	return ok && exp > c.now().Unix()
}

// Add remembers id until expires, on disk before it returns. When the
// cache is full, the entry closest to expiry is forgotten first.
//
// Deprecated: use Claim, which refuses rather than forgets.
func (c *Cache) Add(id ID, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	now := c.now().Unix()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		c.evictOne(now)
	}
	if err := c.record(id, expires.Unix(), now); err != nil {
		c.stats.Failures++
		return err
	}
	return nil
}

func (c *Cache) evictOne(now int64) {
	var victim ID
	first := true
	var min int64
	for id, exp := range c.entries {
		if exp <= now {
			delete(c.entries, id)
			return
		}
		if first || exp < min {
			victim, min, first = id, exp, false
		}
	}
	delete(c.entries, victim)
	c.stats.Evicted++
}

// Len is the number of entries held (expired ones included until swept).
//
// Deprecated: use Stats.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Evicted counts entries forgotten early because the cache was full.
//
// Deprecated: use Stats.
func (c *Cache) Evicted() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats.Evicted
}
