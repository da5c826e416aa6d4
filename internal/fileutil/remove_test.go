package fileutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveGradually(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	doomed := filepath.Join(dir, "big.doomed")
	if err := os.WriteFile(big, make([]byte, 3*truncateStep+123), 0o600); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, doomed string }{{big, doomed}, {small, small + ".doomed"}, {filepath.Join(dir, "missing"), filepath.Join(dir, "m2")}} {
		if err := RemoveGradually(c.path, c.doomed); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 0 {
		t.Fatalf("left behind: %v", des)
	}
}

// A doomed file is never shortened under its old name: by the time the
// truncation starts, the old name is gone.
func TestRemoveGraduallyRenamesFirst(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	if err := os.WriteFile(path, make([]byte, 2*truncateStep), 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory where the doomed name should go makes the rename fail:
	// the file must then be left whole, under its own name.
	blocker := filepath.Join(dir, "seg.doomed")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RemoveGradually(path, blocker); err == nil {
		t.Fatal("rename onto a non-empty directory succeeded")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 2*truncateStep {
		t.Fatalf("file after a failed removal: %v, %v", fi, err)
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	if err := RemoveGradually(path, blocker); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}
}
