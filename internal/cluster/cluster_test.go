package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// ctxTimeout is a context for one client request.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// mustPut writes key=value on member i and fails the test otherwise.
func mustPut(t *testing.T, c *Cluster, i int, key, value string) Response {
	t.Helper()
	r := c.Member(i).Put(ctxTimeout(t, 10*time.Second), key, value, nil)
	if !r.OK() {
		t.Fatalf("PUT %s on %s: %v", key, c.Member(i).Name, r)
	}
	return r
}

// The harness forms a cluster over HTTP: every member lists all three in
// /v2/members, a write on one is read linearizably on all, one leader is
// agreed on, and a member restarted on its data dir keeps its identity.
func TestClusterFormsAndRestartsMembers(t *testing.T) {
	c := New(t, Options{})
	for _, m := range c.Members() {
		resp, err := c.Client.Get(m.URL + "/v2/members")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Members []struct {
				Name string `json:"name"`
			} `json:"members"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || len(body.Members) != 3 {
			t.Fatalf("/v2/members on %s: %v %+v", m.Name, err, body)
		}
	}
	for i := range c.Size() {
		mustPut(t, c, i, fmt.Sprintf("/k%d", i), fmt.Sprintf("v%d", i))
	}
	for _, m := range c.Members() {
		for i := range c.Size() {
			r := m.Get(ctxTimeout(t, 5*time.Second), fmt.Sprintf("/k%d", i), true)
			if !r.OK() || r.Value != fmt.Sprintf("v%d", i) {
				t.Fatalf("quorum GET /k%d on %s: %v", i, m.Name, r)
			}
		}
	}
	lead := c.Leader()
	if lead < 0 {
		t.Fatal("no leader")
	}
	follower := (lead + 1) % c.Size()
	id := c.Member(follower).ID()
	c.Stop(follower)
	mustPut(t, c, lead, "/while-stopped", "x")
	c.Restart(follower)
	if got := c.Member(follower).ID(); got != id {
		t.Fatalf("restarted member has ID %x, was %x", got, id)
	}
	// At once, without waiting: a restarted member holds local reads until
	// it has caught up with the commit index of the cluster.
	r := c.Member(follower).Get(ctxTimeout(t, 10*time.Second), "/while-stopped", false)
	if !r.OK() || r.Value != "x" {
		t.Fatalf("local GET on the restarted member: %v", r)
	}
	c.WaitHealthy(10 * time.Second)
	c.WaitConverged(10 * time.Second)
}

// Digest ignores each member's read counters but sees every replicated
// difference.
func TestDigestIgnoresReadsOnly(t *testing.T) {
	c := New(t, Options{Size: 1})
	m := c.Member(0)
	mustPut(t, c, 0, "/a", "1")
	before, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m.Get(ctxTimeout(t, 5*time.Second), "/a", false)
		m.Get(ctxTimeout(t, 5*time.Second), "/missing", false)
	}
	if after, _ := m.Digest(); after != before {
		t.Fatal("reads changed the digest")
	}
	mustPut(t, c, 0, "/a", "1") // same value, new modifiedIndex
	if after, _ := m.Digest(); after == before {
		t.Fatal("a write left the digest unchanged")
	}
	resp, err := c.Client.Get(m.URL + "/v2/stats/store")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/v2/stats/store: %s", resp.Status)
	}
}

// The goroutine check reports a goroutine left running.
func TestGoroutineWatchSeesLeaks(t *testing.T) {
	w := watchGoroutines()
	release := make(chan struct{})
	done := make(chan struct{})
	go func() { <-release; close(done) }()
	if err := w.check(50 * time.Millisecond); err == nil {
		t.Fatal("a blocked goroutine was not reported")
	}
	close(release)
	<-done
	if err := w.check(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
