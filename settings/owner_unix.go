//go:build unix

package settings

import (
	"io/fs"
	"syscall"
)

// ownerOf returns the user id owning a file.
func ownerOf(fi fs.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
