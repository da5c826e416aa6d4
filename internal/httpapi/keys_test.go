package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/store"
)

// keyHeaders are the headers of a successful keys response.
func keyHeaders(etcdIndex, raftIndex string) map[string]string {
	return map[string]string{
		"Content-Type":      "application/json",
		"X-Etcd-Cluster-Id": "89398061cc3f6cb",
		"X-Etcd-Index":      etcdIndex,
		"X-Raft-Index":      raftIndex,
		"X-Raft-Term":       "2",
	}
}

// The bodies are etcd 3.4's, as curl showed them, with this store's
// indexes (etcd's start at 3 after its own bootstrap writes).
func TestKeysOverStore(t *testing.T) {
	sb := newStoreBackend(store.Config{})
	h := New(sb, testOptions())
	exp100 := testNow.Add(100 * time.Second).Format(time.RFC3339Nano)
	exp0 := testNow.Format(time.RFC3339Nano)
	steps := []struct {
		method, target, body string
		status               int
		hdr                  map[string]string
		want                 string
	}{
		{"GET", "/v2/keys/", "", 200, keyHeaders("0", "0"),
			`{"action":"get","node":{"dir":true}}`},
		{"PUT", "/v2/keys/foo", "value=bar", 201, keyHeaders("1", "1"),
			`{"action":"set","node":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}`},
		{"PUT", "/v2/keys/foo", "value=baz", 200, keyHeaders("2", "2"),
			`{"action":"set","node":{"key":"/foo","value":"baz","modifiedIndex":2,"createdIndex":2},` +
				`"prevNode":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}`},
		{"PUT", "/v2/keys/foo?noValueOnSuccess=true", "value=q", 200, keyHeaders("3", "3"),
			`{"action":"set"}`},
		{"PUT", "/v2/keys/nv?noValueOnSuccess=true", "value=q", 201, keyHeaders("4", "4"),
			`{"action":"set"}`},
		{"PUT", "/v2/keys/nv?noValueOnSuccess=true&prevExist=false", "value=q", 412,
			map[string]string{"X-Etcd-Index": "4", "X-Raft-Index": ""},
			`{"errorCode":105,"message":"Key already exists","cause":"/nv","index":4}`},
		// A failed write takes no store index (but did take a Raft one).
		{"POST", "/v2/keys/q?noValueOnSuccess=true", "value=x", 201, keyHeaders("5", "6"),
			`{"action":"create"}`},
		{"PUT", "/v2/keys/nv?prevValue=q&noValueOnSuccess=true", "value=r", 200, keyHeaders("6", "7"),
			`{"action":"compareAndSwap"}`},
		{"PUT", "/v2/keys/nv?prevExist=true&noValueOnSuccess=true", "value=s", 200, keyHeaders("7", "8"),
			`{"action":"update"}`},
		// noValueOnSuccess leaves a delete's answer whole.
		{"DELETE", "/v2/keys/nv?noValueOnSuccess=true", "", 200, keyHeaders("8", "9"),
			`{"action":"delete","node":{"key":"/nv","modifiedIndex":8,"createdIndex":4},` +
				`"prevNode":{"key":"/nv","value":"s","modifiedIndex":7,"createdIndex":4}}`},
		{"GET", "/v2/keys/foo", "", 200, keyHeaders("8", "9"),
			`{"action":"get","node":{"key":"/foo","value":"q","modifiedIndex":3,"createdIndex":3}}`},
		{"GET", "/v2/keys/foo?noValueOnSuccess=true", "", 200, keyHeaders("8", "9"),
			`{"action":"get","node":{"key":"/foo","value":"q","modifiedIndex":3,"createdIndex":3}}`},
		{"GET", "/v2/keys/nope", "", 404, map[string]string{"X-Etcd-Index": "8", "X-Raft-Index": ""},
			`{"errorCode":100,"message":"Key not found","cause":"/nope","index":8}`},
		{"PUT", "/v2/keys/", "value=x", 400, map[string]string{"X-Etcd-Index": "8"},
			`{"errorCode":107,"message":"Root is read only","cause":"/","index":8}`},
		// The members' keys are written by membership changes only.
		{"PUT", "/v2/keys/_etcd/machines/x", "value=1", 400, map[string]string{"X-Etcd-Index": "8"},
			`{"errorCode":106,"message":"The prefix of given key is a keyword in etcd","cause":"/_etcd/machines/x","index":8}`},
		{"DELETE", "/v2/keys/_etcd?recursive=true", "", 400, map[string]string{"X-Etcd-Index": "8"},
			`{"errorCode":106,"message":"The prefix of given key is a keyword in etcd","cause":"/_etcd","index":8}`},
		{"POST", "/v2/keys/_etcd", "value=1", 400, map[string]string{"X-Etcd-Index": "8"},
			`{"errorCode":106,"message":"The prefix of given key is a keyword in etcd","cause":"/_etcd","index":8}`},
		{"PUT", "/v2/keys/_etcd/registryx", "value=1", 400, map[string]string{"X-Etcd-Index": "8"},
			`{"errorCode":106,"message":"The prefix of given key is a keyword in etcd","cause":"/_etcd/registryx","index":8}`},
		{"PUT", "/v2/keys/t?ttl=100", "value=1", 201, keyHeaders("9", "11"),
			`{"action":"set","node":{"key":"/t","value":"1","expiration":"` + exp100 + `","ttl":100,"modifiedIndex":9,"createdIndex":9}}`},
		{"PUT", "/v2/keys/t0", "value=1&ttl=0", 201, keyHeaders("10", "12"),
			`{"action":"set","node":{"key":"/t0","value":"1","expiration":"` + exp0 + `","modifiedIndex":10,"createdIndex":10}}`},
		{"PUT", "/v2/keys/d?dir=true", "", 201, keyHeaders("11", "13"),
			`{"action":"set","node":{"key":"/d","dir":true,"modifiedIndex":11,"createdIndex":11}}`},
		{"PUT", "/v2/keys/d?dir=true", "", 403, map[string]string{"X-Etcd-Index": "11"},
			`{"errorCode":102,"message":"Not a file","cause":"/d","index":11}`},
	}
	for i, s := range steps {
		rec := do(t, h, s.method, s.target, s.body)
		wantResponse(t, rec, s.status, s.hdr, s.want+"\n")
		if t.Failed() {
			t.Fatalf("step %d: %s %s %s", i, s.method, s.target, s.body)
		}
	}

	// HEAD: GET's headers and length, no body.
	get := do(t, h, "GET", "/v2/keys/foo", "")
	wantResponse(t, do(t, h, "HEAD", "/v2/keys/foo", ""), 200, map[string]string{
		"Content-Length": get.Header().Get("Content-Length"),
		"X-Etcd-Index":   get.Header().Get("X-Etcd-Index"),
		"X-Raft-Index":   get.Header().Get("X-Raft-Index"),
	}, "")
}

