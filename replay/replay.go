// Package replay remembers accepted knocks so that a captured knock cannot
// be played back, across daemon restarts.
//
// Each accepted knock leaves an identifier (a hash of what was sent) and the
// time until which it must be refused. The cache lives in memory and, when
// given a path, in an append-only text file, one entry per line:
//
//	<64 hex digits of the ID> <Unix seconds of expiry>
//
// An entry is written and synced before the knock it records is acted on,
// so a crash cannot forget a knock that opened something. At start the
// file is read back (a torn last line from a crash is ignored; damage
// anywhere else stops the daemon: it will not run without its memory),
// expired entries dropped, and the file rewritten compactly.
package replay

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ID identifies one knock.
type ID [32]byte

// DefaultMax is the default cap on remembered knocks.
const DefaultMax = 1 << 20

// Cache is the replay cache. It is safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	path    string
	max     int
	now     func() time.Time
	entries map[ID]int64 // expiry, Unix seconds
	file    *os.File
	lines   int // lines in the file
	// nextCompact is the line count at which the file is rewritten
	// without expired entries: the file stays within about twice the
	// live entries.
	nextCompact int
	evicted     uint64
}

// Open loads the cache at path ("" keeps it in memory only), holding at
// most max entries (DefaultMax when max <= 0).
func Open(path string, max int, now func() time.Time) (*Cache, error) {
	if max <= 0 {
		max = DefaultMax
	}
	if now == nil {
		now = time.Now
	}
	c := &Cache{path: path, max: max, now: now, entries: make(map[ID]int64)}
	if path == "" {
		return c, nil
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	if err := c.rewrite(); err != nil {
		return nil, err
	}
	return c, nil
}

// OpenReadOnly loads the cache at path for lookups only: Add keeps new
// entries in memory and the file is never written (knockdaemon -decode).
func OpenReadOnly(path string, now func() time.Time) (*Cache, error) {
	if now == nil {
		now = time.Now
	}
	c := &Cache{path: path, max: DefaultMax, now: now, entries: make(map[ID]int64)}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cache) load() error {
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	now := c.now().Unix()
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		id, exp, err := parseLine(line)
		if err != nil {
			if i == len(lines)-1 {
				break // a torn last line, written when the daemon died
			}
			return fmt.Errorf("replay cache %s:%d: %w (move the file away to start with an empty cache)", c.path, i+1, err)
		}
		if exp > now {
			c.entries[id] = exp
		}
	}
	return nil
}

func parseLine(line []byte) (ID, int64, error) {
	var id ID
	h, e, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(h) != 2*len(id) {
		return id, 0, fmt.Errorf("expected \"<64 hex digits> <unix time>\", got %q", line)
	}
	if _, err := hex.Decode(id[:], h); err != nil {
		return id, 0, fmt.Errorf("bad ID %q: %w", h, err)
	}
	exp, err := strconv.ParseInt(string(e), 10, 64)
	if err != nil {
		return id, 0, fmt.Errorf("bad expiry %q", e)
	}
	return id, exp, nil
}

// rewrite writes the live entries to a new file and renames it into place.
func (c *Cache) rewrite() error {
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".replay-*")
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	w := bufio.NewWriter(tmp)
	for id, exp := range c.entries {
		fmt.Fprintf(w, "%x %d\n", id[:], exp)
	}
	err = errors.Join(w.Flush(), tmp.Sync(), tmp.Chmod(0o600), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), c.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("replay cache: %w", err)
	}
	c.lines = len(c.entries)
	c.nextCompact = 2*len(c.entries) + 1024
	c.file, err = os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	return nil
}

// Seen reports whether id was added and has not expired.
func (c *Cache) Seen(id ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[id]
	return ok && exp > c.now().Unix()
}

// Add remembers id until expires, on disk before it returns. When the
// cache is full, the entry closest to expiry is forgotten first.
func (c *Cache) Add(id ID, expires time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := expires.Unix()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		c.evictOne()
	}
	c.entries[id] = exp
	if c.file == nil {
		return nil
	}
	if _, err := fmt.Fprintf(c.file, "%x %d\n", id[:], exp); err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	if err := c.file.Sync(); err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	c.lines++
	if c.lines >= c.nextCompact {
		return c.compact()
	}
	return nil
}

func (c *Cache) compact() error {
	now := c.now().Unix()
	for id, exp := range c.entries {
		if exp <= now {
			delete(c.entries, id)
		}
	}
	return c.rewrite()
}

func (c *Cache) evictOne() {
	now := c.now().Unix()
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
	c.evicted++
}

// Len is the number of entries held (expired ones included until swept).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Evicted counts entries forgotten early because the cache was full.
func (c *Cache) Evicted() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evicted
}

// Close closes the file.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file == nil {
		return nil
	}
	err := c.file.Close()
	c.file = nil
	return err
}
