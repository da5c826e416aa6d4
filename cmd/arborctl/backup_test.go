package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// arborProc is an arbor server process on a data dir the test chose.
type arborProc struct {
	*testutil.Proc
	t   *testing.T
	url string
}

// startArborOn runs bin on dataDir with free loopback ports and returns
// once it is healthy. The process is killed (by its PID) when the test
// ends, if it still runs.
func startArborOn(t *testing.T, bin, dataDir string, extra ...string) *arborProc {
	t.Helper()
	clientAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	peerAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cmd := exec.Command(bin, append([]string{"-data-dir", dataDir, "-addr", clientAddr, "-peer-addr", peerAddr}, extra...)...)
	testutil.DieWithParent(cmd)
	proc, err := testutil.StartProc(t, cmd)
	if err != nil {
		t.Fatalf("start arbor: %v", err)
	}
	p := &arborProc{Proc: proc, t: t, url: "http://" + clientAddr}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("arbor on %s:\n%s", dataDir, p.Logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var h struct{ Health string }
		if code, _, _ := p.get("/health", &h); code == http.StatusOK && h.Health == "true" {
			return p
		}
		select {
		case <-p.Exited():
			t.Fatalf("arbor exited during start: %v\n%s", p.Err(), p.Logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("arbor did not become healthy within 30s\n%s", p.Logs.String())
		}
	}
}

// stop shuts the server down cleanly (SIGTERM) and waits for it.
func (p *arborProc) stop() { p.Stop(p.t, 15*time.Second) }

// get fetches path, decodes the JSON body into v (if not nil) and returns
// the status, the X-Etcd-Index header and the raw body.
func (p *arborProc) get(path string, v any) (int, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && json.Unmarshal(b, v) != nil {
		return 0, "", string(b)
	}
	return resp.StatusCode, resp.Header.Get("X-Etcd-Index"), string(b)
}

// write sends one v2 write and returns the node's modifiedIndex.
func (p *arborProc) write(method, key string, form url.Values) uint64 {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.url+"/v2/keys"+key, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, key, err)
	}
	defer resp.Body.Close()
	var body struct {
		Node struct{ ModifiedIndex uint64 }
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 || json.Unmarshal(b, &body) != nil {
		p.t.Fatalf("%s %s %v: %d %s", method, key, form, resp.StatusCode, b)
	}
	return body.Node.ModifiedIndex
}

// memberID is the ID in /v2/stats/self; clusterID the X-Etcd-Cluster-ID.
func (p *arborProc) identity() (memberID, clusterID string) {
	p.t.Helper()
	var self struct{ ID string }
	if code, _, body := p.get("/v2/stats/self", &self); code != http.StatusOK || self.ID == "" {
		p.t.Fatalf("/v2/stats/self: %d %s", code, body)
	}
	resp, err := http.Get(p.url + "/v2/keys/")
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	return self.ID, resp.Header.Get("X-Etcd-Cluster-Id")
}

var ttlJSON = regexp.MustCompile(`,"(?:ttl":\d+|expiration":"[^"]*")`)

// backupFixture writes keys of every kind, sorts of hidden ones and TTLs
// included, and enough of them that the server takes a snapshot.
func backupFixture(p *arborProc) {
	v := func(kv ...string) url.Values {
		f := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	p.write("PUT", "/dir/a", v("value", "1"))
	p.write("PUT", "/dir/sub/b", v("value", "2"))
	p.write("PUT", "/dir/_hidden", v("value", "h"))
	p.write("PUT", "/_private/key", v("value", "p"))
	p.write("PUT", "/ttl", v("value", "t", "ttl", "600"))
	p.write("PUT", "/ttldir", v("dir", "true", "ttl", "600"))
	p.write("PUT", "/empty", v("dir", "true"))
	p.write("POST", "/queue", v("value", "q1"))
	p.write("POST", "/queue", v("value", "q2"))
	for i := range 30 {
		p.write("PUT", fmt.Sprintf("/n/%d", i%6), v("value", strconv.Itoa(i)))
	}
	p.write("PUT", "/dir/a", v("value", "1b", "prevValue", "1"))
	p.write("DELETE", "/n/2", nil)
}

// view is what a client reads: the whole tree, the hidden keys by path,
// and X-Etcd-Index, TTLs aside (a restart extends them by the downtime).
func (p *arborProc) view() string {
	p.t.Helper()
	var out strings.Builder
	for _, path := range []string{"/", "/dir/_hidden", "/_private", "/ttl", "/ttldir"} {
		code, index, body := p.get("/v2/keys"+path+"?recursive=true&sorted=true", nil)
		if code != http.StatusOK {
			p.t.Fatalf("GET %s: %d %s", path, code, body)
		}
		fmt.Fprintf(&out, "%s X-Etcd-Index=%s %s\n", path, index, ttlJSON.ReplaceAllString(body, ""))
	}
	return out.String()
}

// checkTTLsKept: the keys with a TTL still have about what they were
// given. Starting, the member extends expirations by the time since the
// last Sync the source applied, which may predate the write by up to the
// sync interval (500 ms): hence up to 601 when rounded up.
func (p *arborProc) checkTTLsKept() {
	p.t.Helper()
	for _, path := range []string{"/ttl", "/ttldir"} {
		var r struct{ Node struct{ TTL int64 } }
		p.get("/v2/keys"+path, &r)
		if r.Node.TTL < 590 || r.Node.TTL > 601 {
			p.t.Errorf("%s: ttl %d, want 590..601", path, r.Node.TTL)
		}
	}
}

// runBackup runs "arborctl backup" and requires it to succeed quietly on
// stdout.
func runBackup(t *testing.T, dataDir, backupDir string) {
	t.Helper()
	r := runCLI(t, nil, nil, "", "backup", "--data-dir", dataDir, "--backup-dir", backupDir)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "arbor -data-dir "+backupDir) {
		t.Fatalf("backup: %+v", r)
	}
}