// tracked wraps h and reports on done each time a request's handler has
// returned, so a test can wait for handlers without sleeping.
func tracked(h http.Handler, done chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		h.ServeHTTP(w, r)
	})
}

// receive waits for n reports on done; the deadline only bounds a failure.
func receive(t *testing.T, done <-chan struct{}, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for range n {
		select {
		case <-done:
		case <-deadline:
			t.Fatalf("handlers did not return")
		}
	}
}

// openWatch sends a watch request and returns once the response headers
// arrived, which the handler sends only after the watcher is registered.
func openWatch(t *testing.T, ctx context.Context, srv *httptest.Server, target string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("watch %s: %v", target, err)
	}
	return res
}

// testCtx bounds a test that would otherwise hang on a bug.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The discovery registry under /_etcd takes members' plain writes.
func TestDiscoveryRegistryIsWritable(t *testing.T) {
	h := New(newStoreBackend(store.Config{}), testOptions())
	for _, target := range []string{"/v2/keys/_etcd/registry/tok/_config/size", "/v2/keys/_etcd/registry/tok/a1"} {
		req := httptest.NewRequest(http.MethodPut, target, strings.NewReader("value=3"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", target, rec.Code, rec.Body)
		}
	}
}

func TestWatchLongPoll(t *testing.T) {
	sb := newStoreBackend(store.Config{})
	h := New(sb, testOptions())
	done := make(chan struct{}, 16)
	srv := httptest.NewServer(tracked(h, done))
	defer srv.Close()
	ctx := testCtx(t)

	do(t, h, "PUT", "/v2/keys/other", "value=0") // index 1
	res := openWatch(t, ctx, srv, "/v2/keys/foo?wait=true")
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("X-Etcd-Index") != "1" ||
		res.Header.Get("Content-Type") != "application/json" || res.Header.Get("X-Raft-Index") != "1" {
		t.Fatalf("watch headers: %d %v", res.StatusCode, res.Header)
	}
	if got := sb.watchers(); got != 1 {
		t.Fatalf("%d watchers, want 1", got)
	}
	do(t, h, "PUT", "/v2/keys/bar", "value=1")        // index 2, not watched
	put := do(t, h, "PUT", "/v2/keys/foo", "value=2") // index 3
	do(t, h, "PUT", "/v2/keys/foo", "value=3")        // index 4, after the poll ended
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != put.Body.String() {
		t.Fatalf("long poll got %q, want %q", body, put.Body)
	}
	receive(t, done, 1)
	if got := sb.watchers(); got != 0 {
		t.Fatalf("%d watchers left", got)
	}

	// From the history: waitIndex names an event that already happened;
	// recursive sees a child.
	res = openWatch(t, ctx, srv, "/v2/keys/foo?wait=true&waitIndex=3")
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != put.Body.String() {
		t.Fatalf("waitIndex=3 got %q, want %q", body, put.Body)
	}
	res = openWatch(t, ctx, srv, "/v2/keys/?wait=true&recursive=true&waitIndex=2")
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(string(body), `{"action":"set","node":{"key":"/bar","value":"1"`) {
		t.Fatalf("recursive watch got %q", body)
	}
	receive(t, done, 2)
}

func TestWatchErrorsBeforeStart(t *testing.T) {
	sb := newStoreBackend(store.Config{HistorySize: 2})
	h := New(sb, testOptions())
	for range 5 {
		do(t, h, "PUT", "/v2/keys/k", "value=v")
	}
	rec := do(t, h, "GET", "/v2/keys/k?wait=true&waitIndex=1", "")
	if rec.Code != 400 || rec.Header().Get("X-Etcd-Index") != "5" ||
		!strings.HasPrefix(rec.Body.String(), `{"errorCode":401,"message":"The event in requested index is outdated and cleared"`) {
		t.Fatalf("cleared history: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if got := sb.watchers(); got != 0 {
		t.Fatalf("%d watchers after a failed watch", got)
	}
}

func TestWatchStream(t *testing.T) {
	sb := newStoreBackend(store.Config{})
	h := New(sb, testOptions())
	done := make(chan struct{}, 16)
	srv := httptest.NewServer(tracked(h, done))
	defer srv.Close()
	ctx, cancel := context.WithCancel(testCtx(t))

	res := openWatch(t, ctx, srv, "/v2/keys/s?wait=true&stream=true&recursive=true")
	rd := bufio.NewReader(res.Body)
	for i := range 5 {
		put := do(t, h, "PUT", "/v2/keys/s/k", "value=v"+string(rune('0'+i)))
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if line != put.Body.String() {
			t.Fatalf("event %d: got %q, want %q", i, line, put.Body)
		}
	}
	// A refresh is not an event for watchers; the next write is.
	do(t, h, "PUT", "/v2/keys/s/t?ttl=50", "value=x")
	line, _ := rd.ReadString('\n')
	if !strings.Contains(line, `"key":"/s/t"`) {
		t.Fatalf("got %q", line)
	}
	do(t, h, "PUT", "/v2/keys/s/t?ttl=60&refresh=true", "")
	last := do(t, h, "DELETE", "/v2/keys/s/t", "")
	if line, _ = rd.ReadString('\n'); line != last.Body.String() {
		t.Fatalf("after a refresh got %q, want %q", line, last.Body)
	}

	cancel() // the client goes away
	res.Body.Close()
	receive(t, done, 1)
	if got := sb.watchers(); got != 0 {
		t.Fatalf("%d watchers left after the client left", got)
	}
}

// A burst of writes reaches a stream whole and in order, though queued
// events go out several to a write.
func TestWatchStreamBurstInOrder(t *testing.T) {
	sb := newStoreBackend(store.Config{})
	h := New(sb, testOptions())
	srv := httptest.NewServer(h)
	defer srv.Close()
	res := openWatch(t, testCtx(t), srv, "/v2/keys/b?wait=true&stream=true&recursive=true")
	defer res.Body.Close()
	const n = 500
	var want []string
	for i := range n {
		want = append(want, do(t, h, "PUT", fmt.Sprintf("/v2/keys/b/%d", i%7), "value=v").Body.String())
	}
	rd := bufio.NewReader(res.Body)
	for i := range n {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if line != want[i] {
			t.Fatalf("event %d: got %q, want %q", i, line, want[i])
		}
	}
}

func TestWatchStreamEndsOnShutdown(t *testing.T) {
	sb := newStoreBackend(store.Config{})
	h := New(sb, testOptions())
	done := make(chan struct{}, 4)
	base, stop := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(tracked(h, done))
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	defer srv.Close()

	res := openWatch(t, testCtx(t), srv, "/v2/keys/s?wait=true&stream=true")
	defer res.Body.Close()
	stop()
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	receive(t, done, 1)
	if got := sb.watchers(); got != 0 {
		t.Fatalf("%d watchers left", got)
	}
}

// flushWriter is a ResponseWriter for in-process watches: it signals the
// first flush (the watcher is registered by then).
type flushWriter struct {
	*httptest.ResponseRecorder
	once    sync.Once
	flushed chan struct{}
}

func (w *flushWriter) Flush() {
	w.ResponseRecorder.Flush()
	w.once.Do(func() { close(w.flushed) })
}

// Many watchers whose clients leave must leave no watcher and no goroutine
// behind. In-process, so the goroutine count is exact.
func TestWatchDisconnectLeaksNothing(t *testing.T) {
	sb := newStoreBackend(store.Config{})
	h := New(sb, testOptions())
	before := runtime.NumGoroutine()

	const n = 100
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		target := "/v2/keys/w?wait=true"
		if i%2 == 0 {
			target += "&stream=true&recursive=true"
		}
		req := httptest.NewRequest("GET", target, nil).WithContext(ctx)
		fw := &flushWriter{ResponseRecorder: httptest.NewRecorder(), flushed: make(chan struct{})}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.ServeHTTP(fw, req)
		}()
		<-fw.flushed
	}
	if got := sb.watchers(); got != n {
		t.Fatalf("%d watchers, want %d", got, n)
	}
	for _, c := range cancels {
		c()
	}
	wg.Wait()
	if got := sb.watchers(); got != 0 {
		t.Fatalf("%d watchers left", got)
	}
	waitGoroutines(t, before)
}

