package replay_test

// The audit's findings on the first replay cache, each reproduced through
// the API the daemon calls (New, Claim): each of these tests failed on the
// code the audit read.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/replay"
)

// A torn line joined to the next by a failed append used to stop the
// daemon from starting. Now the fragment is dropped as torn and the record
// joined to it is kept.
func TestAuditJoinedLineStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	a, b := strings.Repeat("aa", 32), strings.Repeat("bb", 32)
	os.WriteFile(path, []byte(a+" 99999999999\n00ff"+b+" 99999999999\n"), 0o600)
	c, err := replay.New(path, replay.Options{Window: time.Minute})
	if err != nil {
		t.Fatalf("a joined torn line stops start-up: %v", err)
	}
	defer c.Close()
	if r := c.Recovery(); r.Entries != 2 || r.Torn != 1 || len(r.Damaged) != 0 {
		t.Errorf("recovery %+v, want 2 entries and 1 torn line", r)
	}
	var ida, idb replay.ID
	copy(ida[:], bytes.Repeat([]byte{0xaa}, 32))
	copy(idb[:], bytes.Repeat([]byte{0xbb}, 32))
	until := time.Now().Add(time.Hour)
	for name, id := range map[string]replay.ID{"a": ida, "b": idb} {
		if fresh, err := c.Claim(id, until); fresh || err != nil {
			t.Errorf("record %s lost: claim fresh %v, err %v", name, fresh, err)
		}
	}
}

// A FIFO at the path used to hang start-up.
func TestAuditFIFODoesNotHang(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := replay.New(path, replay.Options{Window: time.Minute})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a FIFO accepted as the cache")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("New hangs on a FIFO")
	}
	// Unblock a reader stuck in open, should there be one.
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}

// A damaged line used to be quoted in the error, whatever it held.
func TestAuditNoContentsQuoted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	secret := "knock1-fnE9tQgTN9CvceJBUglAPcf9GEFOBe54-K_H0dcs2gIhS0cs"
	os.WriteFile(path, []byte(secret+"\n"+strings.Repeat("0", 64)+" 99999999999\n"), 0o600)
	c, err := replay.New(path, replay.Options{Window: time.Minute})
	if err != nil && strings.Contains(err.Error(), "fnE9") {
		t.Fatalf("the error quotes the file: %v", err)
	}
	if err == nil {
		if r := c.Recovery().String(); strings.Contains(r, "fnE9") {
			t.Errorf("the recovery report quotes the file: %s", r)
		}
		c.Close()
	}
}

const auditTmpfsChild = "KNOCK_REPLAY_AUDIT_TMPFS_CHILD"

// After a compaction failed on a full disk, every later write used to
// return nil and write nothing. Now a claim that cannot be written fails,
// and every claim told fresh is on disk. Run on a real tmpfs in a private
// mount namespace (see TestTmpfsFullDisk).
func TestAuditCompactionFullDisk(t *testing.T) {
	if dir := os.Getenv(auditTmpfsChild); dir != "" {
		auditTmpfsRun(t, dir)
		return
	}
	testenv.NeedRoot(t)
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAuditCompactionFullDisk$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), auditTmpfsChild+"="+t.TempDir(), "KNOCK_PARENT_MNT_NS="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !bytes.Contains(out, []byte("audit full disk: done")) {
		t.Fatal("the child did not run the test")
	}
}

func auditTmpfsRun(t *testing.T, dir string) {
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil || ns == os.Getenv("KNOCK_PARENT_MNT_NS") {
		t.Fatalf("not in a mount namespace of its own (%s, %v): will not mount", ns, err)
	}
	if err := syscall.Mount("knock-replay-test", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=256k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	path := filepath.Join(dir, "state", "replay")
	clk := &clock{t0}
	c, err := replay.New(path, opts(clk))
	if err != nil {
		t.Fatal(err)
	}
	until := clk.t.Add(time.Hour)
	key := func(i int) replay.ID { return replay.ID{byte(i), byte(i >> 8), 0x55} }
	for i := range 1000 {
		if fresh, err := c.Claim(key(i), until); !fresh || err != nil {
			t.Fatalf("claim %d: fresh %v, err %v", i, fresh, err)
		}
	}
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	// One page free: room for the lines up to the 1024th, which compacts,
	// and too little for the new file; then appends fill the page.
	if fi, err := filler.Stat(); err != nil || fi.Size() < 4096 {
		t.Fatalf("filler: %v", err)
	} else if err := filler.Truncate(fi.Size() - 4096); err != nil {
		t.Fatal(err)
	}
	var ok []int
	var failed error
	for i := 1000; i < 1200; i++ {
		fresh, err := c.Claim(key(i), until)
		switch {
		case fresh && err != nil:
			t.Fatalf("claim %d: fresh and %v", i, err)
		case fresh && failed != nil:
			t.Fatalf("claim %d fresh after a claim failed (%v) on a disk still full", i, failed)
		case fresh:
			ok = append(ok, i)
		case !errors.Is(err, syscall.ENOSPC):
			t.Fatalf("claim %d: fresh %v, err %v, want ENOSPC", i, fresh, err)
		case failed == nil:
			failed = err
		}
	}
	s := c.Stats()
	if s.CompactFailures == 0 || !errors.Is(s.LastCompactErr, syscall.ENOSPC) {
		t.Fatalf("stats %+v: no compaction failed on the full disk", s)
	}
	if failed == nil {
		t.Fatal("every claim on a full disk was told fresh")
	}
	c.Close()
	filler.Close()
	os.Remove(filler.Name())
	c2, err := replay.New(path, opts(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var lost []int
	for _, i := range ok {
		if fresh, err := c2.Claim(key(i), until); fresh || err != nil {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d claims told fresh on a full disk were not written (first %d)", len(lost), len(ok), lost[0])
	}
	t.Logf("on a full disk: %d claims fresh and written, then %v", len(ok), failed)
	t.Log("audit full disk: done")
}
