package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// startEtcdCluster runs a 3-member etcd (v2 API enabled) on free ports
// until the test ends and returns the members' client URLs once all
// answer. It skips the test when etcd is not installed.
func startEtcdCluster(t *testing.T) []string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed (Debian package etcd-server; `make deps`): this test compares the stats' shape with a real etcd 3.4 cluster")
	}
	var clientURLs, peerURLs, initial []string
	for i := range 3 {
		clientURLs = append(clientURLs, fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)))
		peerURLs = append(peerURLs, fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)))
		initial = append(initial, fmt.Sprintf("e%d=%s", i, peerURLs[i]))
	}
	for i := range 3 {
		var logs testutil.Buffer
		cmd := exec.Command(bin, "--enable-v2=true",
			"--name", fmt.Sprintf("e%d", i),
			"--data-dir", t.TempDir(),
			"--listen-client-urls", clientURLs[i], "--advertise-client-urls", clientURLs[i],
			"--listen-peer-urls", peerURLs[i], "--initial-advertise-peer-urls", peerURLs[i],
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", "arbor-stats-test",
			"--initial-cluster-state", "new")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("start etcd: %v", err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("etcd e%d log:\n%s", i, logs.String())
			}
		})
	}
	waitFor(t, "etcd's members to answer with a leader", func() bool {
		for _, u := range clientURLs {
			res, err := http.Get(u + "/health")
			if err != nil {
				return false
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return false
			}
		}
		return true
	})
	return clientURLs
}

// shape lists every path in a JSON value with the type found there, with
// the followers' member IDs replaced by "<id>": what two answers must
// share to have the same fields.
func shape(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.HasSuffix(path, ".followers") {
				k = "<id>"
			}
			shape(e, path+"."+k, out)
		}
	case string:
		out[path] = "string"
	case float64:
		out[path] = "number"
	case bool:
		out[path] = "bool"
	default:
		out[path] = fmt.Sprintf("%T", v)
	}
}

// statsShapes writes a few keys through the first URL, then returns the
// shapes of /v2/stats/self (per state) and /v2/stats/leader, and the
// non-leaders' answers to /v2/stats/leader.
func statsShapes(t *testing.T, urls []string) (self map[string]map[string]string, order map[string][]string, leader map[string]string, refusals []string) {
	t.Helper()
	for i := range 5 {
		res, err := http.PostForm(urls[0]+"/v2/keys/shape", url.Values{"value": {fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	self, order = map[string]map[string]string{}, map[string][]string{}
	for _, u := range urls {
		_, body, ss := getJSON(t, u+"/v2/stats/self")
		sh := map[string]string{}
		shape(ss, "", sh)
		self[fmt.Sprint(ss["state"])] = sh
		order[fmt.Sprint(ss["state"])] = topLevelKeys(t, body)
		status, body, ls := getJSON(t, u+"/v2/stats/leader")
		if status == http.StatusOK {
			leader = map[string]string{}
			shape(ls, "", leader)
		} else {
			refusals = append(refusals, fmt.Sprintf("%d %s", status, body))
		}
	}
	return self, order, leader, refusals
}

// topLevelKeys lists an object's keys in the order the body has them.
func topLevelKeys(t *testing.T, body string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	var out []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// compareShapes reports paths one shape has and the other lacks or types
// differently, allowing arbor's deliberate extras.
func compareShapes(t *testing.T, what string, arbor, etcd map[string]string, extras ...string) {
	t.Helper()
	var diffs []string
	for p, typ := range etcd {
		if arbor[p] != typ {
			diffs = append(diffs, fmt.Sprintf("%s: etcd %s, arbor %q", p, typ, arbor[p]))
		}
	}
	for p, typ := range arbor {
		if _, ok := etcd[p]; !ok && !slices.Contains(extras, p) {
			diffs = append(diffs, fmt.Sprintf("%s: arbor %s, etcd has none", p, typ))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s differs from etcd 3.4's:\n%s", what, strings.Join(diffs, "\n"))
	}
}

// The stats of a 3-member arbor, right after writes, have the fields etcd
// 3.4's have in a 3-member cluster (rates included), with the same types
// and in the same order; the only extra is "role". Followers refuse
// /v2/stats/leader alike.
func TestStatsShapeMatchesEtcd(t *testing.T) {
	etcdURLs := startEtcdCluster(t)
	c := startTestCluster(t, 3, 20*time.Millisecond, 10)
	c.waitStable()
	var arborURLs []string
	for _, m := range c.members {
		arborURLs = append(arborURLs, m.url)
	}
	etcdSelf, etcdOrder, etcdLeader, etcdRefusals := statsShapes(t, etcdURLs)
	arborSelf, arborOrder, arborLeader, arborRefusals := statsShapes(t, arborURLs)
	for _, state := range []string{"StateLeader", "StateFollower"} {
		if etcdSelf[state] == nil || arborSelf[state] == nil {
			t.Fatalf("no %s among the answers: etcd %v, arbor %v", state, keys(etcdSelf), keys(arborSelf))
		}
		compareShapes(t, "/v2/stats/self of the "+state, arborSelf[state], etcdSelf[state], ".role")
		// Same order too, arbor's "role" last, for byte-minded scripts.
		if want := append(slices.Clone(etcdOrder[state]), "role"); !slices.Equal(arborOrder[state], want) {
			t.Errorf("/v2/stats/self of the %s: fields in order %v, want %v", state, arborOrder[state], want)
		}
	}
	if etcdLeader == nil || arborLeader == nil {
		t.Fatalf("no member answered /v2/stats/leader: etcd %v, arbor %v", etcdLeader, arborLeader)
	}
	compareShapes(t, "/v2/stats/leader", arborLeader, etcdLeader)
	if !slices.Equal(arborRefusals, etcdRefusals) {
		t.Errorf("followers' /v2/stats/leader: arbor %q, etcd %q", arborRefusals, etcdRefusals)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
