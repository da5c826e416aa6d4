package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/arbor-kv/arbor/client"
)

func set(t *testing.T, c *client.Client, key, value string) *client.Response {
	t.Helper()
	resp, err := c.Set(context.Background(), key, value, client.SetOptions{})
	if err != nil {
		t.Fatalf("Set %s: %v", key, err)
	}
	return resp
}

func TestWatcherSeesEveryEventInOrder(t *testing.T) {
	f := newFakeServer()
	defer f.Close()
	c := mustNew(t, client.Config{Endpoints: []string{f.URL}})
	start := set(t, c, "/w/x", "0").Node.ModifiedIndex
	// Written before the first Next: the history must deliver them.
	set(t, c, "/w/a", "1")
	set(t, c, "/other", "skip")
	set(t, c, "/w/b/c", "2")

	w := c.Watcher("/w", client.WatcherOptions{AfterIndex: start, Recursive: true})
	ctx := context.Background()
	for _, want := range []string{"/w/a", "/w/b/c"} {
		resp, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if resp.Node.Key != want {
			t.Fatalf("event key = %s, want %s", resp.Node.Key, want)
		}
	}
	var waits []string
	for _, r := range f.Requests() {
		if strings.Contains(r, "wait=true") {
			waits = append(waits, r)
		}
	}
	want := []string{
		fmt.Sprintf("GET /v2/keys/w?recursive=true&wait=true&waitIndex=%d", start+1),
		fmt.Sprintf("GET /v2/keys/w?recursive=true&wait=true&waitIndex=%d", start+2),
	}
	if strings.Join(waits, "\n") != strings.Join(want, "\n") {
		t.Errorf("wait requests:\n%s\nwant\n%s", strings.Join(waits, "\n"), strings.Join(want, "\n"))
	}
}

// scripted is a server that answers the n-th request with script[n] and
// records the request URIs.
type scripted struct {
	*httptest.Server
	mu   sync.Mutex
	uris []string
}

func newScripted(t *testing.T, script ...func(w http.ResponseWriter, r *http.Request)) *scripted {
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.uris)
		s.uris = append(s.uris, r.URL.RequestURI())
		s.mu.Unlock()
		if n >= len(script) {
			<-r.Context().Done()
			return
		}
		script[n](w, r)
	}))
	t.Cleanup(func() {
		s.CloseClientConnections()
		s.Close()
	})
	return s
}

func (s *scripted) URIs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.uris...)
}

func event(index uint64, key string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "41")
		fmt.Fprintf(w, `{"action":"set","node":{"key":%q,"value":"v","modifiedIndex":%d,"createdIndex":%d}}`, key, index, index)
	}
}

// emptyPoll ends a long poll without an event, as a server does when it
// times the poll out or shuts down gracefully.
func emptyPoll(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Etcd-Index", "41")
	w.WriteHeader(http.StatusOK)
}

// dropConnection cuts the connection in the middle of an answer, as a
// member that crashes does. (Cutting it before answering would not do: Go's
// transport silently retries a GET on a fresh connection then.)
func dropConnection(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Etcd-Index: 8\r\n\r\n{\"action\":")
	buf.Flush()
	conn.Close()
}

func TestWatcherFromNowPinsIndexOnEmptyPoll(t *testing.T) {
	s := newScripted(t, emptyPoll, event(45, "/k"), event(50, "/k"))
	c := mustNew(t, client.Config{Endpoints: []string{s.URL}})
	w := c.Watcher("/k", client.WatcherOptions{})
	ctx := context.Background()
	resp, err := w.Next(ctx)
	if err != nil || resp.Node.ModifiedIndex != 45 {
		t.Fatalf("Next = %+v, %v", resp, err)
	}
	if resp.Index != 41 {
		t.Errorf("Index = %d, want the header's 41", resp.Index)
	}
	if _, err := w.Next(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/v2/keys/k?recursive=false&wait=true&waitIndex=0",
		// The first poll's headers said index 41: events after it count.
		"/v2/keys/k?recursive=false&wait=true&waitIndex=42",
		"/v2/keys/k?recursive=false&wait=true&waitIndex=46",
	}
	if got := s.URIs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWatcherResumesAfterError(t *testing.T) {
	s := newScripted(t, event(7, "/k"), dropConnection, event(9, "/k"))
	c := mustNew(t, client.Config{Endpoints: []string{s.URL}})
	w := c.Watcher("/k", client.WatcherOptions{AfterIndex: 5})
	ctx := context.Background()
	if resp, err := w.Next(ctx); err != nil || resp.Node.ModifiedIndex != 7 {
		t.Fatalf("first Next = %+v, %v", resp, err)
	}
	if _, err := w.Next(ctx); err == nil {
		t.Fatal("Next over a dropped connection succeeded")
	}
	if resp, err := w.Next(ctx); err != nil || resp.Node.ModifiedIndex != 9 {
		t.Fatalf("Next after the error = %+v, %v", resp, err)
	}
	want := []string{
		"/v2/keys/k?recursive=false&wait=true&waitIndex=6",
		"/v2/keys/k?recursive=false&wait=true&waitIndex=8",
		"/v2/keys/k?recursive=false&wait=true&waitIndex=8",
	}
	if got := s.URIs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWatcherIndexCleared(t *testing.T) {
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "2005")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [1006/5]","index":2005}`)
	})
	c := mustNew(t, client.Config{Endpoints: []string{s.URL}})
	_, err := c.Watcher("/k", client.WatcherOptions{AfterIndex: 4}).Next(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.CodeEventIndexCleared {
		t.Fatalf("err = %v, want code 401", err)
	}
}

