package replay

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
)

// openRegular checks the open descriptor itself, so a FIFO, symbolic link
// or device swapped in after New's lstat is refused too, and a FIFO does
// not block the open, for reading or for writing.
func TestOpenRegularRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	link := filepath.Join(dir, "link")
	dev := filepath.Join(dir, "dev")
	real := filepath.Join(dir, "real")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(real, nil, 0o600)
	os.Symlink(real, link)
	paths := map[string]string{fifo: "a FIFO", link: "symbolic link"}
	if os.Geteuid() == 0 {
		if err := syscall.Mknod(dev, syscall.S_IFCHR|0o600, 1<<8|3); err != nil {
			t.Fatal(err)
		}
		paths[dev] = "a character device"
	} else if testenv.InCI() {
		t.Fatal("CI runs as root: cannot make a device")
	}
	for path, want := range paths {
		for _, flag := range []int{syscall.O_RDONLY, syscall.O_RDWR | syscall.O_APPEND} {
			done := make(chan error, 1)
			go func() {
				f, err := openRegular(path, flag, 0)
				if err == nil {
					f.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s, flag %#x: %v, want %q", filepath.Base(path), flag, err, want)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s, flag %#x: open hangs", filepath.Base(path), flag)
			}
		}
	}
	f, err := openRegular(real, syscall.O_RDWR, 0)
	if err != nil {
		t.Fatalf("regular file: %v", err)
	}
	defer f.Close()
	// Not f.Fd(): it would make the descriptor blocking itself.
	var fl uintptr
	var errno syscall.Errno
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { fl, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0) })
	if errno != 0 || fl&syscall.O_NONBLOCK != 0 {
		t.Errorf("the descriptor is still non-blocking (flags %#x, %v)", fl, errno)
	}
}
