package snap

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNotFound is returned by LoadIndex when no snapshot file has the index.
var ErrNotFound = errors.New("snap: no snapshot at that index")

// LoadIndex is Load for one given snapshot: the newest file (by term) at
// index. A member uses it to apply a snapshot a leader sent (it is saved
// first, then applied) and to send one to a follower. restore must consume
// the body; the CRC is checked afterwards, so a sender that streams the
// body onwards must not finish the transfer before LoadIndex returns nil.
// No fallback: a damaged file is an error.
func LoadIndex(dir string, index uint64, restore func(Meta, io.Reader) error) (Meta, error) {
	snaps, err := list(dir)
	if errors.Is(err, os.ErrNotExist) {
		return Meta{}, fmt.Errorf("%w %d in %s", ErrNotFound, index, dir)
	}
	if err != nil {
		return Meta{}, fmt.Errorf("snap: load %d: %w", index, err)
	}
	for _, s := range snaps {
		if s.index != index {
			continue
		}
		meta, err := loadFile(s.path, restore)
		if err != nil {
			return Meta{}, fmt.Errorf("snap: load %s: %w", s.path, err)
		}
		return meta, nil
	}
	return Meta{}, fmt.Errorf("%w %d in %s", ErrNotFound, index, dir)
}
