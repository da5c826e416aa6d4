//go:build !linux

package wal

import "os"

func fdatasync(f *os.File, _ bool) error { return f.Sync() }

// preallocate is a no-op where fallocate is unavailable: segments grow as
// they are written, which the reader handles the same way.
func preallocate(f *os.File, size int64) error { return nil }
