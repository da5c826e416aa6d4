package clientv2

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	etcdclient "go.etcd.io/etcd/client/v2"
)

// event is what a test expects of one watch response.
type event struct {
	action, key, value string
	// prevValue is the value the change replaced or deleted ("" for none).
	prevValue string
	index     uint64
}

func eventOf(r *etcdclient.Response) event {
	e := event{action: r.Action, key: r.Node.Key, value: r.Node.Value, index: r.Node.ModifiedIndex}
	if r.PrevNode != nil {
		e.prevValue = r.PrevNode.Value
	}
	return e
}

// nextEvents reads n events from w.
func nextEvents(t *testing.T, ctx context.Context, w etcdclient.Watcher, n int) []event {
	t.Helper()
	var got []event
	for range n {
		r, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, eventOf(r))
	}
	return got
}

// nextAsync reads one event from w on a goroutine, for a test that makes
// the change while the watcher waits.
func nextAsync(ctx context.Context, w etcdclient.Watcher, out chan<- watched) {
	go func() {
		r, err := w.Next(ctx)
		if err != nil {
			out <- watched{err: err}
			return
		}
		out <- watched{ev: eventOf(r)}
	}()
}

type watched struct {
	ev  event
	err error
}

func sameEvents(t *testing.T, what string, got, want []event) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: event %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// TestWatcherAfterIndexRecursive replays history from AfterIndex: a
// recursive watcher sees every change under its key, in index order, and
// nothing from before AfterIndex or outside its key; a plain watcher sees
// only its own key. Both then pick up a change made while they wait.
func TestWatcherAfterIndexRecursive(t *testing.T) {
	_, c := startArbor(t)
	kapi := etcdclient.NewKeysAPI(c)
	ctx := testContext(t)

	set := func(key, value string, opts *etcdclient.SetOptions) *etcdclient.Response {
		t.Helper()
		r, err := kapi.Set(ctx, key, value, opts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := set("/w/old", "0", nil)
	a := set("/w/a", "1", nil)
	set("/other", "x", nil)
	b := set("/w/b", "2", nil)
	delA, err := kapi.Delete(ctx, "/w/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	nested := set("/w/c/d", "3", nil)
	updB := set("/w/b", "22", &etcdclient.SetOptions{PrevExist: etcdclient.PrevExist})

	recursive := kapi.Watcher("/w", &etcdclient.WatcherOptions{AfterIndex: before.Index, Recursive: true})
	sameEvents(t, "recursive watcher from AfterIndex", nextEvents(t, ctx, recursive, 5), []event{
		{"set", "/w/a", "1", "", a.Index},
		{"set", "/w/b", "2", "", b.Index},
		{"delete", "/w/a", "", "1", delA.Index},
		{"set", "/w/c/d", "3", "", nested.Index},
		{"update", "/w/b", "22", "2", updB.Index},
	})
	plain := kapi.Watcher("/w/b", &etcdclient.WatcherOptions{AfterIndex: before.Index})
	sameEvents(t, "watcher of /w/b from AfterIndex", nextEvents(t, ctx, plain, 2), []event{
		{"set", "/w/b", "2", "", b.Index},
		{"update", "/w/b", "22", "2", updB.Index},
	})

	// Both have caught up; the next changes arrive while they wait. The
	// write to /w/e must reach only the recursive watcher.
	got := make(chan watched, 2)
	nextAsync(ctx, recursive, got)
	nextAsync(ctx, plain, got)
	e := set("/w/e", "5", nil)
	b3 := set("/w/b", "222", nil)
	want := map[string]event{
		"/w/e": {"set", "/w/e", "5", "", e.Index},
		"/w/b": {"set", "/w/b", "222", "22", b3.Index},
	}
	for range 2 {
		w := <-got
		if w.err != nil {
			t.Fatal(w.err)
		}
		if w.ev != want[w.ev.key] {
			t.Errorf("live event %+v, want one of %+v", w.ev, want)
		}
		delete(want, w.ev.key)
	}
}

// A watcher without AfterIndex starts from now: it must not replay the
// history the server holds.
func TestWatcherFromNow(t *testing.T) {
	s, c := startArbor(t)
	kapi := etcdclient.NewKeysAPI(c)
	ctx := testContext(t)

	if _, err := kapi.Set(ctx, "/n/old", "old", nil); err != nil {
		t.Fatal(err)
	}
	w := kapi.Watcher("/n", &etcdclient.WatcherOptions{Recursive: true})
	got := make(chan watched, 1)
	nextAsync(ctx, w, got)
	// "Now" is when the server registers the watch: write only after it.
	deadline := time.Now().Add(20 * time.Second)
	for storeWatchers(t, s.URL) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watch never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r, err := kapi.Set(ctx, "/n/new", "new", nil)
	if err != nil {
		t.Fatal(err)
	}
	w2 := <-got
	if want := (event{"set", "/n/new", "new", "", r.Index}); w2.err != nil || w2.ev != want {
		t.Errorf("watcher from now: %+v, want %+v", w2, want)
	}
}

// storeWatchers is the server's count of waiting watchers.
func storeWatchers(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/v2/stats/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Watchers int `json:"watchers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Watchers
}
