package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeV2 implements just enough of the v2 keys API for the tool: PUT of a
// value, GET of a key or a one-level listing, and watches (long poll and
// stream) on a key or recursively under a directory, from any waitIndex.
// Its history is unbounded.
type fakeV2 struct {
	mu      sync.Mutex // guards everything below
	index   uint64
	kv      map[string]fakeNode
	history []fakeEvent
	changed chan struct{} // closed and replaced on every write

	clear401    int // answer this many more wait requests with error 401
	streamLimit int // end a stream after this many events (0: never)

	puts, gets, quorumGets atomic.Int64
}

type fakeNode struct {
	Key           string `json:"key"`
	Value         string `json:"value"`
	ModifiedIndex uint64 `json:"modifiedIndex"`
	CreatedIndex  uint64 `json:"createdIndex"`
}

type fakeEvent struct {
	Action   string    `json:"action"`
	PrevNode *fakeNode `json:"prevNode,omitempty"` // first, to make sure watchers skip it
	Node     fakeNode  `json:"node"`
}

func newFakeV2() *fakeV2 {
	return &fakeV2{kv: map[string]fakeNode{}, changed: make(chan struct{})}
}

func (f *fakeV2) fail(w http.ResponseWriter, status, code int, msg string) {
	f.mu.Lock()
	idx := f.index
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(idx, 10))
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errorCode":%d,"message":%q,"cause":"fake","index":%d}`+"\n", code, msg, idx)
}

func (f *fakeV2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/v2/keys")
	if !ok {
		http.NotFound(w, r)
		return
	}
	key = "/" + strings.Trim(key, "/")
	switch r.Method {
	case http.MethodPut:
		f.put(w, r, key)
	case http.MethodGet:
		q := r.URL.Query()
		if q.Get("wait") == "true" {
			f.watch(w, r, key)
			return
		}
		f.gets.Add(1)
		if q.Get("quorum") == "true" {
			f.quorumGets.Add(1)
		}
		f.get(w, key)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

func (f *fakeV2) put(w http.ResponseWriter, r *http.Request, key string) {
	if err := r.ParseForm(); err != nil {
		f.fail(w, http.StatusBadRequest, 209, "Invalid field")
		return
	}
	f.puts.Add(1)
	f.mu.Lock()
	f.index++
	ev := fakeEvent{Action: "set", Node: fakeNode{Key: key, Value: r.PostForm.Get("value"), ModifiedIndex: f.index, CreatedIndex: f.index}}
	status := http.StatusCreated
	if prev, ok := f.kv[key]; ok {
		ev.PrevNode = &prev
		ev.Node.CreatedIndex = prev.CreatedIndex
		status = http.StatusOK
	}
	f.kv[key] = ev.Node
	f.history = append(f.history, ev)
	close(f.changed)
	f.changed = make(chan struct{})
	idx := f.index
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(idx, 10))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ev)
}

func (f *fakeV2) get(w http.ResponseWriter, key string) {
	f.mu.Lock()
	idx := f.index
	n, isKey := f.kv[key]
	var children []fakeNode
	for k, c := range f.kv {
		if rest, ok := strings.CutPrefix(k, key+"/"); ok && !strings.Contains(rest, "/") {
			children = append(children, c)
		}
	}
	f.mu.Unlock()
	var body any
	switch {
	case isKey:
		body = map[string]any{"action": "get", "node": n}
	case len(children) > 0:
		body = map[string]any{"action": "get", "node": map[string]any{"key": key, "dir": true, "nodes": children}}
	default:
		f.fail(w, http.StatusNotFound, 100, "Key not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(idx, 10))
	_ = json.NewEncoder(w).Encode(body)
}

// watch answers a long poll with the first matching event at or after
// waitIndex, or a stream with every one, flushing the headers first as etcd
// does so the client knows the watch is registered.
func (f *fakeV2) watch(w http.ResponseWriter, r *http.Request, key string) {
	q := r.URL.Query()
	recursive, stream := q.Get("recursive") == "true", q.Get("stream") == "true"
	f.mu.Lock()
	if f.clear401 > 0 {
		f.clear401--
		f.mu.Unlock()
		f.fail(w, http.StatusBadRequest, 401, "The event in requested index is outdated and cleared")
		return
	}
	next := f.index + 1
	idx := f.index
	f.mu.Unlock()
	if s := q.Get("waitIndex"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			f.fail(w, http.StatusBadRequest, 203, "The given index in POST form is not a number")
			return
		}
		next = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(idx, 10))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	sent := 0
	for {
		f.mu.Lock()
		var found []fakeEvent
		for _, ev := range f.history {
			k := ev.Node.Key
			if ev.Node.ModifiedIndex >= next && (k == key || recursive && strings.HasPrefix(k, key+"/")) {
				found = append(found, ev)
				if !stream {
					break
				}
			}
		}
		changed := f.changed
		f.mu.Unlock()
		for _, ev := range found {
			if err := json.NewEncoder(w).Encode(ev); err != nil {
				return
			}
			_ = rc.Flush()
			next = ev.Node.ModifiedIndex + 1
			sent++
			if !stream || sent == f.streamLimit {
				return
			}
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeV2) has(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.kv[key]
	return ok
}

func (f *fakeV2) keyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.kv)
}

// runTool runs arbor-bench with args against srv and returns the decoded
// JSON line, failing the test on a non-zero exit or a malformed last line.
func runTool(t *testing.T, srv *httptest.Server, args ...string) map[string]any {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"-endpoints", srv.URL + "," + srv.URL}, args...)
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("arbor-bench %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out.String())
	}
	return res
}

