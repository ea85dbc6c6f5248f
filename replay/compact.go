package replay

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// compact writes the live entries (and the horizon, while it matters) to
// a new file, syncs it, renames it over the file and syncs the folder.
// When any step before the rename fails, the current file stays in use,
// untouched. When only the folder's sync fails, the new file is in use
// and the next claim syncs the folder again before it is acknowledged.
// c.mu is held (or c is not shared yet).
func (c *Cache) compact(now int64) error {
	c.sweep(now)
	if c.horizon != 0 && c.horizon+c.window < now {
		c.horizon = 0
	}
	f, size, lines, err := c.writeNew()
	if err != nil {
		c.stats.CompactFailures++
		c.stats.LastCompactErr = err
		c.nextCompact = c.lines + 1024 // try again later, not at every claim
		return err
	}
	if c.file != nil {
		c.file.Close() // read or synced already; only the descriptor goes
	}
	c.file, c.size, c.lines = f, size, lines
	c.nextCompact = 2*len(c.entries) + 1024
	c.stats.Compactions++
	if err := c.fsys.syncDir(c.dir); err != nil {
		c.dirDirty = true
		return fmt.Errorf("sync %s: %w", c.dir, err)
	}
	c.dirDirty = false
	return nil
}

// writeNew writes path+".new" and renames it over path, returning the
// new file open for appending.
func (c *Cache) writeNew() (file, int64, int, error) {
	tmp := c.path + ".new"
	if err := c.fsys.remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, 0, err
	}
	f, err := c.fsys.open(tmp, syscall.O_WRONLY|syscall.O_APPEND|syscall.O_CREAT|syscall.O_EXCL, fileMode)
	if err != nil {
		return nil, 0, 0, err
	}
	size, lines, err := c.writeEntries(f)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = c.fsys.rename(tmp, c.path)
	}
	if err != nil {
		f.Close()
		c.fsys.remove(tmp)
		return nil, 0, 0, fmt.Errorf("rewrite %s: %w", c.path, err)
	}
	return f, size, lines, nil
}

func (c *Cache) writeEntries(f file) (size int64, lines int, err error) {
	const chunk = 64 << 10
	var b []byte
	if c.horizon != 0 {
		b = appendHorizon(b, c.horizon)
		lines++
	}
	for id, exp := range c.entries {
		b = appendEntry(b, id, exp)
		lines++
		if len(b) >= chunk {
			if _, err := f.Write(b); err != nil {
				return 0, 0, err
			}
			size += int64(len(b))
			b = b[:0]
		}
	}
	if len(b) > 0 {
		if _, err := f.Write(b); err != nil {
			return 0, 0, err
		}
		size += int64(len(b))
	}
	return size, lines, nil
}
