package wal

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func TestFsyncMetric(t *testing.T) {
	count := func() uint64 { c, _, _ := FsyncDuration.Read(); return c }
	w := mustCreate(t, t.TempDir())
	defer w.Close()
	before := count()
	mustSave(t, w, raftpb.HardState{Term: 1}, mkEnts(1, 2, 1, 10))
	if got := count(); got != before+1 {
		t.Fatalf("one Save observed %d fsyncs", got-before)
	}
}
