package replay

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// file is what the cache needs of an open file; *os.File is one. Tests
// put a file system that fails (a full disk, a failed sync) in its place.
type file interface {
	io.Reader
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// fileSystem is the seam between the cache and the operating system.
type fileSystem interface {
	// open opens a regular file, never following a symbolic link nor
	// opening a FIFO or device, and locks it when it is opened for
	// writing; see openRegular.
	open(path string, flag int, perm os.FileMode) (file, error)
	rename(from, to string) error
	remove(path string) error
	mkdir(path string, perm os.FileMode) error
	lstat(path string) (os.FileInfo, error)
	// syncDir makes a rename in dir durable.
	syncDir(dir string) error
}

// osFS is the real file system.
type osFS struct{}

func (osFS) open(path string, flag int, perm os.FileMode) (file, error) {
	return openRegular(path, flag, perm)
}
func (osFS) rename(from, to string) error              { return os.Rename(from, to) }
func (osFS) remove(path string) error                  { return os.Remove(path) }
func (osFS) mkdir(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) lstat(path string) (os.FileInfo, error)    { return os.Lstat(path) }

func (osFS) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Modes the cache needs: nobody else may read which knocks were accepted,
// nor write or remove entries.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// errLocked says another process holds the cache.
var errLocked = errors.New("in use by another process (is another knockdaemon running with this replay file?)")

// openRegular opens path without following a symbolic link (O_NOFOLLOW)
// and without blocking on a FIFO (O_NONBLOCK), then checks on the open
// descriptor (fstat, so no swap can come between check and use) that it is
// a regular file, owned by this user, that nobody else may read or write,
// then puts the descriptor back into blocking mode. Opened for writing, it
// takes an exclusive lock (flock) so that two daemons cannot share one
// cache, each believing it holds every claim.
func openRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := syscall.Open(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, uint32(perm))
	if err == syscall.ELOOP {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errors.New("is a symbolic link; the replay cache must be a regular file")}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if err := checkRegular(path, fd); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	if flag&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			syscall.Close(fd)
			if err == syscall.EWOULDBLOCK {
				err = errLocked
			}
			return nil, &fs.PathError{Op: "lock", Path: path, Err: err}
		}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func checkRegular(path string, fd int) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fmt.Errorf("%s: is %s, not a regular file", path, kind(st.Mode))
	}
	if uid := uint32(os.Geteuid()); st.Uid != uid {
		return fmt.Errorf("%s: owned by uid %d, need uid %d (the daemon's user)", path, st.Uid, uid)
	}
	if mode := os.FileMode(st.Mode & 0o777); mode&0o077 != 0 {
		return fmt.Errorf("%s: mode %04o lets others read or write it, need %04o (chmod %o %s)", path, mode, fileMode, fileMode, path)
	}
	return nil
}

func kind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO:
		return "a FIFO"
	case syscall.S_IFCHR:
		return "a character device"
	case syscall.S_IFBLK:
		return "a block device"
	case syscall.S_IFDIR:
		return "a directory"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFLNK:
		return "a symbolic link"
	}
	return "not a regular file"
}

// checkDir refuses a folder that others may write to: they could replace
// the cache.
func checkDir(fsys fileSystem, dir string) error {
	fi, err := fsys.lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if fi, err = os.Stat(dir); err != nil {
			return err
		}
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s: folder mode %04o lets others write to it, need %04o (chmod %o %s)", dir, m, dirMode, dirMode, dir)
	}
	return nil
}

// dirState says whether the folder of path exists.
func dirExists(fsys fileSystem, path string) (bool, error) {
	_, err := fsys.lstat(filepath.Dir(path))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
