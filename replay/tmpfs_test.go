package replay

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
)

const tmpfsChild = "KNOCK_REPLAY_TMPFS_CHILD"

// TestTmpfsFullDisk fills a real file system: a small tmpfs, mounted in a
// private mount namespace of a child process (this test binary run again,
// with Unshareflags CLONE_NEWNS, which also makes "/" private), so that
// nothing is mounted where other processes see it.
func TestTmpfsFullDisk(t *testing.T) {
	if dir := os.Getenv(tmpfsChild); dir != "" {
		tmpfsChildRun(t, dir)
		return
	}
	testenv.NeedRoot(t)
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestTmpfsFullDisk$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tmpfsChild+"="+dir, "KNOCK_PARENT_MNT_NS="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !bytes.Contains(out, []byte("tmpfs full disk: done")) {
		t.Fatal("the child did not run the test")
	}
}

func tmpfsChildRun(t *testing.T, dir string) {
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil || ns == os.Getenv("KNOCK_PARENT_MNT_NS") {
		t.Fatalf("not in a mount namespace of its own (%s, %v): will not mount", ns, err)
	}
	if err := syscall.Mount("knock-replay-test", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=64k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	path := filepath.Join(dir, "state", "replay")
	clk := &faultClock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	c, err := New(path, Options{Window: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	until := clk.t.Add(time.Hour)
	claimed := 0
	for ; claimed < 100; claimed++ {
		mustClaim(t, c, tid(claimed), until)
	}

	// Fill the disk.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := filler.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}

	// Appends go on in the last page of the file, then fail.
	var failed error
	for i := 0; i < 1000 && failed == nil; i++ {
		fresh, err := c.Claim(tid(claimed), until)
		switch {
		case err != nil && fresh:
			t.Fatalf("claim: fresh and %v", err)
		case err != nil:
			failed = err
		default:
			claimed++
		}
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("claims on a full disk: %v, want ENOSPC", failed)
	}
	t.Logf("append: %d claims, then %v", claimed, failed)

	// Compaction on the full disk fails and keeps the file.
	before, _ := os.ReadFile(path)
	c.mu.Lock()
	err = c.compact(clk.t.Unix())
	c.mu.Unlock()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("compaction on a full disk: %v, want ENOSPC", err)
	}
	t.Logf("compaction: %v", err)
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the failed compaction changed the file")
	}

	// One page free: too little for a new file, enough for appends.
	fi, _ := filler.Stat()
	if err := filler.Truncate(fi.Size() - 4096); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	err = c.compact(clk.t.Unix())
	c.mu.Unlock()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("compaction with one page free: %v, want ENOSPC", err)
	}
	for range 10 {
		mustClaim(t, c, tid(claimed), until)
		claimed++
	}
	c.Close()

	filler.Close()
	os.Remove(filler.Name())
	c2, err := New(path, Options{Window: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r := c2.Recovery()
	if r.Entries != claimed || r.Torn != 0 || len(r.Damaged) != 0 || !c2.Horizon().IsZero() {
		t.Fatalf("read back %+v, horizon %v; want %d entries and nothing lost", r, c2.Horizon(), claimed)
	}
	t.Log("tmpfs full disk: done")
}
