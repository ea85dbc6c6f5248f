// Package replay remembers accepted knocks so that a captured knock cannot
// be played back, across daemon restarts. It is specified in
// docs/sealed.md, "Replay and clocks".
//
// Each accepted knock leaves an identifier (a hash of what was sent) and the
// time until which it must be refused. The engine asks one question, in one
// step: [Cache.Claim] records an ID and says whether it was new. The
// contract, for the engine and for any other store (the fake in
// replaytest, a shared store for a fleet):
//
//   - Claim(id, until) returns fresh=true for exactly one caller per
//     unexpired ID, however many goroutines claim it at once; the check
//     and the record are one step under one lock.
//   - fresh=true means the record is durable (written and fsynced) before
//     Claim returns: a crash after it cannot forget the knock.
//   - Any failure to record returns an error and fresh=false; the engine
//     then refuses the knock (fail closed). A full cache (Options.Max
//     unexpired IDs) is a failure too: it never forgets an unexpired ID to
//     make room.
//   - An ID is forgotten once until has passed (Unix seconds); the knock's
//     own time check refuses it from then on.
//   - [Cache.Horizon] is the instant up to which the cache cannot vouch for
//     the past: the engine refuses every knock whose own time stamp is at
//     or before it (!stamp.After(Horizon())), for every protocol that
//     carries a time (sealed, fwknop, legacy with THIS* fields). It is the
//     zero time when the cache vouches for everything.
//
// # The file
//
// Given a path, the cache lives in an append-only text file, one line per
// claim, and at most one horizon line:
//
//	<64 hex digits of the ID> <Unix seconds of expiry>
//	horizon <Unix seconds>
//
// The file is a regular file, mode 0600, owned by the daemon's user, in a
// folder others cannot write to (created 0700). It is opened without
// following a symbolic link nor blocking on a FIFO, checked on the open
// descriptor, and locked (flock) so that two daemons cannot share it. An
// error names the file, a line number and what was wrong, never what the
// file holds.
//
// When the file holds about twice the live entries it is compacted: the
// live entries are written to path+".new", which is fsynced, renamed over
// the file, and the folder fsynced. A failure leaves the current file in
// use and intact; it is logged and counted, and claims go on appending to
// the current file. A claim whose append fails is cut back off the file;
// if even that fails, the next line is joined to the fragment, and
// reading back recovers it (below).
//
// # Reading it back
//
// At start the file is read back and nothing in it stops the daemon:
//
//   - A torn line (the start of a line cut short, at the end of the file
//     or joined to the next line by an append that failed) is dropped and
//     counted: no claim acknowledged it, since a claim returns only once
//     its whole line is synced. A record joined after it is kept.
//   - A damaged line (anything else) is dropped and counted by line
//     number. It may have held a claim, so the cache no longer vouches for
//     the past: see the horizon.
//   - Expired entries are dropped.
//
// # The horizon
//
// A cache that lost entries cannot tell a replay from a first knock, so
// after a loss it refuses every knock stamped at or before start + Window,
// where Window is the longest a stamp may be ahead of the clock and still
// be accepted (the largest window of the protocols served): any knock
// accepted before the loss carried such a stamp. The cache has lost
// entries when:
//
//   - the folder exists but the file does not (moved away, deleted);
//   - the file has damaged lines;
//   - it lives in memory only (path "").
//
// A first start is told by the folder: when the folder of path does not
// exist, New creates it (0700) with an empty file, and the horizon is
// zero. So the daemon must be the one that creates the folder: a folder
// made beforehand (by a package, by systemd's StateDirectory=) makes the
// first start look like a loss, and knocks are refused for one window.
// That costs a minute by default, and errs on the safe side.
//
// The horizon is written to the file, so a restart within the window keeps
// it; compaction drops it once it is more than a window in the past, when
// the time check alone refuses such stamps. A file that exists but cannot
// be opened or read (permissions, an I/O error, not a regular file) stops
// start-up with an error instead: the operator must look.
package replay

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ID identifies one knock.
type ID [32]byte

// DefaultMax is the default cap on remembered knocks.
const DefaultMax = 1 << 20

// Sentinel errors of Claim.
var (
	// ErrFull says the cache holds Options.Max unexpired IDs: the knock is
	// refused rather than an unexpired ID forgotten.
	ErrFull = errors.New("replay cache full of unexpired knocks")
	// ErrClosed says the cache was closed.
	ErrClosed = errors.New("replay cache closed")
)

// Options configure New.
type Options struct {
	// Window is the longest a knock's time stamp may be ahead of the
	// daemon's clock and still be accepted: the largest window of every
	// protocol the engine serves. Required; it sets the horizon.
	Window time.Duration
	// Max caps the unexpired IDs held (DefaultMax when <= 0).
	Max int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// ReadOnly reads the file and never changes anything on disk, not
	// even creating the file or its folder (knockdaemon -decode); claims
	// are then held in memory only.
	ReadOnly bool
	// Log receives what the operator should know: what New recovered,
	// compactions that failed (nil: nothing is logged).
	Log *slog.Logger
}

