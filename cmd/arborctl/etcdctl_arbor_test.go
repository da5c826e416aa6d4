package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// seedMachine is the member name in the seeds' `get /_etcd/machines/...`
// (CoreOS named members by machine ID); the test's arbor takes it.
const seedMachine = "2ddbdb7c872b4bc59dd1969ac166501e"

// TestEtcdctlAgainstArbor proves compatibility from outside: the real
// etcdctl (ETCDCTL_API=2) runs the seeds' command sequence against arbor
// and against a real etcd 3.4, and every command must print the same
// stdout and stderr and exit with the same status on both, with the same
// normalisation as TestSeedsAgainstEtcdctl (indexes relative to the
// store's index before the first command, unordered listings sorted).
//
// One deliberate difference: arbor keeps its members under
// /_etcd/machines and the cluster configuration at /_etcd/config as etcd
// 0.4 did and the seeds show, where etcd 3.4 has no such keys; those steps
// must print the seeds' view instead.
func TestEtcdctlAgainstArbor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and arbor")
	}
	etcdURL := startEtcd(t, 0) // skips when etcd or etcdctl is absent
	bin, err := testutil.BuildArbor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	arbor := testutil.StartArbor(t, bin, seedMachine)
	want := runSeeds(t, etcdURL, etcdctlTool)
	checkSeedReference(t, want)
	got := runSeeds(t, arbor.URL, etcdctlTool)
	machine := "raft=" + peerURLOf(t, arbor.URL) + "&etcd=" + arbor.URL + "\n"
	for i, step := range seedSteps {
		switch strings.Join(step.args, " ") {
		case "ls /_etcd/machines --recursive":
			want[i] = seedResult{stdout: "/_etcd/machines/" + seedMachine + "\n"}
		case "get /_etcd/machines/" + seedMachine:
			want[i] = seedResult{stdout: machine}
		case "ls --recursive /_etcd", "ls /_etcd --recursive":
			want[i] = seedResult{stdout: "/_etcd/config\n/_etcd/machines\n/_etcd/machines/" + seedMachine + "\n"}
		}
	}
	compareSeedRuns(t, [2]string{"expected", "on arbor"}, want, got)
}

// peerURLOf reads a single member's peer URL from /v2/members.
func peerURLOf(t *testing.T, clientURL string) string {
	t.Helper()
	resp, err := http.Get(clientURL + "/v2/members")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Members []struct {
			PeerURLs []string `json:"peerURLs"`
		} `json:"members"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Members) != 1 || len(out.Members[0].PeerURLs) == 0 {
		t.Fatalf("/v2/members: %v %+v", err, out)
	}
	return out.Members[0].PeerURLs[0]
}
