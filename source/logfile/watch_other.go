//go:build !linux

package logfile

import (
	"errors"
	"os"
)

// watcher is inotify, which only Linux has; elsewhere the follower polls.
type watcher struct{}

func newWatcher(string) (*watcher, error) {
	return nil, errors.New("inotify is only on linux: polling")
}

func (w *watcher) C() <-chan struct{} { return nil }
func (w *watcher) watchFile(*os.File) {}
func (w *watcher) close()             {}