// Cache is the replay cache. It is safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	path     string
	dir      string
	fsys     fileSystem
	max      int
	window   int64 // seconds
	now      func() time.Time
	readOnly bool
	log      *slog.Logger

	entries map[ID]int64 // expiry, Unix seconds
	horizon int64        // Unix seconds; 0: none
	closed  bool

	file        file  // nil: memory only, or read-only
	size        int64 // bytes of whole lines in file
	lines       int   // lines in file
	nextCompact int   // the line count at which the file is compacted
	dirDirty    bool  // a rename is not yet known durable: sync the folder before a claim
	buf         []byte

	rec   Recovery
	stats Stats
}

// Recovery says what New found and what it did about it.
type Recovery struct {
	Entries int   // unexpired entries read back
	Expired int   // entries dropped because they had expired
	Torn    int   // fragments of appends that never finished, dropped (no claim lost)
	Damaged []int // line numbers of damaged lines, dropped (each may have been a claim)
	// Lost says why the cache cannot vouch for the past ("" when it can):
	// "file missing", "damaged lines", "memory only".
	Lost    string
	Horizon time.Time // see Cache.Horizon
	// CompactErr is a compaction at start that failed; the file read is
	// kept in use.
	CompactErr error
}

// String describes the recovery for a log line; "" when there is nothing
// to say.
func (r Recovery) String() string {
	var s string
	if r.Torn > 0 {
		s += fmt.Sprintf("dropped %d torn line(s) left by unfinished writes; ", r.Torn)
	}
	if n := len(r.Damaged); n > 0 {
		s += fmt.Sprintf("dropped %d damaged line(s) (lines %s); ", n, lineList(r.Damaged))
	}
	if r.Lost != "" {
		s += fmt.Sprintf("cannot vouch for the past (%s): refusing knocks stamped at or before %s; ", r.Lost, r.Horizon.UTC().Format(time.RFC3339))
	}
	if r.CompactErr != nil {
		s += fmt.Sprintf("could not rewrite the file, appending to it as it is: %v; ", r.CompactErr)
	}
	if s == "" {
		return ""
	}
	return s[:len(s)-2]
}

func lineList(l []int) string {
	s := ""
	for i, n := range l {
		if i == 5 {
			return s + fmt.Sprintf(", and %d more", len(l)-i)
		}
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(n)
	}
	return s
}

// Stats counts what the cache did since New.
type Stats struct {
	Entries         int    // IDs held (expired ones until swept)
	Fresh           uint64 // claims that were new
	Replays         uint64 // claims of an ID held
	Failures        uint64 // claims refused because they could not be recorded
	Full            uint64 // claims refused because the cache was full
	Compactions     uint64 // file rewrites that succeeded
	CompactFailures uint64 // file rewrites that failed (the file was kept)
	LastCompactErr  error  // the last rewrite failure, nil if none
}

// New opens the cache at path ("" keeps it in memory only), reading back
// what the file holds (see the package doc for what is recovered and how).
func New(path string, opt Options) (*Cache, error) {
	if opt.Window <= 0 {
		return nil, errors.New("replay cache: Options.Window must be positive (the largest time window of the protocols served)")
	}
	return open(path, opt, osFS{})
}

func open(path string, opt Options, fsys fileSystem) (*Cache, error) {
	if opt.Max <= 0 {
		opt.Max = DefaultMax
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{path: path, dir: filepath.Dir(path), fsys: fsys, max: opt.Max,
		window: int64((opt.Window + time.Second - 1) / time.Second), now: opt.Now,
		readOnly: opt.ReadOnly, log: opt.Log, entries: make(map[ID]int64)}
	if err := c.load(); err != nil {
		if c.file != nil {
			c.file.Close()
		}
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	if c.horizon != 0 {
		c.rec.Horizon = time.Unix(c.horizon, 0)
	}
	if s := c.rec.String(); s != "" {
		c.log.Warn("replay cache: "+s, "file", path)
	}
	return c, nil
}

func (c *Cache) load() error {
	now := c.now().Unix()
	if c.path == "" {
		c.lose(now, "memory only")
		return nil
	}
	if ok, err := dirExists(c.fsys, c.path); err != nil {
		return err
	} else if !ok {
		// A first start: no folder, so nothing was ever accepted here.
		if c.readOnly {
			return nil
		}
		if err := c.fsys.mkdir(c.dir, dirMode); err != nil {
			return err
		}
		return c.compact(now)
	}
	if err := checkDir(c.fsys, c.dir); err != nil {
		return err
	}
	fi, err := c.fsys.lstat(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		c.lose(now, "file missing")
		if c.readOnly {
			return nil
		}
		return c.compact(now)
	}
	if err != nil {
		return err
	}
	// Refuse what is not a regular file before opening it (opening a
	// device may do something); openRegular checks again on the open
	// descriptor.
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: is %s, not a regular file", c.path, kind(uint32(modeBits(fi))))
	}
	flag := syscall.O_RDWR | syscall.O_APPEND
	if c.readOnly {
		flag = syscall.O_RDONLY
	}
	f, err := c.fsys.open(c.path, flag, 0)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", c.path, err)
	}
	p := parse(data, now)
	c.entries, c.horizon = p.entries, p.horizon
	c.rec.Entries, c.rec.Expired, c.rec.Torn, c.rec.Damaged = len(p.entries), p.expired, p.torn, p.damaged
	if len(p.damaged) > 0 {
		c.lose(now, "damaged lines")
	}
	if c.readOnly {
		return f.Close()
	}
	c.file, c.size, c.lines = f, int64(len(data)), p.lines
	c.nextCompact = 2*len(c.entries) + 1024
	if p.clean && p.torn == 0 && len(p.damaged) == 0 && p.horizon == c.horizon && c.lines < c.nextCompact {
		return nil
	}
	if err := c.compact(now); err != nil {
		// Keep the file as it is, and make sure it holds the horizon.
		c.rec.CompactErr = err
		if c.horizon > p.horizon {
			return c.appendLine(appendHorizon(nil, c.horizon))
		}
	}
	return nil
}

