package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// peerAddr is the member's -peer-addr (host:port), what -peers takes.
func (m *member) peerAddr() string {
	i := slices.Index(m.args, "-peer-addr")
	return m.args[i+1]
}

// getText GETs a path on the member's client port.
func (m *member) getText(path string) (int, string, error) {
	resp, err := client.Get(m.url + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// memberNames lists the names /v2/members shows on m.
func (m *member) memberNames(t *testing.T) []string {
	t.Helper()
	_, body, err := m.getText("/v2/members")
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Members []struct {
			Name       string   `json:"name"`
			PeerURLs   []string `json:"peerURLs"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("/v2/members: %v: %s", err, body)
	}
	var names []string
	for _, x := range out.Members {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	return names
}

// leaderOf asks m which member leads: its /v2/stats/self leaderInfo.
func leaderOf(m *member) (string, error) {
	_, body, err := m.getText("/v2/stats/self")
	if err != nil {
		return "", err
	}
	var st struct {
		LeaderInfo struct {
			Leader string `json:"leader"`
		} `json:"leaderInfo"`
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return "", err
	}
	return st.LeaderInfo.Leader, nil
}

func selfID(t *testing.T, m *member) string {
	t.Helper()
	_, body, err := m.getText("/v2/stats/self")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st.ID
}

func quorumGet(m *member, key string) (*response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return m.do(ctx, http.MethodGet, key+"?quorum=true", nil)
}

// Three members form a cluster through -peers; writes on any member are
// replicated; the members appear in /v2/members, /v2/machines and the
// hidden /_etcd/machines keys; after kill -9 of the leader the others
// elect a new one and serve writes; the killed member restarts with its
// data and identity and catches up.
func TestClusterFormedWithPeers(t *testing.T) {
	a := newMember(t, "-name", "a")
	a.start()
	b := newMember(t, "-name", "b", "-peers", a.peerAddr())
	b.start()
	c := newMember(t, "-name", "c", "-peers", a.peerAddr()+","+b.peerAddr())
	c.start()
	all := []*member{a, b, c}

	for _, m := range all {
		testutil.Eventually(t, 10*time.Second, "members on "+m.url, func() error {
			if got := m.memberNames(t); !slices.Equal(got, []string{"a", "b", "c"}) {
				return fmt.Errorf("members %v", got)
			}
			return nil
		})
	}
	// Writes on every member, reads (linearizable) on every member.
	for i, m := range all {
		r := m.mustDo(http.MethodPut, fmt.Sprintf("/k%d", i), url.Values{"value": {m.url}})
		if r.Status != http.StatusCreated {
			t.Fatalf("PUT on %s: %d %s", m.url, r.Status, r.Raw)
		}
	}
	for _, m := range all {
		for i, w := range all {
			r, err := quorumGet(m, fmt.Sprintf("/k%d", i))
			if err != nil || r.Status != http.StatusOK || nodeOf(r)["value"] != w.url {
				t.Fatalf("quorum GET /k%d on %s: %v %+v", i, m.url, err, r)
			}
		}
	}
	// The seeds' view of the members.
	r := a.mustDo(http.MethodGet, "/_etcd/machines?recursive=true", nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Raw, `"key":"/_etcd/machines/b"`) ||
		!strings.Contains(r.Raw, `"value":"raft=http://`+b.peerAddr()+`\u0026etcd=`+b.url+`"`) {
		t.Fatalf("/_etcd/machines: %d %s", r.Status, r.Raw)
	}
	if _, body, _ := b.getText("/v2/machines"); strings.Count(body, "http://") != 3 || !strings.Contains(body, c.url) {
		t.Fatalf("/v2/machines on b: %q", body)
	}
	if code, body, _ := c.getText("/v2/leader"); code != http.StatusOK || !strings.HasPrefix(body, "http://127.0.0.1:") {
		t.Fatalf("/v2/leader on c: %d %q", code, body)
	}

	// Kill the leader; the others elect a new one and go on.
	leaderID, err := leaderOf(a)
	if err != nil || leaderID == "" {
		t.Fatalf("leader: %q %v", leaderID, err)
	}
	var leader *member
	var rest []*member
	for _, m := range all {
		if selfID(t, m) == leaderID {
			leader = m
		} else {
			rest = append(rest, m)
		}
	}
	if leader == nil {
		t.Fatalf("no member has the leader's ID %s", leaderID)
	}
	leader.kill()
	killedAt := time.Now()
	testutil.Eventually(t, 10*time.Second, "a write after the leader died", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r, err := rest[0].do(ctx, http.MethodPut, "/after", url.Values{"value": {"x"}})
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK && r.Status != http.StatusCreated {
			return fmt.Errorf("%d %s", r.Status, r.Raw)
		}
		return nil
	})
	t.Logf("writes served again %v after kill -9 of the leader", time.Since(killedAt).Round(time.Millisecond))
	if r, err := quorumGet(rest[1], "/after"); err != nil || nodeOf(r)["value"] != "x" {
		t.Fatalf("quorum GET /after on the other survivor: %v %+v", err, r)
	}

	// The old leader comes back with its data and identity, and catches up.
	oldID := leaderID
	leader.start()
	if id := selfID(t, leader); id != oldID {
		t.Fatalf("restarted member has ID %s, was %s", id, oldID)
	}
	testutil.Eventually(t, 10*time.Second, "restarted member catching up", func() error {
		r, err := quorumGet(leader, "/after")
		if err != nil {
			return err
		}
		if nodeOf(r)["value"] != "x" {
			return fmt.Errorf("%+v", r)
		}
		return nil
	})
}

// A member whose data dir belongs to another cluster refuses to start when
// pointed at a cluster it is not part of, saying which clusters differ.
// One peer of its own cluster among -peers is enough, whatever the order.
func TestDataDirOfAnotherClusterRefused(t *testing.T) {
	a := newMember(t, "-name", "a")
	a.start()
	other := newMember(t, "-name", "other")
	other.start()
	other.stop()
	other.args = append(other.args, "-peers", a.peerAddr())
	err, out := other.runToExit(20 * time.Second)
	if err == nil || !strings.Contains(out, "belongs to cluster") {
		t.Fatalf("restart into another cluster: exit %v\n%s", err, out)
	}

	x1 := newMember(t, "-name", "x1")
	x1.start()
	x2 := newMember(t, "-name", "x2", "-peers", x1.peerAddr())
	x2.start()
	x2.stop()
	x2.setArg("-peers", a.peerAddr()+","+x1.peerAddr())
	x2.start()
}

// etcd 2's members API: a member added by peer URL (POST /v2/members)
// starts with -peers and joins as that member, taking its name; PUT
// changes nothing it should not; DELETE removes it from every member.
func TestMembersAPIAddStartRemove(t *testing.T) {
	a := newMember(t, "-name", "a")
	a.start()
	b := newMember(t, "-name", "b")
	peerURL := "http://" + b.peerAddr()
	req, _ := http.NewRequest(http.MethodPost, a.url+"/v2/members", strings.NewReader(`{"peerURLs":["`+peerURL+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	err = json.NewDecoder(resp.Body).Decode(&added)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || added.ID == "" || added.Name != "" {
		t.Fatalf("POST /v2/members: %d %+v %v", resp.StatusCode, added, err)
	}
	// Two voters now, one of them not started: b must start for writes.
	b.args = append(b.args, "-peers", a.peerAddr())
	b.start()
	if id := selfID(t, b); id != added.ID {
		t.Fatalf("b runs as %s, was added as %s", id, added.ID)
	}
	for _, m := range []*member{a, b} {
		testutil.Eventually(t, 10*time.Second, "members on "+m.url, func() error {
			if got := m.memberNames(t); !slices.Equal(got, []string{"a", "b"}) {
				return fmt.Errorf("members %v", got)
			}
			return nil
		})
	}
	r := b.mustDo(http.MethodPut, "/via-b", url.Values{"value": {"1"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT on b: %d %s", r.Status, r.Raw)
	}
	// The machines key was renamed from the ID to the name.
	if r := a.mustDo(http.MethodGet, "/_etcd/machines/b", nil); r.Status != http.StatusOK {
		t.Fatalf("/_etcd/machines/b: %d %s", r.Status, r.Raw)
	}
	if r := a.mustDo(http.MethodGet, "/_etcd/machines/"+added.ID, nil); r.Status != http.StatusNotFound {
		t.Fatalf("/_etcd/machines/<id> still there: %d %s", r.Status, r.Raw)
	}

	del, _ := http.NewRequest(http.MethodDelete, a.url+"/v2/members/"+added.ID, nil)
	resp, err = client.Do(del)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /v2/members/%s: %v %v", added.ID, resp, err)
	}
	resp.Body.Close()
	if got := a.memberNames(t); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("members after removal: %v", got)
	}
	// The removed member stops by itself; a alone serves writes again.
	select {
	case <-b.proc.Exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("removed member still running\n%s", b.proc.Logs)
	}
	if r := a.mustDo(http.MethodPut, "/after-removal", url.Values{"value": {"1"}}); r.Status != http.StatusCreated {
		t.Fatalf("PUT on a alone: %d %s", r.Status, r.Raw)
	}
}

// A key with a TTL never expires early across a leader change: the new
// leader first extends pending expirations by the time without a leader.
// It still expires afterwards, on every member, with an expire event.
func TestTTLSurvivesLeaderChange(t *testing.T) {
	a, b, c := startThree(t)
	all := []*member{a, b, c}
	leaderID, err := leaderOf(a)
	if err != nil {
		t.Fatal(err)
	}
	var leader *member
	var rest []*member
	for _, m := range all {
		if selfID(t, m) == leaderID {
			leader = m
		} else {
			rest = append(rest, m)
		}
	}
	const ttl = 3 * time.Second
	set := time.Now()
	r := rest[0].mustDo(http.MethodPut, "/lease", url.Values{"value": {"held"}, "ttl": {"3"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT with ttl: %d %s", r.Status, r.Raw)
	}
	leader.kill()
	// Wait (long poll) for the expiry on a survivor, from after the set.
	watchFrom := nodeOf(r)["modifiedIndex"].(float64) + 1
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := rest[1].do(ctx, http.MethodGet, fmt.Sprintf("/lease?wait=true&waitIndex=%d", int64(watchFrom)), nil)
	expired := time.Since(set)
	if err != nil || ev.Body["action"] != "expire" {
		t.Fatalf("waiting for the expiry: %v %+v", err, ev)
	}
	if expired < ttl {
		t.Fatalf("the key expired %v after it was set, before its %v TTL", expired, ttl)
	}
	t.Logf("expired %v after it was set (TTL %v, leader killed right after the set)", expired.Round(time.Millisecond), ttl)
	for _, m := range rest {
		if r, err := quorumGet(m, "/lease"); err != nil || r.Status != http.StatusNotFound {
			t.Fatalf("after the expiry on %s: %v %+v", m.url, err, r)
		}
	}
}

// A member joining a long-running single member gets a snapshot made on
// demand and then the entries after it: when the leader's in-memory log no
// longer reaches back to the start and it has written no snapshot yet, and
// when its snapshots were taken before the new member was added.
func TestJoinAfterLogTrimmedGetsSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int // writes, one entry each: sequential writes are not batched
		extra []string
	}{
		// Past the 2×4,096 entries after which a single voter trims its log.
		{"log trimmed, no snapshot", 8600, nil},
		// The snapshots on disk predate the join, so they do not name the
		// new member, which would refuse them: a fresh one is made.
		{"snapshots predate the join", 1500, []string{"-snapshot-count", "500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMember(t, append([]string{"-name", "a"}, tc.extra...)...)
			a.start()
			n := tc.n
			for i := 0; i < n; i++ {
				r, err := a.do(context.Background(), http.MethodPut, fmt.Sprintf("/k/%05d", i), url.Values{"value": {strconv.Itoa(i)}})
				if err != nil || r.Status != http.StatusCreated {
					t.Fatalf("PUT %d: %v %+v", i, err, r)
				}
			}
			b := newMember(t, "-name", "b", "-peers", a.peerAddr())
			b.start()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := b.do(ctx, http.MethodGet, "/k?recursive=true&quorum=true", nil)
			if err != nil || r.Status != http.StatusOK {
				t.Fatalf("GET /k on b: %v %+v", err, r)
			}
			nodes, _ := nodeOf(r)["nodes"].([]any)
			if len(nodes) != n {
				t.Fatalf("b has %d keys, want %d", len(nodes), n)
			}
			if !strings.Contains(b.proc.Logs.String(), "installed snapshot from the leader") {
				t.Fatalf("b did not install a snapshot:\n%s", b.proc.Logs)
			}
			// And the cluster of two goes on.
			if r := b.mustDo(http.MethodPut, "/after", url.Values{"value": {"1"}}); r.Status != http.StatusCreated {
				t.Fatalf("PUT on b: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// A member removed while it was down learns so from the others when it
// comes back (their peer ports answer it 410 Gone) and stops, exit status
// 0, instead of sitting without a leader; the others keep serving. That
// holds too when the others restarted in between from snapshots taken
// after the removal, so that the log they replay no longer holds it.
func TestMemberRemovedWhileDownStopsOnReturn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool
	}{
		{"others kept running", false},
		{"others restarted from later snapshots", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c := startThree(t, "-snapshot-count", "40")
			cID := selfID(t, c)
			c.kill()

			del, _ := http.NewRequest(http.MethodDelete, a.url+"/v2/members/"+cID, nil)
			resp, err := client.Do(del)
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("DELETE /v2/members/%s: %v %v", cID, resp, err)
			}
			resp.Body.Close()

			if tc.restart {
				// One entry per sequential write: three snapshots past
				// the removal on both members.
				for i := 0; i < 130; i++ {
					a.mustDo(http.MethodPut, fmt.Sprintf("/fill/%03d", i), url.Values{"value": {"x"}})
				}
				a.stop()
				b.stop()
				if err := a.launch(); err != nil {
					t.Fatal(err)
				}
				b.start()
				a.waitHealthy(20 * time.Second)
				for _, m := range []*member{a, b} {
					if !strings.Contains(m.proc.Logs.String(), "snapshot loaded") {
						t.Fatalf("%s did not restart from a snapshot:\n%s", m.url, m.proc.Logs)
					}
				}
			}

			err, logs := c.runToExit(20 * time.Second)
			if err != nil {
				t.Fatalf("removed member exited with %v, want status 0\n%s", err, logs)
			}
			if !strings.Contains(logs, "was removed from the cluster") {
				t.Fatalf("removed member's log does not say why it stopped:\n%s", logs)
			}
			for _, m := range []*member{a, b} {
				if r := m.mustDo(http.MethodPut, "/after", url.Values{"value": {"1"}}); r.Status != http.StatusCreated && r.Status != http.StatusOK {
					t.Fatalf("PUT on %s after the removal: %d %s", m.url, r.Status, r.Raw)
				}
			}
		})
	}
}

// startThree starts members a, b and c, b and c joining through a, each
// with the extra flags given.
func startThree(t *testing.T, extra ...string) (a, b, c *member) {
	t.Helper()
	a = newMember(t, append([]string{"-name", "a"}, extra...)...)
	a.start()
	b = newMember(t, append([]string{"-name", "b", "-peers", a.peerAddr()}, extra...)...)
	b.start()
	c = newMember(t, append([]string{"-name", "c", "-peers", a.peerAddr()}, extra...)...)
	c.start()
	return a, b, c
}

// moveToNewPorts gives a stopped member other client and peer ports, as a
// machine that comes back with another address.
func (m *member) moveToNewPorts() {
	cport, pport := testutil.FreePort(m.t), testutil.FreePort(m.t)
	m.args[slices.Index(m.args, "-addr")+1] = fmt.Sprintf("127.0.0.1:%d", cport)
	m.args[slices.Index(m.args, "-peer-addr")+1] = fmt.Sprintf("127.0.0.1:%d", pport)
	m.url = fmt.Sprintf("http://127.0.0.1:%d", cport)
	m.peerURL = fmt.Sprintf("http://127.0.0.1:%d", pport)
}

// A member restarted at other client and peer addresses (a machine back
// with a new IP) has the others record them, as etcd 0.4 let a member
// rejoin with a new peer address: without that the leader goes on sending
// to the old address and the member never hears from it. It catches up,
// serves linearizable reads and writes, and every member lists its new
// URLs.
func TestMemberRestartedAtNewAddressRejoins(t *testing.T) {
	a, b, c := startThree(t)
	c.stop()
	oldPeerURL := c.peerURL
	c.moveToNewPorts()
	a.mustDo(http.MethodPut, "/while-away", url.Values{"value": {"1"}})
	c.start()

	testutil.Eventually(t, 10*time.Second, "the moved member's linearizable read", func() error {
		r, err := quorumGet(c, "/while-away")
		if err != nil {
			return err
		}
		if nodeOf(r)["value"] != "1" {
			return fmt.Errorf("%d %s", r.Status, r.Raw)
		}
		return nil
	})
	if r := c.mustDo(http.MethodPut, "/from-c", url.Values{"value": {"c"}}); r.Status != http.StatusCreated {
		t.Fatalf("PUT on the moved member: %d %s", r.Status, r.Raw)
	}
	if r, err := quorumGet(a, "/from-c"); err != nil || nodeOf(r)["value"] != "c" {
		t.Fatalf("quorum GET /from-c on a: %v %+v", err, r)
	}
	want := "raft=" + c.peerURL + "&etcd=" + c.url
	for _, m := range []*member{a, b, c} {
		testutil.Eventually(t, 10*time.Second, "c's new URLs on "+m.url, func() error {
			if r := m.mustDo(http.MethodGet, "/_etcd/machines/c", nil); nodeOf(r)["value"] != want {
				return fmt.Errorf("/_etcd/machines/c: %s", r.Raw)
			}
			_, body, err := m.getText("/v2/members")
			if err != nil || !strings.Contains(body, c.peerURL) || !strings.Contains(body, c.url) || strings.Contains(body, oldPeerURL) {
				return fmt.Errorf("/v2/members: %v %s", err, body)
			}
			return nil
		})
	}
	if !strings.Contains(c.proc.Logs.String(), "peer URLs changed since it last ran") {
		t.Fatalf("the moved member's log does not say it moved:\n%s", c.proc.Logs)
	}
}

// setArg sets a flag in the member's arguments, adding it if absent.
func (m *member) setArg(flag, value string) {
	if i := slices.Index(m.args, flag); i >= 0 {
		m.args[i+1] = value
		return
	}
	m.args = append(m.args, flag, value)
}

// A whole cluster back at new addresses, each member told the others' new
// peer addresses by -peers: none can reach another at the URLs in its log,
// so each one's request to be moved reaches members that cannot commit it;
// those send to the new address at once, the members reach each other,
// elect a leader and commit the moves.
func TestClusterRestartedAtNewAddressesRejoins(t *testing.T) {
	a, b, c := startThree(t)
	all := []*member{a, b, c}
	a.mustDo(http.MethodPut, "/before", url.Values{"value": {"1"}})
	for _, m := range all {
		m.stop()
		m.moveToNewPorts()
	}
	for _, m := range all {
		var peers []string
		for _, o := range all {
			if o != m {
				peers = append(peers, o.peerAddr())
			}
		}
		m.setArg("-peers", strings.Join(peers, ","))
		if err := m.launch(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range all {
		m.waitHealthy(60 * time.Second)
	}
	for _, m := range all {
		testutil.Eventually(t, 20*time.Second, "new URLs on "+m.url, func() error {
			r, err := quorumGet(m, "/before")
			if err != nil || nodeOf(r)["value"] != "1" {
				return fmt.Errorf("quorum GET /before: %v %+v", err, r)
			}
			for i, o := range all {
				want := "raft=" + o.peerURL + "&etcd=" + o.url
				if r := m.mustDo(http.MethodGet, "/_etcd/machines/"+[]string{"a", "b", "c"}[i], nil); nodeOf(r)["value"] != want {
					return fmt.Errorf("%s", r.Raw)
				}
			}
			return nil
		})
	}
}

// restartWiped kills the member, deletes its data dir and starts it again
// with the same flags (a wiped disk); it fails the test if the member
// comes back under its old ID, which it returns.
func (m *member) restartWiped() (oldID string) {
	m.t.Helper()
	oldID = selfID(m.t, m)
	m.kill()
	if err := os.RemoveAll(m.dataDir); err != nil {
		m.t.Fatal(err)
	}
	m.start()
	if id := selfID(m.t, m); id == oldID {
		m.t.Fatalf("member back without its data kept its ID %s", id)
	}
	return oldID
}

// A member started again with its flags but without its data (a wiped or
// replaced disk) cannot take its old ID back: Raft would count on votes
// and entries it no longer has. It is added as a new member in place of
// the old one, catches up and serves, and the cluster still has three
// members, one of each name.
func TestMemberBackWithoutDataReplacesItself(t *testing.T) {
	a, b, c := startThree(t)
	a.mustDo(http.MethodPut, "/before", url.Values{"value": {"1"}})
	oldID := c.restartWiped()
	if r, err := quorumGet(c, "/before"); err != nil || nodeOf(r)["value"] != "1" {
		t.Fatalf("quorum GET /before on the replaced member: %v %+v", err, r)
	}
	for _, m := range []*member{a, b, c} {
		testutil.Eventually(t, 10*time.Second, "members on "+m.url, func() error {
			_, body, err := m.getText("/v2/members")
			if err != nil || strings.Contains(body, oldID) {
				return fmt.Errorf("%v %s", err, body)
			}
			if got := m.memberNames(t); !slices.Equal(got, []string{"a", "b", "c"}) {
				return fmt.Errorf("members %v", got)
			}
			return nil
		})
	}
	if !strings.Contains(a.proc.Logs.String()+b.proc.Logs.String(), "joining again without its data") {
		t.Fatalf("no member logged the replacement")
	}
}
