package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
	"github.com/arbor-kv/arbor/internal/testutil"
)

// adminCluster is members started in-process as cmd/arbor wires them: a
// Server whose PeerHandler serves a real loopback listener. Their logs
// are printed when the test fails.
type adminCluster struct {
	t       *testing.T
	cfg     ClusterConfig
	logs    *testutil.Buffer
	members []*adminMember
	client  *http.Client
}

type adminMember struct {
	name, peerURL string
	srv           *Server
	hs            *http.Server
	stop          sync.Once
}

func newAdminCluster(t *testing.T, cfg ClusterConfig) *adminCluster {
	c := &adminCluster{t: t, cfg: cfg, logs: &testutil.Buffer{}, client: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		for _, m := range c.members {
			m.kill()
		}
		c.client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("member logs:\n%s", c.logs)
		}
	})
	return c
}

// add starts a member that joins through the first member (or starts the
// cluster when it is the first) and waits until it serves reads.
func (c *adminCluster) add(name string) *adminMember {
	c.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	m := &adminMember{name: name, peerURL: "http://" + ln.Addr().String()}
	var join []string
	if len(c.members) > 0 {
		join = []string{c.members[0].peerURL}
	}
	m.srv, err = Start(Config{
		Name:          name,
		DataDir:       c.t.TempDir(),
		ClientURLs:    []string{"http://" + name + ".client.test:2379"},
		PeerURLs:      []string{m.peerURL},
		TickInterval:  20 * time.Millisecond,
		ElectionTicks: 10,
		SyncInterval:  100 * time.Millisecond,
		Join:          join,
		JoinTimeout:   20 * time.Second,
		Cluster:       c.cfg,
		Logger:        slog.New(slog.NewTextHandler(c.logs, nil)).With("member", name),
	})
	if err != nil {
		ln.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	m.hs = &http.Server{Handler: m.srv.PeerHandler(), ReadHeaderTimeout: 10 * time.Second}
	go m.hs.Serve(ln)
	c.members = append(c.members, m)
	waitFor(c.t, name+" serving", func() bool { return m.srv.Health(context.Background()) == nil })
	return m
}

// kill stops the member as a crash would look to the others: its port
// closes and it stops answering.
func (m *adminMember) kill() {
	m.stop.Do(func() {
		m.hs.Close()
		m.srv.Stop()
	})
}

func (c *adminCluster) leader() *adminMember {
	c.t.Helper()
	var found *adminMember
	waitFor(c.t, "a leader", func() bool {
		for _, m := range c.members {
			if m.srv.node.Status().IsLeader {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// do sends an admin request to m's peer port and decodes the answer.
func (c *adminCluster) do(m *adminMember, method, path, body string, out any) int {
	c.t.Helper()
	req, err := http.NewRequest(method, m.peerURL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (c *adminCluster) config(m *adminMember) ClusterConfig {
	c.t.Helper()
	var got ClusterConfig
	if st := c.do(m, http.MethodGet, adminConfigPath, "", &got); st != http.StatusOK {
		c.t.Fatalf("GET config from %s: %d", m.name, st)
	}
	return got
}

func (c *adminCluster) machines(m *adminMember) []machine {
	c.t.Helper()
	var got []machine
	if st := c.do(m, http.MethodGet, adminMachinesPath, "", &got); st != http.StatusOK {
		c.t.Fatalf("GET machines from %s: %d", m.name, st)
	}
	return got
}

type adminError struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause"`
}

// setKey writes through s. A proposal Raft dropped (no leader known for
// a moment) was not applied, so it is tried again; any other error fails.
func setKey(t *testing.T, s *Server, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := s.Write(ctx, &store.Request{Method: store.MethodPut, Path: key, Val: val, Time: time.Now().UnixNano()})
		if err == nil {
			return
		}
		if !apierr.Is(err, apierr.LeaderElect) || ctx.Err() != nil {
			t.Fatalf("set %s: %v", key, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// localValue reads key from s's own store ("" when absent).
func localValue(s *Server, key string, quorum bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := s.Get(ctx, key, false, false, quorum)
	if err != nil || ev.Node.Value == nil {
		return ""
	}
	return *ev.Node.Value
}

// The configuration a PUT sets through any member reaches every member
// through the log, with the fields it leaves out unchanged; values below
// etcd 0.4's bounds are refused and change nothing.
func TestAdminConfigRoundTrip(t *testing.T) {
	seed := ClusterConfig{ActiveSize: 5, RemoveDelay: 60, SyncInterval: 2}
	c := newAdminCluster(t, seed)
	a := c.add("a")
	// Stored while bootstrapping, right after a's own machine key.
	if ev, err := a.srv.store.Get(clusterConfigKey, false, false, time.Now()); err != nil || ev.Node.ModifiedIndex != 2 {
		t.Fatalf("%s after bootstrap: %+v %v", clusterConfigKey, ev, err)
	}
	c.add("b")
	c.add("c")
	for _, m := range c.members {
		if got := c.config(m); got != seed {
			t.Fatalf("%s: config %+v, want the seed %+v", m.name, got, seed)
		}
	}

	follower := c.members[0]
	if follower == c.leader() {
		follower = c.members[1]
	}
	var got ClusterConfig
	if st := c.do(follower, http.MethodPut, adminConfigPath, `{"activeSize":4}`, &got); st != http.StatusOK {
		t.Fatalf("PUT activeSize: %d", st)
	}
	want := ClusterConfig{ActiveSize: 4, RemoveDelay: 60, SyncInterval: 2}
	if got != want {
		t.Fatalf("PUT answered %+v, want %+v", got, want)
	}
	if st := c.do(c.members[2], http.MethodPut, adminConfigPath, `{"removeDelay":30.5,"syncInterval":1}`, &got); st != http.StatusOK {
		t.Fatalf("PUT removeDelay: %d", st)
	}
	want = ClusterConfig{ActiveSize: 4, RemoveDelay: 30.5, SyncInterval: 1}
	for _, m := range c.members {
		waitFor(t, m.name+" applying the new config", func() bool { return c.config(m) == want })
		if v := localValue(m.srv, clusterConfigKey, false); !strings.Contains(v, `"removeDelay":30.5`) {
			t.Fatalf("%s: %s = %q", m.name, clusterConfigKey, v)
		}
	}

	for _, bad := range []struct {
		body string
		code int
	}{
		{`{"activeSize":2}`, 403},
		{`{"activeSize":3.5}`, 403},
		{`{"removeDelay":1}`, 404},
		{`{"syncInterval":0}`, 209},
		{`{"activeSize":"9"}`, 209},
		{`not json`, 209},
	} {
		var e adminError
		if st := c.do(a, http.MethodPut, adminConfigPath, bad.body, &e); st != http.StatusBadRequest || e.ErrorCode != bad.code {
			t.Errorf("PUT %s: %d %+v, want 400 with error %d", bad.body, st, e, bad.code)
		}
	}
	for _, m := range c.members {
		if got := c.config(m); got != want {
			t.Fatalf("%s after refused PUTs: %+v, want %+v", m.name, got, want)
		}
	}
}

// A member joining a cluster that has its activeSize of voters is a
// learner: it says so, replicates, serves local and quorum reads, and its
// writes are forwarded and applied everywhere. The admin API lists it.
func TestLearnerJoinsWhenActiveSizeReached(t *testing.T) {
	c := newAdminCluster(t, ClusterConfig{ActiveSize: 3, RemoveDelay: 60})
	for _, name := range []string{"a", "b", "c", "d"} {
		c.add(name)
	}
	d := c.members[3]
	for _, m := range c.members {
		want := "voter"
		if m == d {
			want = "learner"
		}
		if got := m.srv.Role(); got != want {
			t.Fatalf("%s: role %q, want %q", m.name, got, want)
		}
	}
	if !regexp.MustCompile(`msg="member starting" member=d name=d .*role=learner why="joined a cluster that already had its activeSize of voters"`).MatchString(c.logs.String()) {
		t.Fatalf("d's start log does not say it is a learner and why")
	}
	if cs := c.leader().srv.node.ConfState(); !slices.Contains(cs.Learners, d.srv.ID()) || len(cs.Voters) != 3 {
		t.Fatalf("Raft's configuration: %+v", cs)
	}

	// Reads on the learner see writes made elsewhere.
	setKey(t, c.leader().srv, "/from/leader", "1")
	waitFor(t, "the learner to apply the write", func() bool { return localValue(d.srv, "/from/leader", false) == "1" })
	if got := localValue(d.srv, "/from/leader", true); got != "1" {
		t.Fatalf("quorum read on the learner: %q", got)
	}
	// Writes on the learner are forwarded to the leader.
	setKey(t, d.srv, "/from/learner", "2")
	for _, m := range c.members {
		waitFor(t, m.name+" to apply the learner's write", func() bool { return localValue(m.srv, "/from/learner", false) == "2" })
	}

	// The admin API, on any member, in etcd 0.4's shape, sorted by name.
	for _, m := range c.members {
		got := c.machines(m)
		if len(got) != 4 {
			t.Fatalf("%s lists %d machines: %+v", m.name, len(got), got)
		}
		leaders := 0
		for i, x := range got {
			want := c.members[i]
			if x.Name != want.name || x.ClientURL != "http://"+want.name+".client.test:2379" || x.PeerURL != want.peerURL {
				t.Fatalf("%s: machine %d is %+v, want %s", m.name, i, x, want.name)
			}
			switch {
			case want == d && x.State == "learner":
			case want != d && x.State == "follower":
			case want != d && x.State == "leader":
				leaders++
			default:
				t.Fatalf("%s: %s's state is %q", m.name, x.Name, x.State)
			}
		}
		if leaders > 1 {
			t.Fatalf("%s lists %d leaders: %+v", m.name, leaders, got)
		}
	}
	leader := c.leader()
	for _, x := range c.machines(leader) {
		if x.Name == leader.name && x.State != "leader" && leader.srv.node.Status().IsLeader {
			t.Fatalf("the leader lists itself as %q", x.State)
		}
	}
	var one machine
	if st := c.do(c.members[0], http.MethodGet, adminMachinesPath+"/d", "", &one); st != http.StatusOK || one.Name != "d" || one.State != "learner" {
		t.Fatalf("GET machines/d: %d %+v", st, one)
	}
	var e adminError
	if st := c.do(c.members[0], http.MethodGet, adminMachinesPath+"/nobody", "", &e); st != http.StatusNotFound || e.ErrorCode != 100 {
		t.Fatalf("GET machines/nobody: %d %+v", st, e)
	}
	// The raw JSON has exactly etcd 0.4's fields.
	var raw []map[string]any
	c.do(c.members[0], http.MethodGet, adminMachinesPath, "", &raw)
	for _, x := range raw {
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if fmt.Sprint(keys) != "[clientURL name peerURL state]" {
			t.Fatalf("machine fields %v", keys)
		}
	}
}

// voters lists the voters' names as m's registry has them.
func (c *adminCluster) voters(m *adminMember) []string {
	var out []string
	for _, x := range m.srv.members.list() {
		if !x.Learner {
			out = append(out, x.Name)
		}
	}
	slices.Sort(out)
	return out
}

func (c *adminCluster) byName(name string) *adminMember {
	for _, m := range c.members {
		if m.name == name {
			return m
		}
	}
	c.t.Fatalf("no member %s", name)
	return nil
}

// A voter that stays unreachable for removeDelay is removed by the leader
// and the learner promoted in its place; the cluster keeps serving reads
// and writes throughout. Killing the leader works the same way, the new
// leader doing the healing.
func TestSelfHealReplacesUnreachableVoter(t *testing.T) {
	for _, victim := range []string{"follower", "leader"} {
		t.Run(victim, func(t *testing.T) {
			c := newAdminCluster(t, ClusterConfig{ActiveSize: 3, RemoveDelay: 2})
			for _, name := range []string{"a", "b", "c", "d"} {
				c.add(name)
			}
			d := c.members[3]
			leader := c.leader()
			dead := leader
			if victim == "follower" {
				dead = c.members[0]
				if dead == leader {
					dead = c.members[1]
				}
			}
			killed := time.Now() // its streams break as kill begins
			dead.kill()
			var live []*adminMember
			for _, m := range c.members {
				if m != dead {
					live = append(live, m)
				}
			}

			// Two voters of three are a quorum: writes go on meanwhile
			// (once they have a leader: a write forwarded to the dead one
			// is lost, and times out).
			waitFor(t, "the living to agree on a living leader", func() bool {
				lead := live[0].srv.node.Status().Leader
				for _, m := range live {
					if st := m.srv.node.Status(); st.Leader != lead || lead == dead.srv.ID() || lead == 0 {
						return false
					}
				}
				return true
			})
			setKey(t, live[0].srv, "/during", "1")

			want := []string{}
			for _, m := range c.members {
				if m != dead {
					want = append(want, m.name)
				}
			}
			for _, m := range live {
				waitFor(t, m.name+" to see "+dead.name+" replaced by d", func() bool {
					return slices.Equal(c.voters(m), want)
				})
			}
			if took := time.Since(killed); took < 2*time.Second {
				t.Fatalf("%s was replaced %s after it died, before removeDelay", dead.name, took)
			}
			if got := d.srv.Role(); got != "voter" {
				t.Fatalf("d's role is %q after the promotion", got)
			}
			if !regexp.MustCompile(`msg="this member's role" member=d role=voter why="promoted by the leader`).MatchString(c.logs.String()) {
				t.Fatal("d did not log its promotion")
			}
			for _, m := range live {
				cs := m.srv.node.ConfState()
				if len(cs.Voters) != 3 || len(cs.Learners) != 0 || !slices.Contains(cs.Voters, d.srv.ID()) || slices.Contains(cs.Voters, dead.srv.ID()) {
					t.Fatalf("%s: Raft's configuration %+v", m.name, cs)
				}
				if v := localValue(m.srv, machinesDir+"/"+dead.name, false); v != "" {
					t.Fatalf("%s still has %s's machine key: %q", m.name, dead.name, v)
				}
			}

			// Every member left serves writes and reads; d now votes.
			for i, m := range live {
				setKey(t, m.srv, fmt.Sprintf("/after/%d", i), m.name)
			}
			for _, m := range live {
				for i, w := range live {
					key := fmt.Sprintf("/after/%d", i)
					waitFor(t, m.name+" to read "+key, func() bool { return localValue(m.srv, key, false) == w.name })
				}
				if got := localValue(m.srv, "/during", true); got != "1" {
					t.Fatalf("%s: /during = %q", m.name, got)
				}
			}
		})
	}
}

// threeVotersAndALearner starts members a, b and c (voters, activeSize 3)
// and d, which joins as a learner, with the given removeDelay.
func threeVotersAndALearner(t *testing.T, removeDelay float64) (*adminCluster, *adminMember) {
	t.Helper()
	c := newAdminCluster(t, ClusterConfig{ActiveSize: 3, RemoveDelay: removeDelay})
	for _, name := range []string{"a", "b", "c", "d"} {
		c.add(name)
	}
	d := c.members[3]
	if d.srv.Role() != "learner" {
		t.Fatalf("d is a %s", d.srv.Role())
	}
	return c, d
}

// A learner that stays unreachable for removeDelay is removed too (it
// would otherwise stay in /v2/machines for good), and not before; the
// voters are left as they were.
func TestSelfHealRemovesUnreachableLearner(t *testing.T) {
	c, d := threeVotersAndALearner(t, 2)
	killed := time.Now() // its streams break as kill begins
	d.kill()
	live := c.members[:3]
	for _, m := range live {
		waitFor(t, m.name+" to see d removed", func() bool {
			for _, x := range m.srv.members.list() {
				if x.Name == "d" {
					return false
				}
			}
			return len(m.srv.node.ConfState().Learners) == 0
		})
	}
	if took := time.Since(killed); took < 2*time.Second {
		t.Fatalf("d was removed %s after it died, before removeDelay", took)
	}
	if !strings.Contains(c.logs.String(), `change=remove name=d`) {
		t.Fatal("the leader did not log the removal")
	}
	for _, m := range live {
		if got := c.voters(m); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("%s: voters %v", m.name, got)
		}
		if v := localValue(m.srv, machinesDir+"/d", false); v != "" {
			t.Fatalf("%s still has d's machine key: %q", m.name, v)
		}
	}
	setKey(t, live[0].srv, "/after", "1")
}

// Raising activeSize promotes a learner; lowering it demotes a voter (never
// the leader) back to learner, and the member says so.
func TestActiveSizeChangePromotesAndDemotes(t *testing.T) {
	c, d := threeVotersAndALearner(t, 60)
	if st := c.do(c.members[1], http.MethodPut, adminConfigPath, `{"activeSize":4}`, nil); st != http.StatusOK {
		t.Fatalf("PUT activeSize 4: %d", st)
	}
	for _, m := range c.members {
		waitFor(t, m.name+" to see d promoted", func() bool { return len(c.voters(m)) == 4 })
	}
	waitFor(t, "d to be a voter", func() bool { return d.srv.Role() == "voter" })

	if st := c.do(d, http.MethodPut, adminConfigPath, `{"activeSize":3}`, nil); st != http.StatusOK {
		t.Fatalf("PUT activeSize 3: %d", st)
	}
	var demoted *adminMember
	waitFor(t, "a voter demoted", func() bool {
		for _, m := range c.members {
			if m.srv.Role() == "learner" {
				demoted = m
				return true
			}
		}
		return false
	})
	leader := c.leader()
	for _, m := range c.members {
		waitFor(t, m.name+" to see 3 voters", func() bool { return len(c.voters(m)) == 3 })
	}
	if cs := leader.srv.node.ConfState(); len(cs.Voters) != 3 || len(cs.Learners) != 1 || cs.Learners[0] != demoted.srv.ID() {
		t.Fatalf("Raft's configuration after the demotion: %+v (demoted %s)", cs, demoted.name)
	}
	if !regexp.MustCompile(`msg="this member's role" member=` + demoted.name + ` role=learner why="demoted by the leader`).MatchString(c.logs.String()) {
		t.Fatalf("%s did not log its demotion", demoted.name)
	}
	// The demoted member still serves: its writes are forwarded.
	setKey(t, demoted.srv, "/from/demoted", "x")
	for _, m := range c.members {
		waitFor(t, m.name+" to apply the write", func() bool { return localValue(m.srv, "/from/demoted", false) == "x" })
	}
}

// DELETE /v2/admin/machines/<name> removes a member for good, through any
// member; an unknown name is error 100, and the last voter stays.
func TestAdminRemoveMachine(t *testing.T) {
	c := newAdminCluster(t, ClusterConfig{ActiveSize: 3, RemoveDelay: 60})
	for _, name := range []string{"a", "b", "c"} {
		c.add(name)
	}
	if st := c.do(c.members[1], http.MethodDelete, adminMachinesPath+"/c", "", nil); st != http.StatusOK {
		t.Fatalf("DELETE c: %d", st)
	}
	for _, m := range c.members[:2] {
		waitFor(t, m.name+" to forget c", func() bool { return slices.Equal(c.voters(m), []string{"a", "b"}) })
		if names := fmt.Sprint(c.machines(m)); strings.Contains(names, "c.client.test") {
			t.Fatalf("%s still lists c: %s", m.name, names)
		}
	}
	var e adminError
	if st := c.do(c.members[0], http.MethodDelete, adminMachinesPath+"/c", "", &e); st != http.StatusNotFound || e.ErrorCode != 100 {
		t.Fatalf("DELETE c again: %d %+v", st, e)
	}
	setKey(t, c.members[0].srv, "/still", "serving")

	solo := newAdminCluster(t, ClusterConfig{})
	s := solo.add("solo")
	e = adminError{}
	if st := solo.do(s, http.MethodDelete, adminMachinesPath+"/solo", "", &e); st != http.StatusBadRequest || e.ErrorCode != 209 {
		t.Fatalf("DELETE the only voter: %d %+v", st, e)
	}
	if got := solo.config(s); got != DefaultClusterConfig() {
		t.Fatalf("a member started without cluster flags: %+v", got)
	}
}
