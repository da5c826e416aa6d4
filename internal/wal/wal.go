package wal

import (
	"errors"
	"fmt"
	"log/slog"

	"go.etcd.io/raft/v3/raftpb"
)

// ErrNotFound is returned by Open when dir holds no WAL segment.
var ErrNotFound = errors.New("wal: no WAL in directory")

// CorruptError reports a record that is damaged somewhere other than the
// torn tail of the last segment. Recovery must refuse to start on it.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt record in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// WAL is an append-only segmented log. Not safe for concurrent use.
type WAL struct{}

// Exist reports whether dir holds a WAL.
func Exist(dir string) bool { return false }

// Create makes dir (if needed) and a new WAL whose first record is metadata.
func Create(dir string, metadata []byte, log *slog.Logger) (*WAL, error) {
	return nil, errors.New("wal: not implemented")
}

// Open opens an existing WAL and reads it back.
func Open(dir string, snapIndex uint64, log *slog.Logger) (w *WAL, metadata []byte, hs raftpb.HardState, ents []raftpb.Entry, err error) {
	return nil, nil, hs, nil, errors.New("wal: not implemented")
}

// Save appends entries and the hard state and makes them durable.
func (w *WAL) Save(hs raftpb.HardState, ents []raftpb.Entry) error {
	return errors.New("wal: not implemented")
}

// SaveSnapshot records that a snapshot at (index, term) is durable.
func (w *WAL) SaveSnapshot(index, term uint64) error {
	return errors.New("wal: not implemented")
}

// ReleaseTo deletes whole segments all of whose entries have Index <= index.
func (w *WAL) ReleaseTo(index uint64) error { return errors.New("wal: not implemented") }

// Close closes the WAL.
func (w *WAL) Close() error { return nil }
