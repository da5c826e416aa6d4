package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// The members' Raft timing in these tests: etcd 0.4's defaults, given
// explicitly because the failover time is measured against them.
const (
	heartbeat       = 50 * time.Millisecond
	electionTimeout = 200 * time.Millisecond
)

var timingFlags = []string{
	"-peer-heartbeat-interval", fmt.Sprint(heartbeat.Milliseconds()),
	"-peer-election-timeout", fmt.Sprint(electionTimeout.Milliseconds()),
}

// startTrio starts three members: the first bootstraps, the others join
// it. With l, every member's advertised peer address is a peerProxy in
// front of its real one, so l controls the traffic between them.
func startTrio(t *testing.T, l *links) []*member {
	t.Helper()
	return startTrioWith(t, l, nil)
}

// startTrioWith is startTrio calling prepare, if set, on each member
// before it starts.
func startTrioWith(t *testing.T, l *links, prepare func(i int, m *member)) []*member {
	t.Helper()
	var all []*member
	for i := range 3 {
		args := append([]string{"-name", fmt.Sprintf("p%d", i)}, timingFlags...)
		if i > 0 {
			args = append(args, "-peers", all[0].peerAddr())
		}
		m := newMember(t, args...)
		if l != nil {
			at := slices.Index(m.args, "-peer-addr")
			real := m.args[at+1]
			m.args[at+1] = startPeerProxy(t, l, i, real).addr()
			m.args = append(m.args, "-peer-bind-addr", real)
		}
		if prepare != nil {
			prepare(i, m)
		}
		m.start()
		all = append(all, m)
	}
	for i, m := range all {
		testutil.Eventually(t, 10*time.Second, "three members on "+m.url, func() error {
			if n := len(m.memberNames(t)); n != 3 {
				return fmt.Errorf("%d members", n)
			}
			return nil
		})
		if l != nil {
			l.name(selfID(t, m), i)
		}
	}
	return all
}

// leaderAmong returns the index (in all) of the member that a majority of
// all, asked among the candidates, name as leader and that says so itself;
// -1 if there is none.
func leaderAmong(all []*member, candidates []int) int {
	votes := map[string]int{}
	self := map[string]int{}
	for _, i := range candidates {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := selfStats(ctx, all[i])
		cancel()
		if err != nil || st.LeaderInfo.Leader == "" {
			continue
		}
		votes[st.LeaderInfo.Leader]++
		if st.State == "StateLeader" && st.ID == st.LeaderInfo.Leader {
			self[st.ID] = i
		}
	}
	for id, i := range self {
		if votes[id] > len(all)/2 {
			return i
		}
	}
	return -1
}

type stats struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	LeaderInfo struct {
		Leader string `json:"leader"`
	} `json:"leaderInfo"`
}

