package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKill9UnderLoadKeepsAcknowledgedWrites: concurrent clients write while
// the server is killed with SIGKILL; after a restart every write the server
// acknowledged is there with its value and index. Also with the WAL's
// syncs keeping their P (-wal-held-sync), which only that mode's syncs do.
func TestKill9UnderLoadKeepsAcknowledgedWrites(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
		held bool
	}{{"default", nil, false}, {"held-sync", []string{"-wal-held-sync"}, true}} {
		t.Run(mode.name, func(t *testing.T) {
			m := newMember(t, append([]string{"-snapshot-count", "300"}, mode.args...)...)
			m.start()
			kill9UnderLoad(t, m)
			if held := heldSyncs(t, m); (held > 0) != mode.held {
				t.Fatalf("%v syncs held their P after a restart and writes, want some: %v", held, mode.held)
			}
		})
	}
}

// heldSyncs reads arbor_wal_held_syncs_total from m's /metrics.
func heldSyncs(t *testing.T, m *member) float64 {
	t.Helper()
	m.mustDo("PUT", "/after-restart", url.Values{"value": {"x"}})
	_, body, err := m.getText("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "arbor_wal_held_syncs_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no arbor_wal_held_syncs_total in /metrics")
	return 0
}

// kill9UnderLoad writes with 16 clients, kills m with SIGKILL after 1500
// acknowledged writes (or 10 s), restarts it and checks every one.
func kill9UnderLoad(t *testing.T, m *member) {
	t.Helper()

	type ack struct {
		key, value string
		index      float64
	}
	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("/load/c%d/k%d", c, i)
				val := fmt.Sprintf("v-%d-%d", c, i)
				r, err := m.do(ctx, "PUT", key, url.Values{"value": {val}})
				if err != nil {
					return // the server died mid-request: not acknowledged
				}
				if r.Status != 201 && r.Status != 200 {
					t.Errorf("PUT %s: status %d %s", key, r.Status, r.Raw)
					return
				}
				mu.Lock()
				acked = append(acked, ack{key, val, nodeOf(r)["modifiedIndex"].(float64)})
				mu.Unlock()
			}
		}(c)
	}
	// Let the load run through a few snapshots, then kill.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 1500 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.kill()
	cancel()
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	m.start()
	for _, a := range acked {
		r := m.mustDo("GET", a.key, nil)
		if r.Status != 200 {
			t.Fatalf("acknowledged write %s lost after kill -9: %d %s", a.key, r.Status, r.Raw)
		}
		n := nodeOf(r)
		if n["value"] != a.value || n["modifiedIndex"].(float64) != a.index {
			t.Fatalf("%s: got %v@%v, acknowledged %s@%v", a.key, n["value"], n["modifiedIndex"], a.value, a.index)
		}
	}
	t.Logf("%d acknowledged writes survived kill -9", len(acked))
}

// TestRestartAfterManySnapshots: data and indexes survive clean and unclean
// restarts after the log has been snapshotted and released many times.
func TestRestartAfterManySnapshots(t *testing.T) {
	m := newMember(t, "-snapshot-count", "50")
	m.start()
	const n = 1200
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := m.do(context.Background(), "PUT", "/snap/k"+strconv.Itoa(i), url.Values{"value": {strconv.Itoa(i)}})
			if err != nil || r.Status != 201 {
				t.Errorf("PUT %d: %v %v", i, err, r)
			}
		}(i)
	}
	wg.Wait()
	// Directories, TTLs and deletes must survive too.
	m.mustDo("PUT", "/snap/dir", url.Values{"dir": {"true"}, "ttl": {"3600"}})
	m.mustDo("DELETE", "/snap/k0", nil)
	before := m.mustDo("GET", "/snap?recursive=true&sorted=true", nil)
	if before.Status != 200 {
		t.Fatal(before.Raw)
	}
	// Give the background snapshot writer a moment to finish its last file.
	time.Sleep(300 * time.Millisecond)

	check := func(how string) {
		t.Helper()
		after := m.mustDo("GET", "/snap?recursive=true&sorted=true", nil)
		if after.EtcdIndex != before.EtcdIndex {
			t.Fatalf("%s: X-Etcd-Index %s, was %s", how, after.EtcdIndex, before.EtcdIndex)
		}
		// A restart may only move expirations later (the leaderless gap is
		// added back), never earlier; everything else must be identical.
		if exp := expiration(t, after, "/snap/dir"); exp.Before(expiration(t, before, "/snap/dir")) {
			t.Fatalf("%s: expiration moved earlier", how)
		}
		if stripTimes(after.Raw) != stripTimes(before.Raw) {
			t.Fatalf("%s: tree differs after restart:\nbefore %.600s\nafter  %.600s", how, stripTimes(before.Raw), stripTimes(after.Raw))
		}
		snaps, _ := filepath.Glob(filepath.Join(m.dataDir, "snap", "*.snap"))
		if len(snaps) == 0 || len(snaps) > 2 {
			t.Fatalf("%s: %d snapshot files, want 1 or 2: %v\n%s", how, len(snaps), snaps, m.proc.Logs)
		}
	}
	m.stop()
	m.start()
	check("clean restart")
	m.kill()
	m.start()
	check("kill -9 restart")

	segs, _ := filepath.Glob(filepath.Join(m.dataDir, "wal", "*.wal"))
	if len(segs) == 0 {
		t.Fatal("no WAL segments left")
	}
	if fi, err := os.Stat(filepath.Join(m.dataDir, "wal")); err != nil || !fi.IsDir() {
		t.Fatal("wal dir missing")
	}
}

// stripTimes removes "ttl" (it counts down between reads) and "expiration".
func stripTimes(s string) string {
	return expField.ReplaceAllString(ttlField.ReplaceAllString(s, ""), "")
}

// expiration finds the expiration of key among the listed nodes of r.
func expiration(t *testing.T, r *response, key string) time.Time {
	t.Helper()
	for _, n := range nodeOf(r)["nodes"].([]any) {
		n := n.(map[string]any)
		if n["key"] == key {
			exp, err := time.Parse(time.RFC3339Nano, n["expiration"].(string))
			if err != nil {
				t.Fatal(err)
			}
			return exp
		}
	}
	t.Fatalf("%s not listed", key)
	return time.Time{}
}

// TestSnapshotFalseKeepsTheWholeLog: -snapshot=false takes no snapshots, and
// a restart replays everything from the WAL.
func TestSnapshotFalseKeepsTheWholeLog(t *testing.T) {
	m := newMember(t, "-snapshot=false", "-snapshot-count", "1")
	m.start()
	for i := 0; i < 50; i++ {
		if r := m.mustDo("PUT", "/nosnap/k"+strconv.Itoa(i), url.Values{"value": {"v"}}); r.Status != 201 {
			t.Fatalf("PUT: %d %s", r.Status, r.Raw)
		}
	}
	m.kill()
	if snaps, _ := filepath.Glob(filepath.Join(m.dataDir, "snap", "*.snap")); len(snaps) != 0 {
		t.Fatalf("-snapshot=false wrote %d snapshots", len(snaps))
	}
	m.start()
	if r := m.mustDo("GET", "/nosnap/k49", nil); r.Status != 200 {
		t.Fatalf("k49 after replay: %d %s", r.Status, r.Raw)
	}
}