func num(t *testing.T, res map[string]any, key string) float64 {
	t.Helper()
	v, ok := res[key].(float64)
	if !ok {
		t.Fatalf("field %q missing or not a number in %v", key, res)
	}
	return v
}

func TestPutEndToEnd(t *testing.T) {
	fake := newFakeV2()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	res := runTool(t, srv, "-clients", "4", "-keys", "30", "-duration", "100ms", "-value-size", "10", "-label", "fake", "put")
	if res["mode"] != "put" || res["case"] != "put c=4" || res["label"] != "fake" {
		t.Fatalf("identity fields: %v", res)
	}
	ops := num(t, res, "ops")
	if ops < 1 || num(t, res, "errors") != 0 || float64(fake.puts.Load()) != ops {
		t.Fatalf("ops %v errors %v; server saw %d puts", ops, res["errors"], fake.puts.Load())
	}
	if n := fake.keyCount(); n < 1 || n > 30 {
		t.Fatalf("%d keys written, want 1..30 (the key space)", n)
	}
	if num(t, res, "p50_ms") <= 0 || num(t, res, "p99_ms") < num(t, res, "p50_ms") || num(t, res, "max_ms") < num(t, res, "p99_ms") {
		t.Fatalf("latencies out of order: %v", res)
	}
}

func TestPutTotalIsExact(t *testing.T) {
	fake := newFakeV2()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	res := runTool(t, srv, "-clients", "3", "-total", "25", "-json-only", "put")
	if num(t, res, "ops") != 25 || fake.puts.Load() != 25 {
		t.Fatalf("ops %v, server saw %d; want 25", res["ops"], fake.puts.Load())
	}
}

func TestGetEndToEnd(t *testing.T) {
	fake := newFakeV2()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	// Without preload every key is missing: errors, classified, no crash.
	res := runTool(t, srv, "-clients", "2", "-keys", "20", "-total", "10", "-no-preload", "get")
	if num(t, res, "errors") != 10 || res["error_kinds"].(map[string]any)["http_404:100"] != 10.0 {
		t.Fatalf("without preload: %v", res)
	}
	// Preload writes the key space, then reads find every key.
	res = runTool(t, srv, "-clients", "4", "-keys", "20", "-duration", "100ms", "get")
	if num(t, res, "preload_written") != 20 || num(t, res, "errors") != 0 || num(t, res, "ops") < 1 {
		t.Fatalf("with preload: %v", res)
	}
	// A second preload finds the keys and writes nothing; quorum reads ask for it.
	before := fake.gets.Load()
	res = runTool(t, srv, "-clients", "4", "-keys", "20", "-duration", "100ms", "-quorum", "get")
	if num(t, res, "preload_written") != 0 || res["quorum"] != true || res["case"] != "get quorum c=4" {
		t.Fatalf("quorum run: %v", res)
	}
	reads := fake.gets.Load() - before - 1 // minus the preload listing
	if q := fake.quorumGets.Load(); q != reads || float64(q) != num(t, res, "ops") {
		t.Fatalf("%d quorum reads of %d reads, %v ops", q, reads, res["ops"])
	}
}

func TestFillEndToEnd(t *testing.T) {
	fake := newFakeV2()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	res := runTool(t, srv, "-clients", "8", "-keys", "300", "-prefix", "/fill/", "-check-rss-pid", strconv.Itoa(os.Getpid()), "fill")
	if num(t, res, "ops") != 300 || fake.keyCount() != 300 || fake.puts.Load() != 300 {
		t.Fatalf("ops %v, %d keys, %d puts; want 300 each", res["ops"], fake.keyCount(), fake.puts.Load())
	}
	if !fake.has("/fill/00000299") {
		t.Fatalf("key /fill/00000299 missing")
	}
	if num(t, res, "rss_kb") <= 0 || num(t, res, "rss_peak_kb") < num(t, res, "rss_kb") {
		t.Fatalf("rss: %v", res)
	}
	if _, ok := res["stalls_100ms"]; !ok {
		t.Fatalf("no stall count: %v", res)
	}
}