func selfStats(ctx context.Context, m *member) (stats, error) {
	var st stats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.url+"/v2/stats/self", nil)
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func waitLeaderAmong(t *testing.T, all []*member, candidates []int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if i := leaderAmong(all, candidates); i >= 0 {
			return i
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader among members %v within %v", candidates, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ack is a write a member acknowledged.
type ack struct {
	value string
	index float64
}

// processLoad is clients writing fresh keys to random members of `to`.
type processLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	acked  map[string]ack // guarded by mu
	failed int            // guarded by mu
}

func startProcessLoad(t *testing.T, to []*member, clients int) *processLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &processLoad{cancel: cancel, acked: map[string]ack{}}
	for c := range clients {
		l.wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				m := to[rand.IntN(len(to))]
				key, val := fmt.Sprintf("/load/c%d/k%d", c, n), fmt.Sprintf("v%d-%d", c, n)
				rctx, rcancel := context.WithTimeout(ctx, time.Second)
				r, err := m.do(rctx, http.MethodPut, key, url.Values{"value": {val}})
				rcancel()
				l.mu.Lock()
				if err == nil && (r.Status == http.StatusCreated || r.Status == http.StatusOK) {
					l.acked[key] = ack{val, nodeOf(r)["modifiedIndex"].(float64)}
				} else {
					l.failed++
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond) // a dead member refuses at once
				}
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

func (l *processLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *processLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *processLoad) waitAcked(t *testing.T, n int, within time.Duration) {
	t.Helper()
	want := l.count() + n
	testutil.Eventually(t, within, fmt.Sprintf("%d more acknowledged writes", n), func() error {
		if got := l.count(); got < want {
			return fmt.Errorf("%d of %d", got, want)
		}
		return nil
	})
}

// storeView is one member's whole tree as a recursive local GET shows
// it, hidden member keys included, and its digest.
type storeView struct {
	digest string
	nodes  map[string]ack // key → value and modifiedIndex
}

func viewOf(m *member) (storeView, error) {
	v := storeView{nodes: map[string]ack{}}
	h := sha256.New()
	for _, path := range []string{"/?recursive=true&sorted=true", "/_etcd?recursive=true&sorted=true"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := m.do(ctx, http.MethodGet, path, nil)
		cancel()
		if err != nil {
			return v, err
		}
		if r.Status != http.StatusOK {
			return v, fmt.Errorf("GET %s: %d %s", path, r.Status, r.Raw)
		}
		fmt.Fprintf(h, "%s\n%s\n", r.EtcdIndex, r.Raw)
		collect(nodeOf(r), v.nodes)
	}
	v.digest = fmt.Sprintf("%x", h.Sum(nil))
	return v, nil
}

func collect(n map[string]any, into map[string]ack) {
	if n == nil {
		return
	}
	if key, _ := n["key"].(string); key != "" && n["dir"] != true {
		val, _ := n["value"].(string)
		idx, _ := n["modifiedIndex"].(float64)
		into[key] = ack{val, idx}
	}
	children, _ := n["nodes"].([]any)
	for _, c := range children {
		child, _ := c.(map[string]any)
		collect(child, into)
	}
}

// waitConverged polls until every member shows the same store (same
// digest of its recursive listings and X-Etcd-Index), and returns it.
func waitConverged(t *testing.T, all []*member, within time.Duration) storeView {
	t.Helper()
	var views []storeView
	deadline := time.Now().Add(within)
	for {
		views = views[:0]
		var err error
		for _, m := range all {
			var v storeView
			if v, err = viewOf(m); err != nil {
				break
			}
			views = append(views, v)
		}
		if err == nil && !slices.ContainsFunc(views, func(v storeView) bool { return v.digest != views[0].digest }) {
			return views[0]
		}
		if time.Now().After(deadline) {
			var digests []string
			for _, v := range views {
				digests = append(digests, v.digest)
			}
			t.Fatalf("members did not converge within %v: %v, digests %v", within, err, digests)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkAcked fails unless every acknowledged write is in view with the
// value and index it was acknowledged with.
func (l *processLoad) checkAcked(t *testing.T, view storeView) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, a := range l.acked {
		if got, ok := view.nodes[key]; !ok || got != a {
			t.Fatalf("acknowledged write %s=%s@%v: the members have %+v (present %v)", key, a.value, a.index, got, ok)
		}
	}
	t.Logf("%d acknowledged writes present on every member; %d writes failed or timed out", len(l.acked), l.failed)
}

// firstWrite measures how long after since the cluster acknowledges a
// write again: it starts a write on one of to every 10ms (each may wait
// for an election) and returns when the first one succeeds.
func firstWrite(t *testing.T, to []*member, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	done := make(chan time.Duration, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		wg.Go(func() {
			r, err := to[n%len(to)].do(ctx, http.MethodPut, fmt.Sprintf("/probe/%d", n), url.Values{"value": {"p"}})
			if err == nil && r.Status == http.StatusCreated {
				select {
				case done <- time.Since(since):
				default:
				}
			}
		})
		select {
		case d := <-done:
			return d
		case <-ctx.Done():
			t.Fatalf("no write acknowledged within %v", within)
		case <-tick.C:
		}
	}
}

// kill -9 of the leader while clients write to every member: the other two
// elect a leader and acknowledge writes again within a few election
// timeouts; after the killed member restarts, every member holds every
// acknowledged write with its index, and all three have the same store.
func TestClusterKill9LeaderUnderWriteLoad(t *testing.T) {
	all := startTrio(t, nil)
	load := startProcessLoad(t, all, 12)
	load.waitAcked(t, 300, 20*time.Second)

	lead := waitLeaderAmong(t, all, []int{0, 1, 2}, 10*time.Second)
	var rest []int
	for i := range all {
		if i != lead {
			rest = append(rest, i)
		}
	}
	all[lead].kill()
	killed := time.Now()
	served := firstWrite(t, []*member{all[rest[0]], all[rest[1]]}, killed, 20*time.Second)
	newLead := waitLeaderAmong(t, all, rest, 10*time.Second)
	t.Logf("leader p%d killed; p%d leads; first write acknowledged %v after the kill (%.1f election timeouts of %v)",
		lead, newLead, served.Round(time.Millisecond), float64(served)/float64(electionTimeout), electionTimeout)
	if limit := 10 * electionTimeout; served > limit {
		t.Errorf("writes resumed only after %v, more than %v", served, limit)
	}
	load.waitAcked(t, 300, 20*time.Second)

	all[lead].start()
	load.waitAcked(t, 100, 20*time.Second)
	load.stop()
	view := waitConverged(t, all, 20*time.Second)
	load.checkAcked(t, view)
}

// kill -9 of every member at once while clients write to all three: no
// member is left to remember anything but its own WAL. After all three
// restart (none can serve alone, so they are launched together), every
// write any of them acknowledged is on every member with its index.
func TestClusterKill9AllMembersUnderWriteLoad(t *testing.T) {
	all := startTrio(t, nil)
	load := startProcessLoad(t, all, 12)
	load.waitAcked(t, 300, 20*time.Second)

	var wg sync.WaitGroup
	for _, m := range all {
		wg.Go(m.kill)
	}
	wg.Wait()
	before := load.count()
	for _, m := range all {
		if err := m.launch(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range all {
		m.waitHealthy(20 * time.Second)
	}
	load.waitAcked(t, 100, 20*time.Second)
	load.stop()
	t.Logf("%d writes acknowledged before the kill, %d in all", before, load.count())
	view := waitConverged(t, all, 20*time.Second)
	load.checkAcked(t, view)
}

// A leader cut off from both followers by the peer proxies (its process
// runs on, silently unable to reach them): writes through it fail or time
// out, a quorum read on it never answers the old value, the others elect
// a leader and serve writes; after healing all three converge and hold
// every acknowledged write.
func TestClusterPartitionedLeaderThroughProxies(t *testing.T) {
	l := newLinks()
	all := startTrio(t, l)
	load := startProcessLoad(t, all, 8)
	load.waitAcked(t, 100, 20*time.Second)
	if r := all[0].mustDo(http.MethodPut, "/x", url.Values{"value": {"before"}}); r.Status != http.StatusCreated {
		t.Fatalf("PUT /x: %d %s", r.Status, r.Raw)
	}

	lead := waitLeaderAmong(t, all, []int{0, 1, 2}, 10*time.Second)
	var rest []int
	for i := range all {
		if i != lead {
			rest = append(rest, i)
		}
	}
	l.isolate(lead, len(all))
	cut := time.Now()
	minority := all[lead]
	var wg sync.WaitGroup
	for n := range 3 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			r, err := minority.do(ctx, http.MethodPut, "/x", url.Values{"value": {fmt.Sprintf("cut-off-%d", n)}})
			if err == nil && r.Status < 300 {
				t.Errorf("write on the cut-off leader acknowledged: %d %s", r.Status, r.Raw)
			}
		})
	}
	served := firstWrite(t, []*member{all[rest[0]], all[rest[1]]}, cut, 20*time.Second)
	newLead := waitLeaderAmong(t, all, rest, 10*time.Second)
	t.Logf("leader p%d cut off; p%d leads; first write acknowledged %v after the cut", lead, newLead, served.Round(time.Millisecond))
	after := all[newLead].mustDo(http.MethodPut, "/x", url.Values{"value": {"after"}})
	if after.Status != http.StatusOK {
		t.Fatalf("PUT /x on the new leader: %d %s", after.Status, after.Raw)
	}
	for _, i := range rest {
		if r, err := quorumGet(all[i], "/x"); err != nil || nodeOf(r)["value"] != "after" {
			t.Fatalf("quorum GET /x on p%d: %v %+v", i, err, r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	r, err := minority.do(ctx, http.MethodGet, "/x?quorum=true", nil)
	cancel()
	if err == nil && r.Status == http.StatusOK && nodeOf(r)["value"] != "after" {
		t.Fatalf("stale quorum read on the cut-off member: %s", r.Raw)
	}
	if err != nil {
		t.Logf("quorum GET on the cut-off member: %v", err)
	} else {
		t.Logf("quorum GET on the cut-off member: %d %s", r.Status, r.Raw)
	}
	wg.Wait()
	load.waitAcked(t, 20, 20*time.Second) // the majority serves the load

	l.heal()
	healed := time.Now()
	waitLeaderAmong(t, all, []int{0, 1, 2}, 10*time.Second)
	load.waitAcked(t, 50, 20*time.Second)
	load.stop()
	view := waitConverged(t, all, 30*time.Second)
	t.Logf("converged %v after healing", time.Since(healed).Round(time.Millisecond))
	load.checkAcked(t, view)
	if got := view.nodes["/x"]; got.value != "after" {
		t.Fatalf("/x after healing: %+v", got)
	}
}
