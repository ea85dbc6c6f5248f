package replay_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/replay"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func opts(clk *clock) replay.Options {
	return replay.Options{Window: time.Minute, Now: clk.now}
}

func newCache(t *testing.T, path string, o replay.Options) *replay.Cache {
	t.Helper()
	c, err := replay.New(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func claim(t *testing.T, c *replay.Cache, s string, until time.Time) bool {
	t.Helper()
	fresh, err := c.Claim(id(s), until)
	if err != nil {
		t.Fatalf("claim %s: %v", s, err)
	}
	return fresh
}

// A first start (no folder yet) makes the folder 0700 and the file 0600,
// and vouches for everything; a claim survives a restart until it expires.
func TestClaimRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "replay")
	clk := &clock{t0}
	c := newCache(t, path, opts(clk))
	if h := c.Horizon(); !h.IsZero() {
		t.Errorf("first start: horizon %v, want none", h)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v, want %v", p, err, fi.Mode().Perm(), want)
		}
	}
	if !claim(t, c, "a", t0.Add(time.Hour)) || !claim(t, c, "b", t0.Add(time.Minute)) {
		t.Fatal("first claims not fresh")
	}
	if claim(t, c, "a", t0.Add(time.Hour)) {
		t.Fatal("a claimed twice")
	}
	c.Close()
	if _, err := c.Claim(id("c"), t0.Add(time.Hour)); !errors.Is(err, replay.ErrClosed) {
		t.Errorf("claim after Close: %v", err)
	}

	clk.t = t0.Add(30 * time.Minute)
	c2 := newCache(t, path, opts(clk))
	if claim(t, c2, "a", t0.Add(time.Hour)) {
		t.Error("a forgotten across a restart")
	}
	if !claim(t, c2, "b", clk.t.Add(time.Minute)) {
		t.Error("b, expired, still held")
	}
	if h := c2.Horizon(); !h.IsZero() {
		t.Errorf("restart: horizon %v, want none", h)
	}
}

// Many goroutines claiming one ID: exactly one is told it is fresh.
func TestClaimConcurrent(t *testing.T) {
	for _, path := range []string{"", "file"} {
		t.Run("path="+path, func(t *testing.T) {
			if path != "" {
				path = filepath.Join(t.TempDir(), "s", "replay")
			}
			c := newCache(t, path, replay.Options{Window: time.Minute})
			var fresh, errs atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 64 {
				wg.Go(func() {
					<-start
					ok, err := c.Claim(id("one knock"), time.Now().Add(time.Hour))
					if err != nil {
						errs.Add(1)
					}
					if ok {
						fresh.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if fresh.Load() != 1 || errs.Load() != 0 {
				t.Fatalf("%d fresh, %d errors of 64 claims of one ID; want 1 fresh", fresh.Load(), errs.Load())
			}
		})
	}
}

// With the file moved away, a restart used to forget every claim and
// accept their replays. Now the folder without the file says the cache was
// lost: the horizon refuses every stamp up to start + window, and it is
// written down, so a second restart keeps it.
func TestLostFileHorizon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "replay")
	clk := &clock{t0}
	c := newCache(t, path, opts(clk))
	claim(t, c, "captured", t0.Add(time.Minute+time.Second))
	c.Close()
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}

	clk.t = t0.Add(5 * time.Second)
	start := clk.t
	c2 := newCache(t, path, opts(clk))
	want := start.Add(time.Minute)
	if h := c2.Horizon(); !h.Equal(want) {
		t.Fatalf("lost file: horizon %v, want start + window %v", h, want)
	}
	if r := c2.Recovery(); r.Lost != "file missing" || !strings.Contains(r.String(), "cannot vouch") {
		t.Errorf("recovery %+v (%s)", r, r)
	}
	// The captured knock, stamped t0, is refused by the horizon even
	// though the cache takes its ID as new.
	if stamp := t0; stamp.After(c2.Horizon()) {
		t.Error("the captured knock's stamp is after the horizon")
	}
	c2.Close()

	clk.t = start.Add(30 * time.Second)
	c3 := newCache(t, path, opts(clk))
	if h := c3.Horizon(); !h.Equal(want) {
		t.Fatalf("restart after a loss: horizon %v, want %v kept", h, want)
	}
	// Once more than a window past, the horizon is moot: the time check
	// refuses such stamps anyway.
	clk.t = want.Add(time.Minute + time.Second)
	if h := c3.Horizon(); !h.IsZero() {
		t.Errorf("horizon %v a window after it passed, want none", h)
	}
}

// A cache in memory only cannot vouch for what came before its start.
func TestMemoryOnlyHorizon(t *testing.T) {
	clk := &clock{t0}
	c := newCache(t, "", opts(clk))
	if h := c.Horizon(); !h.Equal(t0.Add(time.Minute)) {
		t.Fatalf("memory-only horizon %v, want start + window", h)
	}
	if _, err := replay.New("", replay.Options{}); err == nil {
		t.Fatal("New without a window: no error")
	}
}

// A cache is refused, without hanging, when its path is a FIFO, a
// symbolic link, a device or a folder.
func TestNotRegularRefused(t *testing.T) {
	cases := map[string]func(string) error{
		"FIFO":    func(p string) error { return syscall.Mkfifo(p, 0o600) },
		"symlink": func(p string) error { os.WriteFile(p+".real", nil, 0o600); return os.Symlink(p+".real", p) },
		"folder":  func(p string) error { return os.Mkdir(p, 0o700) },
		"device": func(p string) error {
			testenv.NeedRoot(t)
			return syscall.Mknod(p, syscall.S_IFCHR|0o600, 1<<8|3) // /dev/null's numbers
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replay")
			if err := mk(path); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{false, true} {
				done := make(chan error, 1)
				go func() {
					c, err := replay.New(path, replay.Options{Window: time.Minute, ReadOnly: ro})
					if err == nil {
						c.Close()
					}
					done <- err
				}()
				select {
				case err := <-done:
					t.Logf("read-only %v: %v", ro, err)
					if err == nil || !strings.Contains(err.Error(), "not a regular file") && !strings.Contains(err.Error(), "symbolic link") {
						t.Errorf("read-only %v: %v, want a refusal", ro, err)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("read-only %v: New hangs", ro)
				}
			}
		})
	}
}

// A file others may read or write, or a folder others may write to, is
// refused, naming the mode it has and the one it needs.
func TestModeRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "replay")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o606} {
		os.WriteFile(path, nil, 0o600)
		os.Chmod(path, mode)
		_, err := replay.New(path, replay.Options{Window: time.Minute})
		if err == nil {
			t.Fatalf("mode %v: no error", mode)
		}
		if want := []string{"0" + fmtMode(mode), "0600"}; !strings.Contains(err.Error(), want[0]) || !strings.Contains(err.Error(), want[1]) {
			t.Errorf("mode %v: %v, want it to name %s and %s", mode, err, want[0], want[1])
		}
	}
	os.Chmod(path, 0o600)
	os.Chmod(dir, 0o777)
	defer os.Chmod(dir, 0o700)
	if _, err := replay.New(path, replay.Options{Window: time.Minute}); err == nil || !strings.Contains(err.Error(), "0777") || !strings.Contains(err.Error(), "0700") {
		t.Errorf("folder 0777: %v, want a refusal naming 0777 and 0700", err)
	}
}

