package main

import (
	"testing"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// TestEtcdctlAgainstArbor proves compatibility from outside: the real
// etcdctl (ETCDCTL_API=2) runs the seeds' command sequence against arbor
// and against a real etcd 3.4, and every command must print the same
// stdout and stderr and exit with the same status on both, with the same
// normalisation as TestSeedsAgainstEtcdctl (indexes relative to the
// store's index before the first command, unordered listings sorted).
func TestEtcdctlAgainstArbor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and arbor")
	}
	etcdURL := startEtcd(t, 0) // skips when etcd or etcdctl is absent
	bin, err := testutil.BuildArbor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	arbor := testutil.StartArbor(t, bin, "seeds")
	want := runSeeds(t, etcdURL, etcdctlTool)
	checkSeedReference(t, want)
	got := runSeeds(t, arbor.URL, etcdctlTool)
	compareSeedRuns(t, [2]string{"on etcd", "on arbor"}, want, got)
}
