package wal

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func TestReadAllMatchesOpen(t *testing.T) {
	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(1024))
	for i := uint64(1); i <= 60; i++ {
		mustSave(t, w, raftpb.HardState{Term: 2, Vote: 1, Commit: i - 1}, mkEnts(i, i, 2, 40))
	}
	if err := w.SaveSnapshot(30, 2); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if len(segPaths(t, dir)) < 3 {
		t.Fatal("want several segments")
	}
	for _, snapIndex := range []uint64{0, 30, 60} {
		before := dirDigest(t, dir)
		md, hs, ents, err := ReadAll(dir, snapIndex, nil)
		if err != nil {
			t.Fatalf("ReadAll(%d): %v", snapIndex, err)
		}
		if dirDigest(t, dir) != before {
			t.Fatal("ReadAll modified the directory")
		}
		w, wantHS, wantEnts := mustOpen(t, dir, snapIndex, nil)
		w.Close()
		if string(md) != "member=1 cluster=2" || hs != wantHS {
			t.Fatalf("ReadAll(%d): metadata %q hard state %+v, Open gave %+v", snapIndex, md, hs, wantHS)
		}
		checkEnts(t, ents, wantEnts)
	}
}

func TestReadAllLeavesTornTailInPlace(t *testing.T) {
	const n = 5
	dir := t.TempDir()
	path, orig, lastStart, lastEnd := writeTornFixture(t, dir, n)
	// Half of the last batch, then the reserved zeros: a write in progress.
	cut := lastStart + (lastEnd-lastStart)/3
	content := append(bytes.Clone(orig[:cut]), make([]byte, len(orig)-int(cut))...)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	before := dirDigest(t, dir)
	log, lb := newLogger()
	_, hs, ents, err := ReadAll(dir, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	checkEnts(t, ents, mkEnts(1, n-1, 1, 20))
	if hs.Commit != n-1 {
		t.Fatalf("commit %d, want %d", hs.Commit, n-1)
	}
	if !strings.Contains(lb.String(), "torn") {
		t.Fatalf("torn tail not logged: %s", lb.String())
	}
	if dirDigest(t, dir) != before {
		t.Fatal("ReadAll repaired the torn tail; it must never write")
	}
}

func TestReadAllErrors(t *testing.T) {
	if _, _, _, err := ReadAll(t.TempDir(), 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty dir: %v, want ErrNotFound", err)
	}
	if _, _, _, err := ReadAll(t.TempDir()+"/missing", 0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing dir: %v, want ErrNotFound", err)
	}

	dir := t.TempDir()
	w := mustCreate(t, dir, SegmentSize(1024))
	for i := uint64(1); i <= 80; i++ {
		mustSave(t, w, raftpb.HardState{Term: 1, Commit: i}, mkEnts(i, i, 1, 30))
	}
	w.Close()
	ps := segPaths(t, dir)
	offs := recordOffsets(t, ps[0])
	flipByte(t, ps[0], int64(offs[len(offs)-2])+headerSize+1)
	before := dirDigest(t, dir)
	_, _, _, err := ReadAll(dir, 0, nil)
	checkCorrupt(t, err, ps[0], int64(offs[len(offs)-2]))
	if dirDigest(t, dir) != before {
		t.Fatal("ReadAll modified a corrupt directory")
	}
}