func TestWatchEndToEnd(t *testing.T) {
	for _, mode := range []string{"longpoll", "stream"} {
		t.Run(mode, func(t *testing.T) {
			fake := newFakeV2()
			fake.clear401 = 3 // the first three watch requests are refused
			srv := httptest.NewServer(fake)
			defer srv.Close()
			res := runTool(t, srv, "-watchers", "5", "-watch-mode", mode, "-rate", "100",
				"-duration", "200ms", "-drain", "5s", "-keys", "7", "watch")
			writes := num(t, res, "writes")
			if writes < 1 || writes > 20 || float64(fake.puts.Load()) != writes {
				t.Fatalf("writes %v, server saw %d", writes, fake.puts.Load())
			}
			if num(t, res, "expected_events") != 5*writes || num(t, res, "delivered_events") != 5*writes ||
				num(t, res, "delivered_fraction") != 1 {
				t.Fatalf("delivery: %v", res)
			}
			for _, k := range []string{"lost_events", "duplicate_events", "out_of_order_events", "unexpected_events", "errors", "stream_restarts"} {
				if num(t, res, k) != 0 {
					t.Fatalf("%s = %v: %v", k, res[k], res)
				}
			}
			if num(t, res, "index_cleared_401") != 3 || num(t, res, "watchers_caught_up") != 5 || num(t, res, "watchers_ready") != 5 {
				t.Fatalf("401s / catch-up / ready: %v", res)
			}
			if num(t, res, "p50_ms") <= 0 || num(t, res, "write_p50_ms") <= 0 {
				t.Fatalf("latencies: %v", res)
			}
		})
	}
}

// TestWatchStreamResumes has the server end every stream after a few
// events: the watchers resume from the next index and miss nothing.
func TestWatchStreamResumes(t *testing.T) {
	fake := newFakeV2()
	fake.streamLimit = 4
	srv := httptest.NewServer(fake)
	defer srv.Close()
	res := runTool(t, srv, "-watchers", "3", "-watch-mode", "stream", "-rate", "100",
		"-duration", "150ms", "-drain", "5s", "-json-only", "watch")
	writes := num(t, res, "writes")
	if writes <= 4 || num(t, res, "stream_restarts") < 3 {
		t.Fatalf("want more than 4 writes and a restart per watcher: %v", res)
	}
	if num(t, res, "delivered_fraction") != 1 || num(t, res, "duplicate_events") != 0 || num(t, res, "errors") != 0 {
		t.Fatalf("delivery across restarts: %v", res)
	}
}

func TestDeadEndpointCountsErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	res := runTool(t, srv, "-clients", "2", "-duration", "50ms", "-timeout", "1s", "put")
	if num(t, res, "ops") != 0 || num(t, res, "errors") < 1 || res["error_kinds"].(map[string]any)["conn"] == nil {
		t.Fatalf("dead endpoint: %v", res)
	}
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"-clients", "0", "put"},
		{"-watch-mode", "poll", "watch"},
		{"-prefix", "/", "put"},
		{"put", "extra"},
		{"table"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestTable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.jsonl")
	lines := `not json, a log line
{"mode":"put","case":"put c=64","label":"arbor","ops_per_sec":200,"p50_ms":1.5,"p99_ms":4,"errors":0}
{"mode":"put","case":"put c=64","label":"etcd","ops_per_sec":100,"p50_ms":3,"p99_ms":8,"errors":0}
{"mode":"watch","case":"watch stream w=1000 r=200","label":"etcd","delivered_fraction":0.5,"p99_ms":10}
{"mode":"restart","case":"restart after fill","label":"arbor","restart_s":1.25,"rss_kb":2048}
{"mode":"put","case":"put c=64","label":"floor","ops_per_sec":400,"p50_ms":1,"p99_ms":2,"errors":0}
`
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"table", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		// A third label (the HTTP floor) gets a column; the ratio stays first/second.
		"| case | metric | arbor | etcd | floor | arbor/etcd |",
		"| put c=64 | ops/s (higher is better) | 200 | 100 | 400 | 2.00 |",
		"| put c=64 | p50 ms | 1.50 | 3 | 1 | 0.50 |",
		"| watch stream w=1000 r=200 | delivered (higher is better) | – | 50% | – | – |",
		"| restart after fill | RSS after restart MiB | 2 | – | – | – |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
