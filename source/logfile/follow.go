package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// tailLen is how many bytes before the read offset every read compares
// with what was read there before. A copytruncate followed by fast writes
// can grow the file past the offset before the follower looks; its size
// then says nothing, but these bytes have changed.
const tailLen = 128

// readSize is how much one read takes.
const readSize = 64 << 10

// position is where reading stopped in a file, so that the next Run goes
// on from there if the file is still the same one.
type position struct {
	info os.FileInfo // nil: no file
	off  int64
	tail []byte // the bytes just before off, at most tailLen
}

// continues reports whether f (described by info) is the file p was in,
// unchanged up to p.off. Without the bytes before p.off (the file could not
// be read when p was taken), its size must have reached p.off.
func (p position) continues(f *os.File, info os.FileInfo) bool {
	if p.info == nil || !os.SameFile(info, p.info) || info.Size() < p.off {
		return false
	}
	return p.tail == nil || bytes.Equal(readTail(f, p.off), p.tail)
}

// follower reads a log file the way `tail -F` does, one step at a time;
// Run calls step whenever inotify or the poll ticker says something may
// have changed. It is not safe for concurrent use.
type follower struct {
	path    string
	maxLine int
	log     *slog.Logger
	c       *counters
	line    func(ctx context.Context, line []byte) error // one complete line, newline cut off
	resume  position                                     // where the first file opened goes on from
	opened  bool                                         // a file was opened in this run

	f        *os.File
	info     os.FileInfo
	off      int64  // the next byte to read
	tail     []byte // the bytes just before off
	partial  []byte // a line still waiting for its newline
	skipping bool   // dropping bytes up to the next newline
	absent   bool   // the file was missing or unreadable, and that was logged
	failing  bool   // reading fails, and that was logged
	rbuf     []byte
}

// step reads what was appended, notices truncation and replacement, and
// moves to a replacing file once the old one is read to its end.
func (fl *follower) step(ctx context.Context) error {
	st, statErr := os.Stat(fl.path)
	if fl.f == nil {
		if statErr != nil {
			fl.noteAbsent(statErr)
			return nil
		}
		if !fl.open() {
			return nil
		}
		return fl.drain(ctx)
	}
	// Read the current file to its end before looking at a replacement:
	// the stat above came first, so a replacement that already held
	// lines then means the writer had left the old file before the read.
	if err := fl.drain(ctx); err != nil {
		return err
	}
	// An empty replacement may be there before the writer reopens (a
	// logger awaiting its SIGHUP still writes to the old file): stay.
	replaced := statErr == nil && !os.SameFile(st, fl.info) && st.Size() > 0
	if !replaced {
		return nil
	}
	return fl.switchFile(ctx)
}

func (fl *follower) noteAbsent(err error) {
	if !fl.absent {
		fl.log.Info("waiting for the log file", "path", fl.path, "err", err)
		fl.absent = true
	}
}

// open opens the file at path: where the last run stopped if it is the
// same file, else from its start.
func (fl *follower) open() bool {
	f, info, err := openRegular(fl.path)
	if err != nil {
		fl.noteAbsent(err)
		return false
	}
	if fl.absent {
		fl.log.Info("log file is there", "path", fl.path)
		fl.absent = false
	}
	off := int64(0)
	if !fl.opened && fl.resume.continues(f, info) {
		off = fl.resume.off
	}
	fl.opened = true
	fl.setFile(f, info, off)
	return true
}

// setFile makes f the file read, from off. Reading from the middle of a
// line (the end of a file being written) drops the rest of that line.
func (fl *follower) setFile(f *os.File, info os.FileInfo, off int64) {
	fl.f, fl.info, fl.off = f, info, off
	fl.tail = readTail(f, off)
	fl.partial = fl.partial[:0]
	fl.skipping = len(fl.tail) > 0 && fl.tail[len(fl.tail)-1] != '\n'
}

// switchFile moves to the file now at path, from its start. The old file
// has been read to its end; a last line without newline is complete, since
// its writer has moved on.
func (fl *follower) switchFile(ctx context.Context) error {
	f, info, err := openRegular(fl.path)
	if err != nil {
		return nil // gone again: the next step sees what is there
	}
	if err := fl.flushPartial(ctx); err != nil {
		f.Close()
		return err
	}
	fl.f.Close()
	fl.c.rotations.Add(1)
	fl.log.Info("log file replaced: reading the new one from its start", "path", fl.path)
	fl.setFile(f, info, 0)
	return fl.drain(ctx)
}

// drain reads to the end of the file. Every read starts tailLen bytes
// early and compares them: if they changed, the file was truncated (and
// maybe written again), so reading starts over at its beginning.
func (fl *follower) drain(ctx context.Context) error {
	if fl.rbuf == nil {
		fl.rbuf = make([]byte, tailLen+readSize)
	}
	for {
		k := len(fl.tail)
		n, err := fl.f.ReadAt(fl.rbuf, fl.off-int64(k))
		if err != nil && !errors.Is(err, io.EOF) {
			fl.readFailed(err)
			return nil
		}
		fl.failing = false
		if n < k || !bytes.Equal(fl.rbuf[:k], fl.tail) {
			if err := fl.readRotatedCopy(ctx); err != nil {
				return err
			}
			fl.truncated()
			continue
		}
		if n == k {
			return nil
		}
		used, err := fl.consume(ctx, fl.rbuf[k:n])
		fl.off += int64(used)
		fl.tail = append(fl.tail[:0], fl.rbuf[max(0, k+used-tailLen):k+used]...)
		if err != nil {
			return err
		}
	}
}

