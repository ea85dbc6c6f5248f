// Package logfile is the daemon's `runmode = file` knock source: it follows
// a firewall log, as the Perl prototype did, and turns each line that a
// list of regular expressions recognizes into a hit.
//
// Following is `tail -F` made careful, because a lost line is a lost knock
// and a knock is a sequence: a line missing from the middle fails the
// whole knock. So the follower starts at the end of the file (old knocks
// must not open ports at start-up), wakes on inotify with a polling
// fallback (NFS, a full inotify table), reads a renamed file to its end
// before taking up the new one at the same path, starts over when a
// copytruncate shrinks the file, even if it grew again before anyone
// looked, holds a half-written line until its newline comes, and bounds
// how long such a line may grow.
//
// Hits are dated by their arrival (an injected clock), not by the log's
// timestamp: syslog writes neither year nor zone, and the client's
// template may write no date at all.
//
// The prototype's client could write knocks into a fake log with a
// `fileformat` template instead of sending packets. Both ends of that are
// here, Render and PatternFor, so that client and daemon agree on it; the
// default template is a kernel LOG line that the default patterns read.
package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/portknock/knock/source"
)

// Defaults for a zero Config.
const (
	DefaultPoll    = 250 * time.Millisecond
	DefaultMaxLine = 64 << 10
)

// Config says what to follow and how to read it.
type Config struct {
	Path string // the log file; its directory must exist, the file need not yet
	// Patterns are regular expressions with named groups (see NewParser);
	// empty means DefaultPatterns. A daemon reading a client's fake log
	// gives PatternFor(the client's fileformat).
	Patterns  []string
	FromStart bool // read the lines already in the file (default: only new ones)
	// AnyFlags are TCP ports whose lines are hits whatever flags they
	// show (knockd's doors); elsewhere a line showing flags must be a SYN.
	AnyFlags []uint16
	// Poll is how often the file is looked at without any inotify event;
	// 0 means DefaultPoll.
	Poll     time.Duration
	PollOnly bool             // do not use inotify
	MaxLine  int              // longer lines are dropped and counted; 0 means DefaultMaxLine
	Now      func() time.Time // the clock dating hits; nil means time.Now
	Logger   *slog.Logger     // what the operator is told (file missing, rotated); nil: nothing
}

// Source follows one log file. It implements source.Source and
// source.Counters.
type Source struct {
	path     string
	parser   *Parser
	poll     time.Duration
	pollOnly bool
	maxLine  int
	now      func() time.Time
	log      *slog.Logger
	c        counters
	running  atomic.Bool
	resume   position // where the next Run starts; only touched by Run
}

type counters struct {
	read, matched, unmatched, tooLong, notKnock, badFields, hits atomic.Uint64
	rotations, truncations, readErrors, copiedTails              atomic.Uint64
}

var errRunning = errors.New("log file source is already running")

// New checks cfg and notes where reading will start: the end of the file
// as it is now, unless cfg.FromStart. A file that does not exist yet is
// read from its start once it appears.
func New(cfg Config) (*Source, error) {
	if cfg.Path == "" {
		return nil, errors.New("no log file: set the path of the firewall log to follow")
	}
	dir := filepath.Dir(cfg.Path)
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("log file %q: %w", cfg.Path, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("log file %q: %q is not a directory", cfg.Path, dir)
	}
	if st, err := os.Stat(cfg.Path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("log file %q is not a regular file (%v)", cfg.Path, st.Mode().Type())
	}
	if cfg.Poll < 0 || cfg.MaxLine < 0 {
		return nil, fmt.Errorf("log file %q: poll interval %v and line limit %d must not be negative", cfg.Path, cfg.Poll, cfg.MaxLine)
	}
	patterns := cfg.Patterns
	if len(patterns) == 0 {
		patterns = DefaultPatterns
	}
	parser, err := NewParser(patterns)
	if err != nil {
		return nil, err
	}
	parser.KeepFlags(cfg.AnyFlags)
	s := &Source{
		path:     cfg.Path,
		parser:   parser,
		poll:     orDefault(cfg.Poll, DefaultPoll),
		pollOnly: cfg.PollOnly,
		maxLine:  orDefault(cfg.MaxLine, DefaultMaxLine),
		now:      cfg.Now,
		log:      cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if !cfg.FromStart {
		s.resume = endOf(cfg.Path)
	}
	return s, nil
}

// orDefault is v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// endOf is the position at the end of the file at path, if there is one.
func endOf(path string) position {
	info, err := os.Stat(path)
	if err != nil {
		return position{}
	}
	p := position{info: info, off: info.Size()}
	if f, err := os.Open(path); err == nil {
		p.tail = readTail(f, p.off)
		f.Close()
	}
	return p
}

// Run follows the file until ctx ends, sending a hit for every line that
// is a knock. A later Run goes on where the last one stopped.
func (s *Source) Run(ctx context.Context, out chan<- source.Hit) error {
	if !s.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer s.running.Store(false)

	var w *watcher
	if !s.pollOnly {
		var err error
		if w, err = newWatcher(s.path); err != nil {
			s.log.Warn("no inotify: polling the log file", "path", s.path, "every", s.poll, "err", err)
		}
	}
	defer w.close()
	fl := &follower{
		path:    s.path,
		maxLine: s.maxLine,
		log:     s.log,
		c:       &s.c,
		resume:  s.resume,
		line: func(ctx context.Context, line []byte) error {
			return s.handle(ctx, line, out)
		},
	}
	defer func() {
		s.resume = fl.position()
		fl.close()
	}()

	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	var watched *os.File
	for {
		if err := fl.step(ctx); err != nil {
			return nil // only delivery fails, when ctx is done
		}
		if fl.f != watched {
			w.watchFile(fl.f)
			watched = fl.f
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-w.C():
		}
	}
}

// handle parses one line and delivers its hit.
func (s *Source) handle(ctx context.Context, line []byte, out chan<- source.Hit) error {
	s.c.read.Add(1)
	h, err := s.parser.Parse(bytes.TrimSuffix(line, []byte("\r")))
	switch {
	case err == ErrUnmatched:
		s.c.unmatched.Add(1)
		return nil
	case err == ErrNotKnock:
		s.c.matched.Add(1)
		s.c.notKnock.Add(1)
		return nil
	case err != nil:
		s.c.matched.Add(1)
		s.c.badFields.Add(1)
		s.log.Debug("log line dropped", "err", err)
		return nil
	}
	s.c.matched.Add(1)
	s.c.hits.Add(1)
	h.Time = s.now()
	select {
	case out <- h:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Counters reports what was read and dropped: lines read, matched by a
// pattern or not, too long, matched but not a knock (lines_not_knock) or
// with a bad address or port (bad_fields), hits sent, files replaced
// (rotations), truncations and read errors.
func (s *Source) Counters() map[string]uint64 {
	return map[string]uint64{
		"lines_read":      s.c.read.Load(),
		"lines_matched":   s.c.matched.Load(),
		"lines_unmatched": s.c.unmatched.Load(),
		"lines_too_long":  s.c.tooLong.Load(),
		"lines_not_knock": s.c.notKnock.Load(),
		"bad_fields":      s.c.badFields.Load(),
		"hits":            s.c.hits.Load(),
		"rotations":       s.c.rotations.Load(),
		"truncations":     s.c.truncations.Load(),
		"tails_from_copy": s.c.copiedTails.Load(),
		"read_errors":     s.c.readErrors.Load(),
	}
}

var (
	_ source.Source   = (*Source)(nil)
	_ source.Counters = (*Source)(nil)
)
