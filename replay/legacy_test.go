package replay_test

// The audit's findings, reproduced through the deprecated API the daemon
// still calls (Open, Add, Seen): each of these tests fails on the code
// before Claim.

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
// daemon from starting.
func TestLegacyJoinedLineStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	a, b := strings.Repeat("aa", 32), strings.Repeat("bb", 32)
	os.WriteFile(path, []byte(a+" 99999999999\n00ff"+b+" 99999999999\n"), 0o600)
	c, err := replay.Open(path, 0, nil)
	if err != nil {
		t.Fatalf("a joined torn line stops start-up: %v", err)
	}
	defer c.Close()
	var ida, idb replay.ID
	copy(ida[:], bytes.Repeat([]byte{0xaa}, 32))
	copy(idb[:], bytes.Repeat([]byte{0xbb}, 32))
	if !c.Seen(ida) || !c.Seen(idb) {
		t.Errorf("records lost: a %v, b %v", c.Seen(ida), c.Seen(idb))
	}
}

// A FIFO at the path used to hang start-up.
func TestLegacyFIFODoesNotHang(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := replay.Open(path, 0, nil)
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
		t.Fatal("Open hangs on a FIFO")
	}
	// Unblock a reader stuck in open, should there be one.
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}

// A damaged line used to be quoted in the error, whatever it held.
func TestLegacyNoContentsQuoted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	secret := "knock1-fnE9tQgTN9CvceJBUglAPcf9GEFOBe54-K_H0dcs2gIhS0cs"
	os.WriteFile(path, []byte(secret+"\n"+strings.Repeat("0", 64)+" 99999999999\n"), 0o600)
	c, err := replay.Open(path, 0, nil)
	if err != nil && strings.Contains(err.Error(), "fnE9") {
		t.Fatalf("the error quotes the file: %v", err)
	}
	if err == nil {
		c.Close()
	}
}

const legacyTmpfsChild = "KNOCK_REPLAY_LEGACY_TMPFS_CHILD"

// After a compaction failed on a full disk, every later Add used to return
// nil and write nothing. Run on a real tmpfs in a private mount namespace
// (see TestTmpfsFullDisk).
func TestLegacyCompactionFullDisk(t *testing.T) {
	if dir := os.Getenv(legacyTmpfsChild); dir != "" {
		legacyTmpfsRun(t, dir)
		return
	}
	testenv.NeedRoot(t)
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLegacyCompactionFullDisk$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), legacyTmpfsChild+"="+t.TempDir(), "KNOCK_PARENT_MNT_NS="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !bytes.Contains(out, []byte("legacy full disk: done")) {
		t.Fatal("the child did not run the test")
	}
}

func legacyTmpfsRun(t *testing.T, dir string) {
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil || ns == os.Getenv("KNOCK_PARENT_MNT_NS") {
		t.Fatalf("not in a mount namespace of its own (%s, %v): will not mount", ns, err)
	}
	if err := syscall.Mount("knock-replay-test", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=256k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	path := filepath.Join(dir, "replay")
	c, err := replay.Open(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	key := func(i int) replay.ID { return replay.ID{byte(i), byte(i >> 8), 0x55} }
	for i := range 1000 {
		if err := c.Add(key(i), until); err != nil {
			t.Fatal(err)
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
	// The file's last page has room for a few lines; the 1024th line
	// compacts, and the new file cannot be written.
	var ok []int
	for i := 1000; i < 1100; i++ {
		if err := c.Add(key(i), until); err == nil {
			ok = append(ok, i)
		} else if !errors.Is(err, syscall.ENOSPC) {
			t.Logf("add %d: %v", i, err)
		}
	}
	c.Close()
	filler.Close()
	os.Remove(filler.Name())
	c2, err := replay.Open(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var lost []int
	for _, i := range ok {
		if !c2.Seen(key(i)) {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d adds that returned nil were not written (first %d)", len(lost), len(ok), lost[0])
	}
	t.Logf("%d adds on a full disk returned nil, all written", len(ok))
	t.Log("legacy full disk: done")
}
