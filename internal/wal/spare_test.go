package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// waitSpare waits until the spare being written is ready and returns it.
func waitSpare(t *testing.T, w *WAL) *spare {
	t.Helper()
	if w.spare == nil {
		t.Fatal("no spare is being prepared")
	}
	<-w.spare.done
	if w.spare.err != nil {
		t.Fatalf("spare: %v", w.spare.err)
	}
	return w.spare
}

// No spare is written for a segment until it is half full; then a new
// segment is the spare written ahead (zeros, durable), and the next one is
// not started before that segment is half full in turn. A log of such
// segments reads back whole, and Close leaves no spare behind.
func TestSegmentsStartFromTheSpare(t *testing.T) {
	dir := t.TempDir()
	const size = 4096
	w := mustCreate(t, dir, SegmentSize(size))
	spareFile := filepath.Join(dir, spareName)
	var all []raftpb.Entry
	next := uint64(1)
	for rolls := 0; rolls < 3; {
		var first *spare
		if w.spare != nil {
			if w.off < size/2 {
				t.Fatalf("spare started at offset %d, before half of %d", w.off, size)
			}
			first = waitSpare(t, w)
			data, err := os.ReadFile(spareFile)
			if err != nil || len(data) != size || !bytes.Equal(data, make([]byte, size)) {
				t.Fatalf("spare: %d bytes (%v), want %d zeros", len(data), err, size)
			}
		} else if _, err := os.Stat(spareFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a spare file without a spare: %v", err)
		}
		segs := len(w.segs)
		ents := mkEnts(next, next+2, 1, 300)
		next += 3
		mustSave(t, w, raftpb.HardState{Term: 1, Commit: next - 1}, ents)
		all = append(all, ents...)
		if len(w.segs) == segs {
			if first != nil && w.spare != first {
				t.Fatal("the spare changed without a new segment")
			}
			continue
		}
		rolls++
		if first == nil {
			t.Fatal("a segment rolled without a spare ready")
		}
		if w.spare != nil {
			t.Fatal("a new segment did not take the spare, or the next started at once")
		}
		if fi, err := os.Stat(w.segs[len(w.segs)-1].path); err != nil || fi.Size() != size {
			t.Fatalf("new segment: %v, %v", fi, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spareFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spare left after Close: %v", err)
	}
	w, _, got := mustOpen(t, dir, 0, nil, SegmentSize(size))
	defer w.Close()
	checkEnts(t, got, all)
}

// A spare left by a crash (here: garbage) is deleted by Open; a log far
// from filling its segment gets no new one.
func TestOpenRemovesLeftoverSpare(t *testing.T) {
	dir := t.TempDir()
	const size = 4096
	w := mustCreate(t, dir, SegmentSize(size))
	mustSave(t, w, raftpb.HardState{Term: 1, Commit: 2}, mkEnts(1, 2, 1, 20))
	w.Close()
	spareFile := filepath.Join(dir, spareName)
	if err := os.WriteFile(spareFile, bytes.Repeat([]byte{0xff}, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	w, _, got := mustOpen(t, dir, 0, nil, SegmentSize(size))
	defer w.Close()
	checkEnts(t, got, mkEnts(1, 2, 1, 20))
	if _, err := os.Stat(spareFile); !errors.Is(err, os.ErrNotExist) || w.spare != nil {
		t.Fatalf("leftover spare after Open: %v (spare %v)", err, w.spare != nil)
	}
}

// A spare that cannot be finished (here: written to /dev/full, as on a
// full disk) is deleted by the goroutine writing it, not left holding the
// space until the next segment starts.
func TestFailedSpareIsDeletedAtOnce(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	path := filepath.Join(t.TempDir(), spareName)
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	f, err := writeZeros(path, 4<<20, &stop)
	if err == nil {
		f.Close()
		t.Fatal("writing zeros to /dev/full succeeded")
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed spare is still there: %v", err)
	}
}