func (fl *follower) readFailed(err error) {
	fl.c.readErrors.Add(1)
	if !fl.failing {
		fl.log.Warn("reading the log file", "path", fl.path, "err", err)
		fl.failing = true
	}
}

// readRotatedCopy reads what a copytruncate took away before the follower
// saw it. logrotate copies the log aside (path.1, path-20261122, ...)
// and only then empties it, so the lines written after the follower's
// last read are at the end of the copy, from the follower's offset on. The
// copy is known by the bytes just before that offset, which the follower
// keeps; the few most recent candidates are looked at, compressed ones
// never (logrotate compresses a copy only at the next rotation, with
// delaycompress, or after the truncation, too late to matter here).
func (fl *follower) readRotatedCopy(ctx context.Context) error {
	if fl.off == 0 || len(fl.tail) == 0 {
		return nil
	}
	for _, name := range rotatedCandidates(fl.path) {
		f, info, err := openRegular(name)
		if err != nil {
			continue
		}
		if os.SameFile(info, fl.info) || info.Size() <= fl.off || !bytes.Equal(readTail(f, fl.off), fl.tail) {
			f.Close()
			continue
		}
		rest, err := io.ReadAll(io.NewSectionReader(f, fl.off, info.Size()-fl.off))
		f.Close()
		if err != nil {
			return nil
		}
		fl.c.copiedTails.Add(1)
		fl.log.Info("log file truncated: read its last lines from the copy set aside", "path", fl.path, "copy", name, "bytes", len(rest))
		if _, err := fl.consume(ctx, rest); err != nil {
			return err
		}
		return fl.flushPartial(ctx)
	}
	return nil
}

// rotatedCandidates lists, most recently changed first, at most four
// files beside path whose names extend it (path.1, path-20261122), as
// logrotate names what it sets aside, compressed ones left out.
func rotatedCandidates(path string) []string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type cand struct {
		name string
		mod  time.Time
	}
	var cands []cand
	for _, e := range entries {
		n := e.Name()
		rest, ok := strings.CutPrefix(n, base)
		if !ok || rest == "" || (rest[0] != '.' && rest[0] != '-') || e.IsDir() {
			continue
		}
		switch filepath.Ext(n) {
		case ".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z":
			continue
		}
		if info, err := e.Info(); err == nil {
			cands = append(cands, cand{filepath.Join(dir, n), info.ModTime()})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return b.mod.Compare(a.mod) })
	var out []string
	for _, c := range cands[:min(len(cands), 4)] {
		out = append(out, c.name)
	}
	return out
}

func (fl *follower) truncated() {
	fl.c.truncations.Add(1)
	fl.log.Info("log file truncated: reading it from its start", "path", fl.path)
	fl.off = 0
	fl.tail = fl.tail[:0]
	fl.partial = fl.partial[:0]
	fl.skipping = false
}

// consume cuts data into lines. It returns how many bytes it used: all of
// them, or up to the end of the line whose delivery failed.
func (fl *follower) consume(ctx context.Context, data []byte) (int, error) {
	used := 0
	for {
		i := bytes.IndexByte(data[used:], '\n')
		if i < 0 {
			fl.keep(data[used:])
			return len(data), nil
		}
		seg := data[used : used+i]
		used += i + 1
		if err := fl.endLine(ctx, seg); err != nil {
			return used, err
		}
	}
}

// endLine handles a newline: seg is the line's last part.
func (fl *follower) endLine(ctx context.Context, seg []byte) error {
	if fl.skipping {
		fl.skipping = false
		return nil
	}
	if len(fl.partial)+len(seg) > fl.maxLine {
		fl.partial = fl.partial[:0]
		fl.tooLong()
		return nil
	}
	line := seg
	if len(fl.partial) > 0 {
		line = append(fl.partial, seg...)
		fl.partial = line[:0] // keep the grown buffer; line stays valid until the next append
	}
	return fl.line(ctx, line)
}

// keep holds the start of a line until its newline comes, up to maxLine
// bytes; a longer line is counted and dropped.
func (fl *follower) keep(b []byte) {
	if fl.skipping || len(b) == 0 {
		return
	}
	if len(fl.partial)+len(b) > fl.maxLine {
		fl.partial = fl.partial[:0]
		fl.skipping = true
		fl.tooLong()
		return
	}
	fl.partial = append(fl.partial, b...)
}

func (fl *follower) tooLong() {
	fl.c.read.Add(1)
	fl.c.tooLong.Add(1)
}

func (fl *follower) flushPartial(ctx context.Context) error {
	line := fl.partial
	fl.partial = fl.partial[:0]
	if fl.skipping || len(line) == 0 {
		fl.skipping = false
		return nil
	}
	return fl.line(ctx, line)
}

// position is where the next run should go on: at the start of a pending
// partial line, so that it is read whole.
func (fl *follower) position() position {
	if fl.f == nil {
		return fl.resume
	}
	off := fl.off - int64(len(fl.partial))
	return position{info: fl.info, off: off, tail: readTail(fl.f, off)}
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
}

// openRegular opens a regular file for reading. It looks first, because
// opening a FIFO would block.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, nil, err
	} else if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%q is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// readTail returns the bytes of f just before off (at most tailLen), or
// nil if they cannot be read.
func readTail(f *os.File, off int64) []byte {
	k := min(off, tailLen)
	if k <= 0 {
		return nil
	}
	b := make([]byte, k)
	if n, _ := f.ReadAt(b, off-k); int64(n) < k {
		return nil
	}
	return b
}