func fmtMode(m os.FileMode) string {
	return string([]byte{'0' + byte(m>>6&7), '0' + byte(m>>3&7), '0' + byte(m&7)})
}

// A read-only open changes nothing on disk: no folder, no file, no repair.
func TestReadOnlyChangesNothing(t *testing.T) {
	clk := &clock{t0}
	ro := replay.Options{Window: time.Minute, Now: clk.now, ReadOnly: true}
	root := t.TempDir()
	path := filepath.Join(root, "state", "replay")
	c := newCache(t, path, ro)
	if _, err := os.Lstat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open made the folder: %v", err)
	}
	if !claim(t, c, "a", t0.Add(time.Hour)) || claim(t, c, "a", t0.Add(time.Hour)) {
		t.Error("read-only claims are not held in memory")
	}
	os.Mkdir(filepath.Dir(path), 0o700)
	c2 := newCache(t, path, ro)
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open made the file: %v", err)
	}
	if c2.Horizon().IsZero() {
		t.Error("read-only open of a lost file: no horizon")
	}
	torn := strings.Repeat("ab", 32) + " 1900000000\n00ff"
	os.WriteFile(path, []byte(torn), 0o600)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(path, old, old)
	c3 := newCache(t, path, ro)
	claim(t, c3, "b", t0.Add(time.Hour))
	c3.Close()
	data, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(data) != torn || !fi.ModTime().Equal(old) {
		t.Errorf("read-only open changed the file (%d bytes, mtime %v)", len(data), fi.ModTime())
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("read-only open left files: %v", entries)
	}
}

// Two daemons cannot share one cache: each would believe it holds every
// claim.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	os.WriteFile(path, nil, 0o600)
	newCache(t, path, replay.Options{Window: time.Minute})
	if _, err := replay.New(path, replay.Options{Window: time.Minute}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v, want in use", err)
	}
	c := newCache(t, path, replay.Options{Window: time.Minute, ReadOnly: true})
	c.Close()
}

// A full cache refuses new claims rather than forget an unexpired one.
func TestFullRefuses(t *testing.T) {
	clk := &clock{t0}
	c := newCache(t, "", replay.Options{Window: time.Minute, Max: 2, Now: clk.now})
	claim(t, c, "a", t0.Add(time.Minute))
	claim(t, c, "b", t0.Add(time.Hour))
	if fresh, err := c.Claim(id("c"), t0.Add(time.Hour)); fresh || !errors.Is(err, replay.ErrFull) {
		t.Fatalf("claim on a full cache: fresh %v, err %v", fresh, err)
	}
	if claim(t, c, "a", t0.Add(time.Minute)) {
		t.Fatal("a forgotten to make room")
	}
	clk.t = t0.Add(2 * time.Minute) // a expires: room for c
	if !claim(t, c, "c", t0.Add(time.Hour)) {
		t.Fatal("no room once a expired")
	}
}
