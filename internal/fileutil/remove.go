// Package fileutil holds file-system helpers shared by the WAL and the
// snapshot store.
package fileutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Freeing a large file's blocks at once can hold up every fsync on the file
// system: ext4 mounted with "discard" (seen on the cloud VMs this runs on)
// trims the freed blocks inside the journal commit that the next fsync
// forces, and deleting a 300 MB snapshot stalled the WAL's fdatasync, and
// so every write, for 100-300 ms. Truncating a few megabytes at a time,
// with a pause that lets other commits through, spreads that cost.
const (
	truncateStep  = 4 << 20
	truncatePause = 2 * time.Millisecond
)

// RemoveGradually deletes the file at path. A file larger than one step
// is first renamed to doomed (a name its directory's owner ignores and
// deletes when it finds one left by a crash), the rename made durable,
// then truncated step by step and removed; a crash midway leaves no
// shortened file under its old name. A missing file is not an error.
func RemoveGradually(path, doomed string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Size() <= truncateStep {
		return ignoreMissing(os.Remove(path))
	}
	if err := os.Rename(path, doomed); err != nil {
		return ignoreMissing(err)
	}
	if err := SyncDir(filepath.Dir(doomed)); err != nil {
		return err
	}
	if err := truncateGradually(doomed, fi.Size()); err != nil {
		return err
	}
	return ignoreMissing(os.Remove(doomed))
}

func truncateGradually(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return ignoreMissing(err)
	}
	defer f.Close()
	for size > 0 {
		size = max(0, size-truncateStep)
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("fileutil: truncate %s: %w", path, err)
		}
		time.Sleep(truncatePause)
	}
	return nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// SyncDir fsyncs a directory, making renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
