package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher wakes the follower through inotify: on the directory, for the
// file's name appearing, vanishing or being written; and on the open file
// itself, which keeps waking it after a rename moved the file away. It
// only wakes: what changed is for the follower to find out, so a lost or
// coalesced event costs nothing but the poll interval.
type watcher struct {
	inotify *os.File
	fd      int
	dirWd   int32
	base    string
	fileWd  int32 // -1: none; used by the Run goroutine only
	wake    chan struct{}
	done    sync.WaitGroup
}

const (
	dirEvents  = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_ATTRIB
	fileEvents = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF
)

func newWatcher(path string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	dir := filepath.Dir(path)
	wd, err := unix.InotifyAddWatch(fd, dir, dirEvents)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch on %q: %w", dir, err)
	}
	// A non-blocking fd in an os.File goes through the runtime poller, so
	// closing it ends the blocked Read.
	w := &watcher{
		inotify: os.NewFile(uintptr(fd), "inotify"),
		fd:      fd,
		dirWd:   int32(wd),
		base:    filepath.Base(path),
		fileWd:  -1,
		wake:    make(chan struct{}, 1),
	}
	w.done.Add(1)
	go w.read()
	return w, nil
}

// C delivers a value when something may have changed; nil (never) when
// there is no watcher.
func (w *watcher) C() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.wake
}

// watchFile moves the file watch to the file open as f: through
// /proc/self/fd the watch lands on that very inode, whatever its name now.
func (w *watcher) watchFile(f *os.File) {
	if w == nil || f == nil {
		return
	}
	wd, err := unix.InotifyAddWatch(w.fd, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), fileEvents)
	if err != nil { // no /proc: the file at the path is most likely the one open
		wd, err = unix.InotifyAddWatch(w.fd, f.Name(), fileEvents)
	}
	if err != nil {
		wd = -1 // polling still sees the file
	}
	if w.fileWd >= 0 && w.fileWd != int32(wd) {
		unix.InotifyRmWatch(w.fd, uint32(w.fileWd)) // fails harmlessly if the kernel dropped it
	}
	w.fileWd = int32(wd)
}

func (w *watcher) close() {
	if w == nil {
		return
	}
	w.inotify.Close()
	w.done.Wait()
}

func (w *watcher) read() {
	defer w.done.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := w.inotify.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.signal() // leave it to polling, but look once more now
			}
			return
		}
		if w.relevant(buf[:n]) {
			w.signal()
		}
	}
}

// relevant reports whether a batch of events concerns the file: any event
// but one on another name in the directory.
func (w *watcher) relevant(b []byte) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			return true
		}
		if ev.Wd != w.dirWd || ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			return true
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if string(name) == w.base {
			return true
		}
		b = b[end:]
	}
	return false
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}
