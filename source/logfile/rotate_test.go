package logfile

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portknock/knock/source"
)

// The load tests write numbered knock lines as fast as they can while
// rotating the file over and over, and check that every line arrived
// exactly once, in order.
const (
	loadLines = 20000
	loadEvery = 400 // lines between rotations
)

// loadWriter is the firewall's logger: it writes lines through an fd it
// keeps, so it goes on writing to a renamed file until it reopens.
type loadWriter struct {
	t     *testing.T
	path  string
	f     *os.File
	next  int // the next line to write
	first int // the first line written to the current file
}

func (w *loadWriter) create() *os.File {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

// use makes f the file written from now on.
func (w *loadWriter) use(f *os.File) {
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.first = f, w.next
}

// write writes the next line; every fifth in two writes, so that the
// follower sees half lines.
func (w *loadWriter) write(n int) {
	for range n {
		line := knockLine(w.next)
		parts := []string{line}
		if w.next%5 == 0 {
			parts = []string{line[:len(line)/2], line[len(line)/2:]}
		}
		for _, p := range parts {
			if _, err := w.f.WriteString(p); err != nil {
				w.t.Fatal(err)
			}
			runtime.Gosched()
		}
		w.next++
	}
}

// waitFor waits until cond holds: the follower has caught up that far.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// rotateRename is logrotate's default (rename, create), in three variants
// taking turns. The follower must have reached the current file before
// it is renamed, since the next rename overwrites path.1; nothing waits
// for it to finish reading the file.
func rotateRename(w *loadWriter, n int, got func() int) {
	waitFor(w.t, "the current file to be read", func() bool { return got() > w.first })
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		w.t.Fatal(err)
	}
	switch n % 3 {
	case 0: // the logger reopens at once
		w.use(w.create())
	case 1: // the new file exists, empty, while the logger still writes to the old one
		w.write(3)
		f := w.create()
		w.write(2)
		w.use(f)
	case 2: // no file at the path until the old one has been read out
		w.write(3)
		w.f.Close()
		w.f = nil
		waitFor(w.t, "the renamed file to be read", func() bool { return got() == w.next })
		w.use(w.create())
	}
}

// rotateCopyTruncate is logrotate's copytruncate, the copy named as
// logrotate names it (here path.N). What is written between the copy and
// the truncation is lost for any reader. What was written before the copy
// but not yet read is only in the copy, where the follower must find it:
// so the writer waits only until the follower is into the current file,
// not until it has read it all. (Rotations come back to back here; a
// follower that let a whole file go by would miss it whatever it did.)
// After the truncation the writer writes on at once, and may grow the file
// past where the follower was before it looks.
func rotateCopyTruncate(w *loadWriter, n int, got func() int) {
	waitFor(w.t, "the follower to reach the current file", func() bool { return got() > w.first })
	data, err := os.ReadFile(w.path)
	if err == nil {
		err = os.WriteFile(fmt.Sprintf("%s.%d", w.path, n), data, 0o644)
	}
	if err == nil {
		err = w.f.Truncate(0)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.first = w.next
}

func TestRotationUnderLoad(t *testing.T) {
	for _, rot := range []struct {
		name    string
		rotate  func(*loadWriter, int, func() int)
		counter string
	}{
		{"rename", rotateRename, "rotations"},
		{"copytruncate", rotateCopyTruncate, "truncations"},
	} {
		t.Run(rot.name, func(t *testing.T) {
			forModes(t, func(t *testing.T, cfg Config) {
				loadTest(t, cfg, rot.rotate, rot.counter)
			})
		})
	}
}

func loadTest(t *testing.T, cfg Config, rotate func(*loadWriter, int, func() int), counter string) {
	w := &loadWriter{t: t, path: tempLog(t)}
	w.use(w.create())
	defer func() { w.f.Close() }()
	cfg.Path = w.path
	r := start(t, cfg)

	var count atomic.Int64
	seen := make(chan []int, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		var got []int
		defer func() { seen <- got }()
		for len(got) < loadLines {
			select {
			case h := <-r.out:
				got = append(got, lineNumber(h))
				count.Add(1)
			case <-quit:
				return
			}
		}
	}()
	got := func() int { return int(count.Load()) }

	rotations := 0
	for w.next < loadLines {
		if w.next > 0 && w.next%loadEvery == 0 {
			rotate(w, rotations, got)
			rotations++
		}
		w.write(min(loadEvery-w.next%loadEvery, loadLines-w.next))
	}
	waitFor(t, "every line", func() bool { return got() == loadLines })
	lines := <-seen
	for i, n := range lines {
		if n != i {
			t.Fatalf("hit %d is line %d (lines %v...)", i, n, lines[i:min(i+5, len(lines))])
		}
	}
	c := r.src.Counters()
	t.Logf("counters: %v", c)
	if c[counter] != uint64(rotations) || c["lines_read"] != loadLines || c["hits"] != loadLines {
		t.Errorf("%d rotations, counters %v", rotations, c)
	}
	var extra source.Hit
	select {
	case extra = <-r.out:
		t.Errorf("a hit too many: %+v", extra)
	default:
	}
}
