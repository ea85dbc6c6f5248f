package logfile

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests drive the follower one step at a time, so each case of
// rotation and truncation happens in a known order; logfile_test.go runs
// the same through Run, under load.

type stepper struct {
	t     *testing.T
	fl    *follower
	c     *counters
	lines []string
}

func newStepper(t *testing.T, path string, resume position, maxLine int) *stepper {
	s := &stepper{t: t, c: &counters{}}
	s.fl = &follower{
		path:    path,
		maxLine: maxLine,
		log:     slog.New(slog.DiscardHandler),
		c:       s.c,
		resume:  resume,
		line: func(_ context.Context, line []byte) error {
			s.lines = append(s.lines, string(line))
			return nil
		},
	}
	t.Cleanup(s.fl.close)
	return s
}

// step runs one step and checks all lines so far.
func (s *stepper) step(want ...string) {
	s.t.Helper()
	if err := s.fl.step(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	if !slices.Equal(s.lines, want) && !(len(s.lines) == 0 && len(want) == 0) {
		s.t.Fatalf("lines\n got  %q\n want %q", s.lines, want)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func tempLog(t testing.TB) string {
	return filepath.Join(t.TempDir(), "firewall.log")
}

func TestFollowPartialLines(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, "")
	s := newStepper(t, path, position{}, 100)
	s.step()
	appendFile(t, path, "ab")
	s.step()
	appendFile(t, path, "c\r\nde")
	s.step("abc\r")
	appendFile(t, path, "f\n\ng\n")
	s.step("abc\r", "def", "", "g")
}

func TestFollowLongLines(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, "")
	s := newStepper(t, path, position{}, 10)
	s.step()
	appendFile(t, path, "0123456789\n")          // exactly the limit
	appendFile(t, path, strings.Repeat("x", 25)) // too long before its newline
	s.step("0123456789")
	appendFile(t, path, "yyy\nok\n")
	s.step("0123456789", "ok")
	appendFile(t, path, "01234")
	s.step("0123456789", "ok")
	appendFile(t, path, "567890\nlast\n") // too long when its newline comes
	s.step("0123456789", "ok", "last")
	appendFile(t, path, strings.Repeat("z", 200<<10)+"\nend\n") // longer than a read
	s.step("0123456789", "ok", "last", "end")
	if n := s.c.tooLong.Load(); n != 3 {
		t.Errorf("%d lines counted too long, want 3", n)
	}
}

func TestFollowStartAtEnd(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, "old 1\nold 2\nhalf a li")
	s := newStepper(t, path, endOf(path), 100)
	s.step()
	appendFile(t, path, "ne\nnew 1\n")
	s.step("new 1")
}

func TestFollowResume(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, "1\n2\npart")
	s := newStepper(t, path, position{}, 100)
	s.step("1", "2")
	pos := s.fl.position()
	s.fl.close()
	appendFile(t, path, "ial\n3\n")
	again := newStepper(t, path, pos, 100)
	again.step("partial", "3") // the pending line whole, nothing twice

	// A file no longer the one the position was taken in: from its start.
	pos = again.fl.position()
	again.fl.close()
	os.Remove(path)
	appendFile(t, path, "other\n")
	newStepper(t, path, pos, 100).step("other")
}

func TestFollowMissingFile(t *testing.T) {
	path := tempLog(t)
	s := newStepper(t, path, endOf(path), 100)
	s.step()
	s.step()
	appendFile(t, path, "1\n2\n") // a file that appears is read from its start
	s.step("1", "2")
}

func TestFollowTruncation(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, "a 1\na 2\n")
	s := newStepper(t, path, position{}, 100)
	s.step("a 1", "a 2")

	// Truncated, then written past the old offset before the next look:
	// the size alone would hide it.
	os.Truncate(path, 0)
	appendFile(t, path, "b 1\nb 2\nb 3 longer than before\n")
	s.step("a 1", "a 2", "b 1", "b 2", "b 3 longer than before")

	// Truncated and shorter: the usual copytruncate.
	os.Truncate(path, 0)
	appendFile(t, path, "c\n")
	s.step("a 1", "a 2", "b 1", "b 2", "b 3 longer than before", "c")

	// Truncated to nothing while a line was half written: the half is gone.
	appendFile(t, path, "half")
	s.step("a 1", "a 2", "b 1", "b 2", "b 3 longer than before", "c")
	os.Truncate(path, 0)
	s.step("a 1", "a 2", "b 1", "b 2", "b 3 longer than before", "c")
	appendFile(t, path, "d\n")
	s.step("a 1", "a 2", "b 1", "b 2", "b 3 longer than before", "c", "d")
	if n := s.c.truncations.Load(); n != 3 {
		t.Errorf("%d truncations counted, want 3", n)
	}
}

// Lines written after the follower's last read and before a copytruncate
// are only in the copy set aside: the follower reads them from there.
func TestFollowCopyTruncateTail(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, "a 1\n")
	s := newStepper(t, path, position{}, 100)
	s.step("a 1")
	appendFile(t, path, "a 2\na 3 half")
	s.step("a 1", "a 2")
	appendFile(t, path, " done\na 4\n") // never seen in the log itself
	os.WriteFile(path+".2", []byte("an older rotation\n"), 0o644)
	data, _ := os.ReadFile(path)
	os.WriteFile(path+".1", data, 0o644)
	os.Truncate(path, 0)
	appendFile(t, path, "b 1\n")
	s.step("a 1", "a 2", "a 3 half done", "a 4", "b 1")
	if n := s.c.copiedTails.Load(); n != 1 {
		t.Errorf("tails read from the copy: %d, want 1", n)
	}
	// A truncation with no copy beside: nothing to recover, no harm.
	appendFile(t, path, "b 2\n")
	os.Remove(path + ".1")
	os.Truncate(path, 0)
	appendFile(t, path, "c\n")
	s.step("a 1", "a 2", "a 3 half done", "a 4", "b 1", "c")
}

func TestFollowRename(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, "1\n")
	s := newStepper(t, path, position{}, 100)
	s.step("1")

	// logrotate renames and creates; the logger writes on to the old file
	// until it reopens.
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	os.Rename(path, path+".1")
	s.step("1")
	old.WriteString("2\n")
	appendFile(t, path, "")
	s.step("1", "2") // the new file is empty: still on the old one
	old.WriteString("3 without newline")
	appendFile(t, path, "4\n")
	s.step("1", "2", "3 without newline", "4")
	if n := s.c.rotations.Load(); n != 1 {
		t.Errorf("%d rotations counted, want 1", n)
	}

	// Deleted and written again later.
	os.Remove(path)
	s.step("1", "2", "3 without newline", "4")
	appendFile(t, path, "5\n")
	s.step("1", "2", "3 without newline", "4", "5")
}
