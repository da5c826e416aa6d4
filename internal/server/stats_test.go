package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// getJSON fetches url and decodes its JSON body.
func getJSON(t *testing.T, url string) (status int, body string, v map[string]any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %d %q is not a JSON object: %v", url, res.StatusCode, b, err)
	}
	return res.StatusCode, string(b), v
}

func hexID(id uint64) string { return fmt.Sprintf("%x", id) }

// Stats in a 3-member cluster: the leader reports both followers with the
// transport's counts; every member reports its real Raft state, whom it
// follows, and its append counters and rates while writes flow.
func TestStatsInCluster(t *testing.T) {
	c := startTestCluster(t, 3, 20*time.Millisecond, 10)
	ctx := testContext(t)
	leader := c.waitStable()
	for i := range 20 {
		c.mustPut(ctx, leader, fmt.Sprintf("/s/%d", i), "v")
	}

	status, body, ls := getJSON(t, leader.url+"/v2/stats/leader")
	if status != http.StatusOK || ls["leader"] != hexID(leader.srv.ID()) {
		t.Fatalf("leader stats on the leader: %d %s", status, body)
	}
	followers, _ := ls["followers"].(map[string]any)
	if len(followers) != 2 {
		t.Fatalf("followers %v, want the 2 other members", followers)
	}
	for _, f := range c.others(leader) {
		fs, _ := followers[hexID(f.srv.ID())].(map[string]any)
		counts, _ := fs["counts"].(map[string]any)
		latency, _ := fs["latency"].(map[string]any)
		if success, _ := counts["success"].(float64); success < 20 {
			t.Errorf("follower %s: counts %v, want at least the 20 writes' appends as successes", f.srv.cfg.Name, counts)
		}
		for _, k := range []string{"current", "average", "standardDeviation", "minimum", "maximum"} {
			if _, ok := latency[k].(float64); !ok {
				t.Errorf("follower %s: latency %v has no %s", f.srv.cfg.Name, latency, k)
			}
		}
		status, body, _ := getJSON(t, f.url+"/v2/stats/leader")
		if status != http.StatusForbidden || body != `{"message":"not current leader"}` {
			t.Errorf("leader stats on follower %s: %d %s", f.srv.cfg.Name, status, body)
		}
	}

	for _, m := range c.members {
		_, body, ss := getJSON(t, m.url+"/v2/stats/self")
		wantState, count, rate := "StateFollower", "recvAppendRequestCnt", "recvPkgRate"
		if m == leader {
			wantState, count, rate = "StateLeader", "sendAppendRequestCnt", "sendPkgRate"
		}
		li, _ := ss["leaderInfo"].(map[string]any)
		uptime, err := time.ParseDuration(fmt.Sprint(li["uptime"]))
		appends, _ := ss[count].(float64)
		switch {
		case ss["id"] != hexID(m.srv.ID()) || ss["name"] != m.srv.cfg.Name || ss["role"] != "voter":
			t.Errorf("%s: self stats %s", m.srv.cfg.Name, body)
		case ss["state"] != wantState:
			t.Errorf("%s: state %v, want %s", m.srv.cfg.Name, ss["state"], wantState)
		case li["leader"] != hexID(leader.srv.ID()) || err != nil || uptime <= 0 || li["startTime"] == "0001-01-01T00:00:00Z":
			t.Errorf("%s: leaderInfo %v, want the leader, a positive uptime and the time it was first seen", m.srv.cfg.Name, li)
		case appends < 20:
			t.Errorf("%s: %s %v, want at least the 20 writes' appends", m.srv.cfg.Name, count, ss[count])
		}
		// Rates show only while appends flow: the writes were just now.
		if r, _ := ss[rate].(float64); r <= 0 {
			t.Errorf("%s: %s %v right after writes, want a positive rate: %s", m.srv.cfg.Name, rate, ss[rate], body)
		}
	}

	// A cut-off follower's Raft state is a pre-candidate's: it knows no
	// leader (etcd would still say StateFollower, with the old leader).
	f := c.others(leader)[0]
	c.net.Isolate(f.netID)
	waitFor(t, "the cut-off member to campaign", func() bool {
		_, _, ss := getJSON(t, f.url+"/v2/stats/self")
		li, _ := ss["leaderInfo"].(map[string]any)
		return ss["state"] == "StatePreCandidate" && li["leader"] == ""
	})
	// Quiet for over a second, the rates are gone from its answer.
	waitFor(t, "the cut-off member's rates to drop out", func() bool {
		_, _, ss := getJSON(t, f.url+"/v2/stats/self")
		_, has := ss["recvPkgRate"]
		return !has
	})
	c.net.Heal()
	c.waitStable()
}

// A single member leads itself and has no followers.
func TestStatsSingleMember(t *testing.T) {
	s := startMember(t, t.TempDir(), nil, nil)
	stats, ok := s.LeaderStats()
	if !ok {
		t.Fatal("a single member does not report itself the leader")
	}
	b, err := json.Marshal(stats)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"leader":"%x","followers":{}}`, s.ID()); string(b) != want {
		t.Fatalf("leader stats %s, want %s", b, want)
	}
	b, err = json.Marshal(s.SelfStats())
	if err != nil {
		t.Fatal(err)
	}
	var ss map[string]any
	if err := json.Unmarshal(b, &ss); err != nil {
		t.Fatal(err)
	}
	if ss["state"] != "StateLeader" {
		t.Fatalf("self stats %s", b)
	}
	// Nothing to send to or receive from: no rates at all.
	for _, k := range []string{"recvPkgRate", "recvBandwidthRate", "sendPkgRate", "sendBandwidthRate"} {
		if _, ok := ss[k]; ok {
			t.Errorf("self stats of a single member show %s: %s", k, b)
		}
	}
}
