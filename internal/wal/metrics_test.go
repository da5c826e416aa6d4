package wal

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
)

func TestFsyncMetric(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, c := range Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	count := func() uint64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "arbor_wal_fsync_duration_seconds" {
				return mf.GetMetric()[0].GetHistogram().GetSampleCount()
			}
		}
		t.Fatal("arbor_wal_fsync_duration_seconds not gathered")
		return 0
	}
	before := count()
	w := mustCreate(t, t.TempDir())
	defer w.Close()
	mustSave(t, w, raftpb.HardState{Term: 1}, mkEnts(1, 2, 1, 10))
	if got := count(); got != before+1 {
		t.Fatalf("one Save observed %d fsyncs", got-before)
	}
}