// TestBackupStartsAsANewMember backs up the data dir of a stopped server
// and of a running one, starts arbor on each copy and requires the same
// keys, values, indexes and X-Etcd-Index under a new member and cluster ID.
func TestBackupStartsAsANewMember(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts arbor")
	}
	bin, err := testutil.BuildArbor(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("stopped", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		src := startArborOn(t, bin, dataDir, "-snapshot-count", "10")
		backupFixture(src)
		want := src.view()
		srcMember, srcCluster := src.identity()
		src.stop()
		if snaps, _ := filepath.Glob(filepath.Join(dataDir, "snap", "*.snap")); len(snaps) == 0 {
			t.Fatal("the server took no snapshot: the backup would not be tested on one")
		}
		before := testutil.TreeDigest(t, dataDir, true)

		backupDir := filepath.Join(t.TempDir(), "backup")
		runBackup(t, dataDir, backupDir)
		if testutil.TreeDigest(t, dataDir, true) != before {
			t.Fatal("the backup modified the source data dir")
		}

		b := startArborOn(t, bin, backupDir)
		if got := b.view(); got != want {
			t.Fatalf("the backup serves\n%s\nthe source served\n%s", got, want)
		}
		b.checkTTLsKept()
		member, cluster := b.identity()
		if member == srcMember || cluster == srcCluster || cluster == "" {
			t.Fatalf("backup is member %s of cluster %s, the source was %s of %s", member, cluster, srcMember, srcCluster)
		}
		// It goes on from the same store index.
		_, index, _ := b.get("/v2/keys/", nil)
		n, _ := strconv.ParseUint(index, 10, 64)
		if got := b.write("PUT", "/after", url.Values{"value": {"x"}}); got != n+1 {
			t.Fatalf("first write after the restore at index %d, want %d", got, n+1)
		}
		// The original still starts as itself.
		src = startArborOn(t, bin, dataDir)
		if m, c := src.identity(); m != srcMember || c != srcCluster {
			t.Fatalf("the source restarted as %s/%s, was %s/%s", m, c, srcMember, srcCluster)
		}
	})

	t.Run("running", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "data")
		src := startArborOn(t, bin, dataDir, "-snapshot-count", "10")
		backupFixture(src)
		want := src.view()
		srcMember, _ := src.identity()

		idle := filepath.Join(t.TempDir(), "idle")
		runBackup(t, dataDir, idle)

		// Now copy while a client writes /load/<i> one after another.
		type ack struct{ i, index uint64 }
		acks := make(chan ack, 1<<16)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				acks <- ack{i, src.write("PUT", fmt.Sprintf("/load/%06d", i), url.Values{"value": {strconv.FormatUint(i, 10)}})}
			}
		}()
		for len(acks) < 20 {
			time.Sleep(5 * time.Millisecond) // polling the writer's progress
		}
		ackedBefore := len(acks)
		busy := filepath.Join(t.TempDir(), "busy")
		runBackup(t, dataDir, busy)
		close(stop)
		<-done
		close(acks)
		var acked []uint64
		for a := range acks {
			acked = append(acked, a.index)
		}
		// The source kept working and still holds its lock.
		src.write("PUT", "/still", url.Values{"value": {"ok"}})
		second := exec.Command(bin, "-data-dir", dataDir, "-addr", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
			"-peer-addr", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)))
		if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "in use") {
			t.Fatalf("a second server on the source data dir: %v\n%s", err, out)
		}

		b := startArborOn(t, bin, idle)
		if got := b.view(); got != want {
			t.Fatalf("the backup of the idle server serves\n%s\nthe source served\n%s", got, want)
		}
		b.checkTTLsKept()
		if m, _ := b.identity(); m == srcMember {
			t.Fatalf("the backup kept member ID %s", m)
		}
		b.stop()

		c := startArborOn(t, bin, busy)
		var load struct {
			Node struct {
				Nodes []struct {
					Key, Value    string
					ModifiedIndex uint64
				}
			}
		}
		_, index, body := c.get("/v2/keys/load?recursive=true&sorted=true", &load)
		got := load.Node.Nodes
		if len(got) < ackedBefore {
			t.Fatalf("the backup holds %d of the writes, %d were acknowledged before it began: %s", len(got), ackedBefore, body)
		}
		for i, n := range got {
			if n.Key != fmt.Sprintf("/load/%06d", i) || n.Value != strconv.Itoa(i) || i >= len(acked) || n.ModifiedIndex != acked[i] {
				t.Fatalf("backup entry %d is %+v: not the writes' prefix with their indexes", i, n)
			}
		}
		if last := got[len(got)-1].ModifiedIndex; index != strconv.FormatUint(last, 10) {
			t.Fatalf("X-Etcd-Index %s, the last write in the backup is at %d", index, last)
		}
	})
}