func TestWatcherStream(t *testing.T) {
	// One stream with two events, then the server ends it; the watcher
	// must reconnect from the last event + 1.
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "10")
		fmt.Fprint(w, `{"action":"set","node":{"key":"/s/a","value":"1","modifiedIndex":11,"createdIndex":11}}`+"\n")
		w.(http.Flusher).Flush()
		fmt.Fprint(w, `{"action":"delete","node":{"key":"/s/a","modifiedIndex":12,"createdIndex":11},"prevNode":{"key":"/s/a","value":"1","modifiedIndex":11,"createdIndex":11}}`+"\n")
	}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "12")
		fmt.Fprint(w, `{"action":"set","node":{"key":"/s/b","value":"2","modifiedIndex":13,"createdIndex":13}}`+"\n")
	})
	c := mustNew(t, client.Config{Endpoints: []string{s.URL}})
	w := c.Watcher("/s", client.WatcherOptions{Recursive: true, Stream: true})
	ctx := context.Background()
	var got []string
	for range 3 {
		resp, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, fmt.Sprintf("%s %s %d", resp.Action, resp.Node.Key, resp.Node.ModifiedIndex))
	}
	if want := "set /s/a 11|delete /s/a 12|set /s/b 13"; strings.Join(got, "|") != want {
		t.Errorf("events = %s, want %s", strings.Join(got, "|"), want)
	}
	want := []string{
		"/v2/keys/s?recursive=true&stream=true&wait=true&waitIndex=0",
		"/v2/keys/s?recursive=true&stream=true&wait=true&waitIndex=13",
	}
	if got := s.URIs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWatchChannel(t *testing.T) {
	f := newFakeServer()
	defer f.Close()
	c := mustNew(t, client.Config{Endpoints: []string{f.URL}})
	start := set(t, c, "/ch/0", "x").Node.ModifiedIndex
	ctx, cancel := context.WithCancel(context.Background())
	ch := c.Watch(ctx, "/ch", client.WatcherOptions{AfterIndex: start, Recursive: true, Stream: true})
	for i := 1; i <= 3; i++ {
		set(t, c, fmt.Sprintf("/ch/%d", i), "v")
	}
	for i := 1; i <= 3; i++ {
		ev, ok := <-ch
		if !ok || ev.Err != nil {
			t.Fatalf("event %d: ok=%v err=%v", i, ok, ev.Err)
		}
		if want := fmt.Sprintf("/ch/%d", i); ev.Node.Key != want {
			t.Errorf("event %d key = %s, want %s", i, ev.Node.Key, want)
		}
	}
	cancel()
	for ev := range ch {
		t.Errorf("event after cancel: %+v", ev)
	}
}

func TestWatchChannelEndsWithError(t *testing.T) {
	c := mustNew(t, client.Config{Endpoints: []string{deadEndpoint(t)}})
	ch := c.Watch(context.Background(), "/k", client.WatcherOptions{})
	ev, ok := <-ch
	var ce *client.ClusterError
	if !ok || !errors.As(ev.Err, &ce) {
		t.Fatalf("first item = %+v (ok=%v), want a *ClusterError", ev, ok)
	}
	if _, ok := <-ch; ok {
		t.Error("channel not closed after the error")
	}
}

func TestWatcherEmptyKey(t *testing.T) {
	c := mustNew(t, client.Config{Endpoints: []string{"http://127.0.0.1:1"}})
	if _, err := c.Watcher("", client.WatcherOptions{}).Next(context.Background()); !errors.Is(err, client.ErrEmptyKey) {
		t.Errorf("err = %v, want ErrEmptyKey", err)
	}
}