// The same over real connections that the clients drop.
func TestWatchDisconnectOverNetwork(t *testing.T) {
	before := runtime.NumGoroutine()
	sb := newStoreBackend(store.Config{})
	h := New(sb, testOptions())
	const n = 40
	done := make(chan struct{}, n)
	srv := httptest.NewServer(tracked(h, done))

	var cancels []context.CancelFunc
	var bodies []io.Closer
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		target := "/v2/keys/?wait=true&recursive=true"
		if i%2 == 0 {
			target += "&stream=true"
		}
		bodies = append(bodies, openWatch(t, ctx, srv, target).Body)
	}
	if got := sb.watchers(); got != n {
		t.Fatalf("%d watchers, want %d", got, n)
	}
	for i := range n {
		cancels[i]()
		bodies[i].Close()
	}
	receive(t, done, n)
	if got := sb.watchers(); got != 0 {
		t.Fatalf("%d watchers left", got)
	}
	srv.Client().CloseIdleConnections()
	srv.Close()
	waitGoroutines(t, before)
}

// waitGoroutines waits, goleak-style, for the goroutine count to fall back
// to before: exiting goroutines take a moment to be gone after the event
// that ends them, so the count is retried rather than read once.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := runtime.NumGoroutine()
		if now <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", now, before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}
