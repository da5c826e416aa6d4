package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"go.etcd.io/raft/v3/raftpb"
)

// ReadAll reads the WAL in dir as Open does and returns the same metadata,
// hard state and entries, but never writes: a torn tail is left in place
// (and logged), temp files stay, nothing is reserved or synced. It is for
// tools that copy a member's log (arborctl backup), possibly while the
// member runs and appends to it.
//
// Reading a live log is not atomic. A record being written may look torn
// (it is then left out, as Open would cut it), and a segment may be
// released or rolled under the reader; those show as *CorruptError,
// ErrSnapshotMismatch or a missing file, and the caller should retry from
// the snapshot. On a log nobody writes, the errors mean what they mean for
// Open.
func ReadAll(dir string, snapIndex uint64, log *slog.Logger) (metadata []byte, hs raftpb.HardState, ents []raftpb.Entry, err error) {
	log = orDiscard(log)
	segs, err := listSegments(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(segs) == 0) {
		return nil, hs, nil, ErrNotFound
	}
	if err != nil {
		return nil, hs, nil, fmt.Errorf("wal: read: %w", err)
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, hs, nil, &CorruptError{Path: segs[i].path, Offset: 0,
				Reason: fmt.Sprintf("segment %d is missing before it", segs[i-1].seq+1)}
		}
	}
	r := replay{base: snapIndex}
	var buf []byte
	for i := range segs {
		seg := &segs[i]
		if buf, err = readFileInto(buf, seg.path); err != nil {
			return nil, hs, nil, fmt.Errorf("wal: read: %w", err)
		}
		last := i == len(segs)-1
		r.startSegment(seg)
		res, err := scanSegment(seg.path, buf, last, r.visit)
		if err != nil {
			return nil, hs, nil, err
		}
		if r.nrec < 2 {
			return nil, hs, nil, &CorruptError{Path: seg.path, Offset: int64(res.end), Reason: "segment head (segment and metadata records) incomplete"}
		}
		if res.torn {
			log.Warn("wal: leaving out a torn record at the tail of the log (a write in progress, or a crash mid-write)",
				"path", seg.path, "offset", res.end, "torn_bytes", res.tornBytes, "reason", res.reason)
		}
	}
	hs = r.hs
	if hs != (raftpb.HardState{}) && hs.Commit < snapIndex {
		hs.Commit = snapIndex
	}
	return bytes.Clone(r.metadata), hs, r.ents, nil
}
