package replay

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultFS is the real file system with failures on demand: a disk that
// fills up, a sync, a rename or a truncate that fails.
type faultFS struct {
	osFS
	mu           sync.Mutex
	budget       int64 // bytes writes may still add; < 0: no limit
	newFull      bool  // writes to the compaction's new file find the disk full
	failSync     bool
	failRename   bool
	failSyncDir  bool
	failTruncate bool
}

func (f *faultFS) open(path string, flag int, perm os.FileMode) (file, error) {
	fl, err := f.osFS.open(path, flag, perm)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &faultFile{file: fl, fs: f, full: f.newFull && strings.HasSuffix(path, ".new")}, nil
}

func (f *faultFS) rename(from, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRename {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EIO}
	}
	return f.osFS.rename(from, to)
}

func (f *faultFS) syncDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSyncDir {
		return syscall.EIO
	}
	return f.osFS.syncDir(dir)
}

func (f *faultFS) set(fn func(*faultFS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type faultFile struct {
	file
	fs   *faultFS
	full bool // a compaction's new file on a full disk
}

// Write writes what the budget allows and fails with ENOSPC beyond it,
// as a full disk does: a short write, then the error.
func (w *faultFile) Write(b []byte) (int, error) {
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.full {
		n, _ := w.file.Write(b[:len(b)/2])
		return n, syscall.ENOSPC
	}
	if w.fs.budget >= 0 && int64(len(b)) > w.fs.budget {
		n, _ := w.file.Write(b[:w.fs.budget])
		w.fs.budget = 0
		return n, syscall.ENOSPC
	}
	if w.fs.budget >= 0 {
		w.fs.budget -= int64(len(b))
	}
	return w.file.Write(b)
}

func (w *faultFile) Sync() error {
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.fs.failSync {
		return syscall.EIO
	}
	return w.file.Sync()
}

func (w *faultFile) Truncate(size int64) error {
	w.fs.mu.Lock()
	defer w.fs.mu.Unlock()
	if w.fs.failTruncate {
		return syscall.EIO
	}
	return w.file.Truncate(size)
}

type faultClock struct{ t time.Time }

func (c *faultClock) now() time.Time { return c.t }

func newFault(t *testing.T) (*Cache, *faultFS, *faultClock, string, *bytes.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "replay")
	fsys := &faultFS{budget: -1}
	clk := &faultClock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	var log bytes.Buffer
	c, err := open(path, Options{Window: time.Minute, Now: clk.now, Log: slog.New(slog.NewTextHandler(&log, nil))}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, fsys, clk, path, &log
}

func tid(i int) ID { return ID{byte(i), byte(i >> 8), 0xaa} }

// reread reads the file back as a restarted daemon would.
func reread(t *testing.T, path string, now time.Time) *Cache {
	t.Helper()
	c, err := New(path, Options{Window: time.Minute, Now: func() time.Time { return now }, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustClaim(t *testing.T, c *Cache, id ID, until time.Time) {
	t.Helper()
	if fresh, err := c.Claim(id, until); !fresh || err != nil {
		t.Fatalf("claim %x: fresh %v, err %v", id[:3], fresh, err)
	}
}

// A compaction on a full disk used to stop every later write while the
// cache went on acknowledging knocks. Now it is counted and logged, the
// file stays in use, intact, and later claims go on being written to it.
func TestCompactionFullDisk(t *testing.T) {
	c, fsys, clk, path, log := newFault(t)
	until := clk.t.Add(time.Hour)
	for i := range 10 {
		mustClaim(t, c, tid(i), until)
	}
	before, _ := os.ReadFile(path)
	fsys.set(func(f *faultFS) { f.newFull = true })
	c.mu.Lock()
	c.nextCompact = c.lines + 1 // the next claim compacts
	c.mu.Unlock()
	mustClaim(t, c, tid(10), until)
	s := c.Stats()
	if s.CompactFailures != 1 || !errors.Is(s.LastCompactErr, syscall.ENOSPC) {
		t.Fatalf("stats %+v, want one compaction failure for ENOSPC", s)
	}
	if !strings.Contains(log.String(), "could not compact") {
		t.Errorf("the failure was not logged: %s", log)
	}
	after, _ := os.ReadFile(path)
	if !bytes.HasPrefix(after, before) || len(after) != len(before)+len(appendEntry(nil, tid(10), until.Unix())) {
		t.Errorf("the file changed beyond the one claim appended:\nbefore %d bytes, after %d", len(before), len(after))
	}
	if _, err := os.Stat(path + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed new file was left behind: %v", err)
	}
	for i := 11; i < 20; i++ {
		mustClaim(t, c, tid(i), until)
	}
	r := reread(t, path, clk.t)
	defer r.Close()
	if r.Recovery().Entries != 20 {
		t.Fatalf("read back %d entries, want 20: later claims were not written", r.Recovery().Entries)
	}
	// The disk has room again: the next compaction succeeds.
	fsys.set(func(f *faultFS) { f.newFull = false })
	c.mu.Lock()
	c.nextCompact = c.lines + 1
	c.mu.Unlock()
	mustClaim(t, c, tid(20), until)
	if s := c.Stats(); s.Compactions < 2 {
		t.Errorf("stats %+v: no compaction after the disk had room", s)
	}
}

// A rename or folder sync that fails: the claim that triggered it stands;
// a folder that cannot be synced fails the next claims until it can.
func TestCompactionRenameAndDirSync(t *testing.T) {
	c, fsys, clk, path, _ := newFault(t)
	until := clk.t.Add(time.Hour)
	mustClaim(t, c, tid(1), until)
	fsys.set(func(f *faultFS) { f.failRename = true })
	c.mu.Lock()
	err := c.compact(clk.t.Unix())
	c.mu.Unlock()
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("compact with a failing rename: %v", err)
	}
	mustClaim(t, c, tid(2), until)
	fsys.set(func(f *faultFS) { f.failRename, f.failSyncDir = false, true })
	c.mu.Lock()
	err = c.compact(clk.t.Unix())
	c.mu.Unlock()
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("compact with a failing folder sync: %v", err)
	}
	if fresh, err := c.Claim(tid(3), until); fresh || err == nil {
		t.Fatalf("claim while the rename is not durable: fresh %v, err %v", fresh, err)
	}
	fsys.set(func(f *faultFS) { f.failSyncDir = false })
	mustClaim(t, c, tid(3), until)
	r := reread(t, path, clk.t)
	defer r.Close()
	if r.Recovery().Entries != 3 {
		t.Fatalf("read back %+v, want 3 entries", r.Recovery())
	}
}

// An append on a full disk fails the claim (fail closed), records
// nothing, and leaves no fragment for the next line to be joined to.
func TestAppendFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    func(*faultFS)
		truncate bool // the fragment is cut off
	}{
		{"short write", func(f *faultFS) { f.budget = 20 }, true},
		{"short write, truncate fails", func(f *faultFS) { f.budget = 20; f.failTruncate = true }, false},
		{"sync fails", func(f *faultFS) { f.failSync = true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fsys, clk, path, _ := newFault(t)
			until := clk.t.Add(time.Hour)
			mustClaim(t, c, tid(1), until)
			before, _ := os.ReadFile(path)
			fsys.set(tc.fault)
			fresh, err := c.Claim(tid(2), until)
			if fresh || err == nil {
				t.Fatalf("claim on a failing disk: fresh %v, err %v", fresh, err)
			}
			after, _ := os.ReadFile(path)
			if tc.truncate && !bytes.Equal(after, before) {
				t.Errorf("the failed line stayed in the file: %q", after[len(before):])
			}
			fsys.set(func(f *faultFS) { f.budget, f.failTruncate, f.failSync = -1, false, false })
			mustClaim(t, c, tid(2), until) // not recorded by the failure
			mustClaim(t, c, tid(3), until)
			if s := c.Stats(); s.Failures != 1 || s.Fresh != 3 {
				t.Errorf("stats %+v", s)
			}
			r := reread(t, path, clk.t)
			defer r.Close()
			rec := r.Recovery()
			if rec.Entries != 3 || len(rec.Damaged) != 0 || !r.Horizon().IsZero() {
				t.Fatalf("read back %+v, horizon %v; want 3 entries, nothing damaged", rec, r.Horizon())
			}
			if !tc.truncate && rec.Torn != 1 {
				t.Errorf("torn %d, want the fragment counted", rec.Torn)
			}
		})
	}
}

func TestFaultFSIsUsed(t *testing.T) {
	// Guards the seam: a cache opened on faultFS writes through it.
	c, fsys, clk, _, _ := newFault(t)
	fsys.set(func(f *faultFS) { f.budget = 0 })
	if _, err := c.Claim(tid(1), clk.t.Add(time.Hour)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(fmt.Sprint("the fault file system is not in the path: ", err))
	}
}

// A damaged file on a full disk: the rewrite at start fails, the file is
// kept, and the horizon is appended to it, so a restart still has it.
func TestStartCompactionFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	os.WriteFile(path, []byte("not a line\n"+string(appendEntry(nil, tid(1), 1900000000))), 0o600)
	now := time.Unix(1800000000, 0)
	o := Options{Window: time.Minute, Now: func() time.Time { return now }}
	c, err := open(path, o, &faultFS{budget: -1, newFull: true})
	if err != nil {
		t.Fatalf("start on a full disk with a damaged file: %v", err)
	}
	r := c.Recovery()
	if !errors.Is(r.CompactErr, syscall.ENOSPC) || !strings.Contains(r.String(), "could not rewrite") {
		t.Errorf("recovery %+v: the failed rewrite is not reported", r)
	}
	mustClaim(t, c, tid(2), now.Add(time.Hour))
	c.Close()
	if data, _ := os.ReadFile(path); !bytes.Contains(data, []byte("\nhorizon 1800000060\n")) {
		t.Errorf("the horizon was not appended:\n%s", data)
	}
	c2 := reread(t, path, now)
	defer c2.Close()
	if h := c2.Horizon(); !h.Equal(now.Add(time.Minute)) || c2.Recovery().Entries != 2 {
		t.Fatalf("after a restart: horizon %v, %+v", h, c2.Recovery())
	}
}
