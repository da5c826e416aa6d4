package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	etcdclient "go.etcd.io/etcd/client/v2"

	"github.com/arbor-kv/arbor/client"
	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

// Timing of the cut-off tests: a 500 ms election timeout leaves room for a
// loaded machine without making the tests slow.
const (
	cutTick     = 50 * time.Millisecond
	cutElection = 10
)

// watchLine is one line of a watch body: an event or an error.
type watchLine struct {
	Action string `json:"action"`
	Node   *struct {
		Key           string `json:"key"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
	ErrorCode int    `json:"errorCode"`
	Cause     string `json:"cause"`
}

// streamWatch follows one stream=true watch in the background.
type streamWatch struct {
	name  string
	mu    sync.Mutex
	lines []watchLine // guarded by mu
	ended time.Time   // when the body ended; guarded by mu
	err   error       // how reading ended, if not cleanly; guarded by mu
	done  chan struct{}
}

// openStream starts a recursive stream watch of key on url from waitIndex
// and returns once the member has registered it (its headers arrived).
func openStream(t *testing.T, ctx context.Context, name, url, key string, waitIndex uint64) *streamWatch {
	t.Helper()
	target := fmt.Sprintf("%s/v2/keys%s?wait=true&stream=true&recursive=true&waitIndex=%d", url, key, waitIndex)
	res := mustGet(t, ctx, target)
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("stream watch on %s: %d %s", name, res.StatusCode, body)
	}
	sw := &streamWatch{name: name, done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		defer res.Body.Close()
		dec := json.NewDecoder(bufio.NewReader(res.Body))
		for {
			var l watchLine
			err := dec.Decode(&l)
			sw.mu.Lock()
			if err != nil {
				sw.ended = time.Now()
				if !errors.Is(err, io.EOF) {
					sw.err = err
				}
				sw.mu.Unlock()
				return
			}
			sw.lines = append(sw.lines, l)
			sw.mu.Unlock()
		}
	}()
	return sw
}

func (sw *streamWatch) snapshot() (lines []watchLine, ended time.Time, err error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return slices.Clone(sw.lines), sw.ended, sw.err
}

func (sw *streamWatch) events() int {
	lines, _, _ := sw.snapshot()
	return len(lines)
}

func mustGet(t *testing.T, ctx context.Context, target string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return res
}

// longPoll is one wait=true request on a key nobody writes.
type longPoll struct {
	status int
	body   string
	err    error
	ended  time.Time
	done   chan struct{}
}

func openLongPoll(t *testing.T, ctx context.Context, url, key string) *longPoll {
	t.Helper()
	res := mustGet(t, ctx, url+"/v2/keys"+key+"?wait=true")
	lp := &longPoll{status: res.StatusCode, done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		lp.body, lp.err, lp.ended = string(b), err, time.Now()
	}()
	return lp
}

// writer keeps writing new keys /k/<n> through the members it is given,
// one every tick, until stopped. Failed writes (no leader) are skipped:
// the store, not the writer, says which writes happened.
type writer struct {
	ok      atomic.Int64 // successful writes
	stop    chan struct{}
	stopped chan struct{}
	mu      sync.Mutex
	via     []*testMember // guarded by mu
}

func startWriter(c *testCluster, via ...*testMember) *writer {
	w := &writer{stop: make(chan struct{}), stopped: make(chan struct{}), via: via}
	go func() {
		defer close(w.stopped)
		for n := 0; ; n++ {
			w.mu.Lock()
			m := w.via[n%len(w.via)]
			w.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*c.electionTimeout())
			_, err := m.srv.Write(ctx, putRequest(fmt.Sprintf("/k/%06d", n), "v"))
			cancel()
			if err == nil {
				w.ok.Add(1)
			}
			select {
			case <-w.stop:
				return
			case <-time.After(c.tick):
			}
		}
	}()
	return w
}

func (w *writer) halt() {
	close(w.stop)
	<-w.stopped
}

// waitWrites waits until n more writes than now have succeeded.
func (w *writer) waitWrites(t *testing.T, n int64) {
	t.Helper()
	target := w.ok.Load() + n
	waitFor(t, fmt.Sprintf("%d more writes", n), func() bool { return w.ok.Load() >= target })
}

// storeEvents is the order m's store holds /k's keys in. Each key is
// written once, so every key is one event: what a watcher of /k must see.
func storeEvents(t *testing.T, m *testMember) []string {
	t.Helper()
	ev, err := m.srv.Store().Get("/k", true, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodes := slices.Clone(ev.Node.Nodes)
	slices.SortFunc(nodes, func(a, b *store.NodeExtern) int { return cmpUint(a.ModifiedIndex, b.ModifiedIndex) })
	var out []string
	for _, n := range nodes {
		out = append(out, fmt.Sprintf("%s@%d", n.Key, n.ModifiedIndex))
	}
	return out
}

// seen is a stream's events in wantEvents' form, and its error lines.
func seen(lines []watchLine) (events []string, errs []watchLine) {
	for _, l := range lines {
		if l.ErrorCode != 0 || l.Node == nil {
			errs = append(errs, l)
			continue
		}
		events = append(events, fmt.Sprintf("%s@%d", l.Node.Key, l.Node.ModifiedIndex))
	}
	return events, errs
}

// checkCutOffEnd checks that sw, on a member cut off at cut, ended with one
// error line (300, "no leader") within three election timeouts, after
// events that are a prefix of want.
func checkCutOffEnd(t *testing.T, sw *streamWatch, cut time.Time, earliest, latest time.Duration, want []string) {
	t.Helper()
	lines, ended, err := sw.snapshot()
	if err != nil {
		t.Errorf("%s: stream broke instead of ending: %v", sw.name, err)
	}
	if len(lines) == 0 {
		t.Fatalf("%s: stream ended with nothing", sw.name)
	}
	last := lines[len(lines)-1]
	if last.ErrorCode != int(apierr.RaftInternal) || !strings.Contains(last.Cause, "etcdserver: no leader") {
		t.Errorf("%s: last line %+v, want error 300 with a no-leader cause", sw.name, last)
	}
	if took := ended.Sub(cut); took > latest || took < earliest {
		t.Errorf("%s: stream ended %v after the cut, want between %v and %v", sw.name, took, earliest, latest)
	}
	events, errs := seen(lines[:len(lines)-1])
	if len(errs) > 0 {
		t.Errorf("%s: error lines before the last: %+v", sw.name, errs)
	}
	if len(events) == 0 || len(events) > len(want) || !slices.Equal(events, want[:len(events)]) {
		t.Errorf("%s: events before the cut %v are not a prefix of the history %v", sw.name, events, want)
	}
}

// checkFollowedThrough checks that sw is still going and has seen exactly
// the events m's store holds, in order (waiting for the last ones to
// arrive).
func checkFollowedThrough(t *testing.T, sw *streamWatch, m *testMember) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		want := storeEvents(t, m)
		lines, ended, err := sw.snapshot()
		events, errs := seen(lines)
		if !ended.IsZero() || len(errs) > 0 {
			t.Errorf("%s: watch on the majority ended (%v) or got errors %+v", sw.name, err, errs)
			return
		}
		if slices.Equal(events, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: saw %d events %v\nthe store has %d %v", sw.name, len(events), events, len(want), want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A follower cut off from the others ends its watches with error 300
// within three election timeouts (and not before two: a short election
// would not end them), refuses new ones at once, and serves them again
// once healed. Watches on the majority see every event in order.
func TestWatchesOnCutOffFollowerEnd(t *testing.T) {
	c := startTestCluster(t, 3, cutTick, cutElection)
	ctx := testContext(t)
	leader := c.waitStable()
	f, g := c.others(leader)[0], c.others(leader)[1]
	et := c.electionTimeout()

	start := c.mustPut(ctx, leader, "/start", "x").Index()
	w := startWriter(c, leader, g)
	streams := map[*testMember]*streamWatch{}
	for _, m := range c.members {
		streams[m] = openStream(t, ctx, m.srv.cfg.Name, m.url, "/k", start+1)
	}
	poll := openLongPoll(t, ctx, f.url, "/never")
	cl, err := client.New(client.Config{Endpoints: []string{f.url}})
	if err != nil {
		t.Fatal(err)
	}
	clientErr := make(chan error, 1)
	go func() {
		_, err := cl.Watcher("/never", client.WatcherOptions{}).Next(ctx)
		clientErr <- err
	}()
	// etcd's own client, given the cut-off member first and another one,
	// must move on without losing an event.
	official := followWithEtcdClient(t, ctx, []string{f.url, g.url}, start)
	waitFor(t, "the follower's stream to see events", func() bool { return streams[f].events() >= 2 })

	cut := time.Now()
	c.net.Isolate(f.netID)
	waitDone(t, ctx, streams[f].done, "the cut-off follower's stream to end")
	waitDone(t, ctx, poll.done, "the cut-off follower's long poll to end")
	var cerr error
	select {
	case cerr = <-clientErr:
	case <-ctx.Done():
		t.Fatal("the client's watch on the cut-off member never ended")
	}
	clientEnded := time.Since(cut)
	w.waitWrites(t, 5) // the majority goes on

	if poll.status != http.StatusOK || poll.body != "" || poll.err != nil {
		t.Errorf("long poll: %d %q %v, want 200 and an empty body", poll.status, poll.body, poll.err)
	}
	if took := poll.ended.Sub(cut); took > 3*et || took < 2*et {
		t.Errorf("long poll ended %v after the cut, want between %v and %v", took, 2*et, 3*et)
	}
	var ce *client.Error
	if !errors.As(cerr, &ce) || ce.Code != int(apierr.RaftInternal) || !strings.Contains(ce.Cause, "no leader") {
		t.Errorf("client watch ended with %v, want error 300 (no leader)", cerr)
	}
	if clientEnded > 3*et+et/2 { // it polls again after the empty body
		t.Errorf("client watch ended %v after the cut", clientEnded)
	}
	refused := mustGet(t, ctx, f.url+"/v2/keys/k?wait=true")
	body, _ := io.ReadAll(refused.Body)
	refused.Body.Close()
	if refused.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"errorCode":300`) {
		t.Errorf("new watch on the cut-off member: %d %s, want 500 with error 300", refused.StatusCode, body)
	}

	c.net.Heal()
	waitFor(t, "the healed member to serve watches again", func() bool {
		res := mustGet(t, ctx, fmt.Sprintf("%s/v2/keys/k?wait=true&recursive=true&waitIndex=%d", f.url, start+1))
		defer res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	w.halt()
	checkFollowedThrough(t, streams[leader], leader)
	checkFollowedThrough(t, streams[g], g)
	checkFollowedThrough(t, official, g)
	checkCutOffEnd(t, streams[f], cut, 2*et, 3*et, storeEvents(t, leader))
}

// An isolated leader steps down and ends its watches within three election
// timeouts; the majority elects a new leader and its watchers see every
// event in order across the change.
func TestWatchesOnCutOffLeaderEnd(t *testing.T) {
	c := startTestCluster(t, 3, cutTick, cutElection)
	ctx := testContext(t)
	old := c.waitStable()
	majority := c.others(old)
	et := c.electionTimeout()

	start := c.mustPut(ctx, old, "/start", "x").Index()
	w := startWriter(c, majority...)
	streams := map[*testMember]*streamWatch{}
	for _, m := range c.members {
		streams[m] = openStream(t, ctx, m.srv.cfg.Name, m.url, "/k", start+1)
	}
	poll := openLongPoll(t, ctx, old.url, "/never")
	waitFor(t, "every stream to see events", func() bool {
		for _, sw := range streams {
			if sw.events() < 2 {
				return false
			}
		}
		return true
	})

	cut := time.Now()
	c.net.Isolate(old.netID)
	waitFor(t, "a new leader among the majority", func() bool { return c.leader(majority...) != nil })
	w.waitWrites(t, 5)
	waitDone(t, ctx, streams[old].done, "the cut-off leader's stream to end")
	waitDone(t, ctx, poll.done, "the cut-off leader's long poll to end")
	if poll.status != http.StatusOK || poll.body != "" || poll.err != nil {
		t.Errorf("long poll: %d %q %v, want 200 and an empty body", poll.status, poll.body, poll.err)
	}
	if took := poll.ended.Sub(cut); took > 3*et || took < et {
		t.Errorf("long poll ended %v after the cut, want between %v and %v", took, et, 3*et)
	}

	c.net.Heal()
	c.waitStable()
	w.waitWrites(t, 3)
	w.halt()
	for _, m := range majority {
		checkFollowedThrough(t, streams[m], m)
	}
	checkCutOffEnd(t, streams[old], cut, et, 3*et, storeEvents(t, majority[0]))
}

// followWithEtcdClient follows /k from after index start with etcd's v2 Go
// client (long polls, failing over between endpoints), recording events as
// a streamWatch does; it records an error and stops if Next fails or
// panics.
func followWithEtcdClient(t *testing.T, ctx context.Context, endpoints []string, start uint64) *streamWatch {
	t.Helper()
	c, err := etcdclient.New(etcdclient.Config{Endpoints: endpoints, Transport: etcdclient.DefaultTransport})
	if err != nil {
		t.Fatal(err)
	}
	w := etcdclient.NewKeysAPI(c).Watcher("/k", &etcdclient.WatcherOptions{AfterIndex: start, Recursive: true})
	sw := &streamWatch{name: "etcd's client", done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		defer func() {
			if p := recover(); p != nil {
				sw.mu.Lock()
				sw.ended, sw.err = time.Now(), fmt.Errorf("panic: %v", p)
				sw.mu.Unlock()
			}
		}()
		for {
			res, err := w.Next(ctx)
			sw.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					sw.ended, sw.err = time.Now(), err
				}
				sw.mu.Unlock()
				return
			}
			l := watchLine{Action: res.Action}
			l.Node = &struct {
				Key           string `json:"key"`
				ModifiedIndex uint64 `json:"modifiedIndex"`
			}{res.Node.Key, res.Node.ModifiedIndex}
			sw.lines = append(sw.lines, l)
			sw.mu.Unlock()
		}
	}()
	return sw
}

func waitDone(t *testing.T, ctx context.Context, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
	}
}

// testContext bounds a test that would otherwise hang on a bug.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