func modeBits(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Mode
	}
	return 0
}

// lose records that the cache cannot vouch for the past.
func (c *Cache) lose(now int64, why string) {
	c.rec.Lost = why
	c.horizon = max(c.horizon, now+c.window)
}

// Horizon is the instant up to which the cache cannot vouch for the past:
// refuse every knock whose own time stamp is at or before it. It is the
// zero time when the cache vouches for everything, or when the horizon is
// more than a window in the past (the time check then refuses those
// stamps anyway).
func (c *Cache) Horizon() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.horizon == 0 || c.horizon+c.window < c.now().Unix() {
		return time.Time{}
	}
	return time.Unix(c.horizon, 0)
}

// Claim records id until until and reports whether it was new, in one
// step: of many claims of one unexpired ID, exactly one is fresh. A fresh
// claim is on disk (synced) before Claim returns. When it cannot be
// recorded, Claim returns fresh=false and an error, and the knock must be
// refused. A compaction that follows a claim and fails does not fail the
// claim: it is logged and counted in Stats.
func (c *Cache) Claim(id ID, until time.Time) (fresh bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().Unix()
	if exp, ok := c.entries[id]; ok && exp > now {
		c.stats.Replays++
		return false, nil
	}
	if c.closed {
		return false, ErrClosed
	}
	if len(c.entries) >= c.max {
		c.sweep(now)
		if len(c.entries) >= c.max {
			c.stats.Full++
			return false, ErrFull
		}
	}
	if err := c.record(id, until.Unix(), now); err != nil {
		c.stats.Failures++
		return false, err
	}
	c.stats.Fresh++
	return true, nil
}

// record writes one entry and keeps it; c.mu is held.
func (c *Cache) record(id ID, exp, now int64) error {
	if c.file != nil {
		if c.dirDirty {
			if err := c.fsys.syncDir(c.dir); err != nil {
				return fmt.Errorf("replay cache %s: the last rewrite is not durable: %w", c.dir, err)
			}
			c.dirDirty = false
		}
		c.buf = appendEntry(c.buf[:0], id, exp)
		if err := c.appendLine(c.buf); err != nil {
			return fmt.Errorf("replay cache: %w", err)
		}
	}
	c.entries[id] = exp
	if c.file != nil && c.lines >= c.nextCompact {
		if err := c.compact(now); err != nil {
			c.log.Error("replay cache: could not compact the file; it stays in use as it is", "file", c.path, "err", err)
		}
	}
	return nil
}

// appendLine appends one line and syncs it. On failure it cuts the file
// back to its last whole line; if even that fails, the next line is joined
// to the fragment, and reading the file back recovers it (see parse).
func (c *Cache) appendLine(b []byte) error {
	n, err := c.file.Write(b)
	if err == nil {
		err = c.file.Sync()
	}
	if err != nil {
		if terr := c.file.Truncate(c.size); terr != nil {
			c.log.Error("replay cache: could not cut a failed write off the file", "file", c.path, "err", terr)
		}
		// The descriptor may carry the name it was created under
		// (path+".new"): name the file by its path.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s: %s: %w", c.path, pe.Op, pe.Err)
		}
		return fmt.Errorf("%s: %w", c.path, err)
	}
	c.size += int64(n)
	c.lines++
	return nil
}

// sweep forgets expired entries.
func (c *Cache) sweep(now int64) {
	for id, exp := range c.entries {
		if exp <= now {
			delete(c.entries, id)
		}
	}
}

// Recovery says what New found in the file.
func (c *Cache) Recovery() Recovery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = len(c.entries)
	return s
}

// Close closes the file; later claims fail with ErrClosed.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.file == nil {
		return nil
	}
	err := c.file.Close()
	c.file = nil
	return err
}
