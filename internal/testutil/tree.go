package testutil

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TreeDigest fingerprints every file and directory under dir: names,
// modes, sizes and contents, and with modTimes the modification times too,
// so a test can tell whether anything under dir changed.
func TreeDigest(t testing.TB, dir string, modTimes bool) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d", path, info.Mode(), info.Size())
		if modTimes {
			fmt.Fprintf(h, " %d", info.ModTime().UnixNano())
		}
		fmt.Fprintln(h)
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
