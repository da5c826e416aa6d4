package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

// wantResponse checks status, selected headers ("" means absent) and body.
func wantResponse(t *testing.T, rec *httptest.ResponseRecorder, status int, hdr map[string]string, body string) {
	t.Helper()
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != status {
		t.Errorf("status %d, want %d (body %q)", res.StatusCode, status, b)
	}
	for k, v := range hdr {
		if got := res.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
		if v == "" && len(res.Header.Values(k)) != 0 {
			t.Errorf("header %s present: %q", k, res.Header.Values(k))
		}
	}
	if string(b) != body {
		t.Errorf("body %q\nwant %q", b, body)
	}
}

func TestErrorAdapter(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		status int
		body   string
		index  string
	}{
		{"not found", apierr.New(apierr.KeyNotFound, "/nope", 6), 404,
			`{"errorCode":100,"message":"Key not found","cause":"/nope","index":6}` + "\n", "6"},
		{"wrapped", fmt.Errorf("server: %w", apierr.New(apierr.NodeExist, "/a", 9)), 412,
			`{"errorCode":105,"message":"Key already exists","cause":"/a","index":9}` + "\n", "9"},
		{"not a file", apierr.New(apierr.NotFile, "/d", 2), 403,
			`{"errorCode":102,"message":"Not a file","cause":"/d","index":2}` + "\n", "2"},
		{"root", apierr.New(apierr.RootReadOnly, "/", 24), 400,
			`{"errorCode":107,"message":"Root is read only","cause":"/","index":24}` + "\n", "24"},
		{"cleared", apierr.New(apierr.EventIndexClear, "the requested history has been cleared [3/1]", 1003), 400,
			`{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [3/1]","index":1003}` + "\n", "1003"},
		{"timeout", context.DeadlineExceeded, 500,
			`{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}` + "\n", "0"},
		{"wrapped timeout", fmt.Errorf("wait: %w", context.DeadlineExceeded), 500,
			`{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}` + "\n", "0"},
		{"canceled", context.Canceled, 500,
			`{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request cancelled","index":0}` + "\n", "0"},
		{"other", errors.New("server: stopped"), 500,
			`{"errorCode":300,"message":"Raft Internal Error","cause":"server: stopped","index":0}` + "\n", "0"},
		{"no cause", apierr.New(apierr.LeaderElect, "", 4), 500,
			`{"errorCode":301,"message":"During Leader Election","index":4}` + "\n", "4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fb := &fakeBackend{status: Status{ClusterID: 0x89398061cc3f6cb, RaftIndex: 5, RaftTerm: 2}}
			fb.getFn = func(context.Context, getCall) (*store.Event, error) { return nil, c.err }
			h := New(fb, testOptions())
			rec := do(t, h, "GET", "/v2/keys/nope", "")
			wantResponse(t, rec, c.status, map[string]string{
				"Content-Type":      "application/json",
				"X-Etcd-Index":      c.index,
				"X-Etcd-Cluster-Id": "89398061cc3f6cb",
				"X-Raft-Index":      "",
				"X-Raft-Term":       "",
			}, c.body)

			// HEAD: the same headers, no body.
			rec = do(t, h, "HEAD", "/v2/keys/nope", "")
			wantResponse(t, rec, c.status, map[string]string{
				"X-Etcd-Index":   c.index,
				"Content-Length": fmt.Sprint(len(c.body)),
			}, "")
		})
	}
}

func TestParseErrorsReachClient(t *testing.T) {
	fb := &fakeBackend{}
	h := New(fb, testOptions())
	rec := do(t, h, "PUT", "/v2/keys/w?ttl=x", "value=1")
	wantResponse(t, rec, 400, map[string]string{"X-Etcd-Index": "0", "Content-Type": "application/json"},
		`{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`+"\n")
	if n := len(fb.recordedWrites()); n != 0 {
		t.Fatalf("%d writes reached the backend", n)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := New(&fakeBackend{}, testOptions())
	for _, c := range []struct{ method, target, allow string }{
		{"PATCH", "/v2/keys/foo", "HEAD,GET,PUT,POST,DELETE"},
		{"TRACE", "/v2/keys", "HEAD,GET,PUT,POST,DELETE"},
		{"POST", "/version", "GET"},
		{"HEAD", "/version", "GET"},
		{"POST", "/health", "GET"},
		{"PUT", "/v2/stats/self", "GET"},
		{"DELETE", "/v2/stats/store", "GET"},
		{"POST", "/v2/stats/leader", "GET"},
		{"POST", "/v2/machines", "GET,HEAD"},
		{"PUT", "/v2/leader", "GET,HEAD"},
		{"PUT", "/v2/members", "GET,POST"},
		{"POST", "/v2/members/1", "GET,DELETE,PUT"},
		{"HEAD", "/v2/members/leader", "GET,DELETE,PUT"},
	} {
		rec := do(t, h, c.method, c.target, "")
		wantResponse(t, rec, 405, map[string]string{
			"Allow":                       c.allow,
			"Content-Type":                "text/plain; charset=utf-8",
			"Access-Control-Allow-Origin": "*",
		}, "Method Not Allowed\n")
	}
}

func TestNotFound(t *testing.T) {
	h := New(&fakeBackend{}, testOptions())
	for _, target := range []string{"/", "/v2", "/v2/keysfoo", "/v2/nothing", "/v2/keys/../../b", "/metrics", "/v3/kv/range"} {
		rec := do(t, h, "GET", target, "")
		wantResponse(t, rec, 404, nil, "404 page not found\n")
	}
}

func TestCORS(t *testing.T) {
	allHeaders := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "POST, GET, OPTIONS, PUT, DELETE",
		"Access-Control-Allow-Headers": "accept, content-type, authorization",
	}
	t.Run("default star", func(t *testing.T) {
		h := New(&fakeBackend{}, testOptions())
		for _, target := range []string{"/v2/keys/foo", "/nothing", "/version"} {
			rec := do(t, h, "OPTIONS", target, "", "Origin: http://x", "Access-Control-Request-Method: PUT")
			wantResponse(t, rec, 200, allHeaders, "")
		}
		wantResponse(t, do(t, h, "GET", "/version", ""), 200, allHeaders,
			`{"etcdserver":"2.3.8","etcdcluster":"2.3.0","arbor":"0.0.0-test"}`)
	})
	t.Run("list", func(t *testing.T) {
		opts := testOptions()
		opts.CORS = []string{"http://a.example", "https://b.example:8443"}
		h := New(&fakeBackend{}, opts)
		rec := do(t, h, "OPTIONS", "/v2/keys/foo", "", "Origin: https://b.example:8443")
		wantResponse(t, rec, 200, map[string]string{
			"Access-Control-Allow-Origin":  "https://b.example:8443",
			"Access-Control-Allow-Methods": "POST, GET, OPTIONS, PUT, DELETE",
			"Vary":                         "Origin",
		}, "")
		rec = do(t, h, "OPTIONS", "/v2/keys/foo", "", "Origin: http://evil.example")
		wantResponse(t, rec, 200, map[string]string{
			"Access-Control-Allow-Origin":  "",
			"Access-Control-Allow-Methods": "",
			"Vary":                         "Origin",
		}, "")
	})
	t.Run("off", func(t *testing.T) {
		opts := testOptions()
		opts.CORS = []string{}
		h := New(&fakeBackend{}, opts)
		rec := do(t, h, "GET", "/version", "", "Origin: http://a.example")
		wantResponse(t, rec, 200, map[string]string{"Access-Control-Allow-Origin": "", "Vary": ""},
			`{"etcdserver":"2.3.8","etcdcluster":"2.3.0","arbor":"0.0.0-test"}`)
	})
}

func TestHealth(t *testing.T) {
	fb := &fakeBackend{}
	h := New(fb, testOptions())
	wantResponse(t, do(t, h, "GET", "/health", ""), 200,
		map[string]string{"Content-Type": "text/plain; charset=utf-8"}, `{"health":"true"}`)
	fb.healthFn = func(context.Context) error { return errors.New("no leader") }
	wantResponse(t, do(t, h, "GET", "/health", ""), 503,
		map[string]string{"Content-Type": "text/plain; charset=utf-8"}, `{"health":"false"}`)
}

func TestStats(t *testing.T) {
	fb := &fakeBackend{
		status:     Status{ClusterID: 0xabc},
		selfStats:  map[string]any{"name": "a", "state": "StateFollower"},
		storeStats: store.Stats{GetSuccess: 36, SetFail: 2, Watchers: 1},
	}
	h := New(fb, testOptions())
	wantResponse(t, do(t, h, "GET", "/v2/stats/self", ""), 200,
		map[string]string{"Content-Type": "application/json", "X-Etcd-Cluster-Id": ""},
		`{"name":"a","state":"StateFollower"}`)
	wantResponse(t, do(t, h, "GET", "/v2/stats/store", ""), 200,
		map[string]string{"Content-Type": "application/json"},
		`{"getsSuccess":36,"getsFail":0,"setsSuccess":0,"setsFail":2,"deleteSuccess":0,"deleteFail":0,`+
			`"updateSuccess":0,"updateFail":0,"createSuccess":0,"createFail":0,"compareAndSwapSuccess":0,`+
			`"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":1}`)
	// A follower: etcd's 403 with a plain message.
	wantResponse(t, do(t, h, "GET", "/v2/stats/leader", ""), 403,
		map[string]string{"Content-Type": "application/json"}, `{"message":"not current leader"}`)
	fb.leaderStats = map[string]any{"leader": "6d35565b4a31a12c", "followers": map[string]any{}}
	wantResponse(t, do(t, h, "GET", "/v2/stats/leader", ""), 200,
		map[string]string{"Content-Type": "application/json"}, `{"followers":{},"leader":"6d35565b4a31a12c"}`)
	// A value that cannot be encoded is the server's fault, not a panic.
	fb.selfStats = func() {}
	rec := do(t, h, "GET", "/v2/stats/self", "")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"errorCode":300`) {
		t.Fatalf("unencodable stats: %d %s", rec.Code, rec.Body)
	}
}

func threeMembers() []Member {
	return []Member{
		{ID: 0x6d35565b4a31a12c, Name: "a", PeerURLs: []string{"http://127.0.0.1:42012"},
			ClientURLs: []string{"http://127.0.0.1:42011", "http://10.0.0.1:4001"}},
		{ID: 0xfb63fb28fa72f3b, Name: "b", PeerURLs: []string{"http://127.0.0.1:42014"},
			ClientURLs: []string{"http://127.0.0.1:42013"}},
		{ID: 0x1, PeerURLs: []string{"http://127.0.0.1:42016"}}, // added, not started
	}
}

func TestMembersMachinesLeader(t *testing.T) {
	fb := &fakeBackend{members: threeMembers(), status: Status{LeaderID: 0xfb63fb28fa72f3b, StoreIndex: 7}}
	h := New(fb, testOptions())
	wantResponse(t, do(t, h, "GET", "/v2/members", ""), 200,
		map[string]string{"Content-Type": "application/json"},
		`{"members":[`+
			`{"id":"6d35565b4a31a12c","name":"a","peerURLs":["http://127.0.0.1:42012"],"clientURLs":["http://127.0.0.1:42011","http://10.0.0.1:4001"]},`+
			`{"id":"fb63fb28fa72f3b","name":"b","peerURLs":["http://127.0.0.1:42014"],"clientURLs":["http://127.0.0.1:42013"]},`+
			`{"id":"1","name":"","peerURLs":["http://127.0.0.1:42016"],"clientURLs":[]}]}`+"\n")
	wantResponse(t, do(t, h, "GET", "/v2/members/", ""), 200, nil,
		do(t, h, "GET", "/v2/members", "").Body.String())
	wantResponse(t, do(t, h, "GET", "/v2/machines", ""), 200,
		map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		"http://127.0.0.1:42011, http://10.0.0.1:4001, http://127.0.0.1:42013")
	wantResponse(t, do(t, h, "HEAD", "/v2/machines", ""), 200,
		map[string]string{"Content-Length": "68"}, "")
	wantResponse(t, do(t, h, "GET", "/v2/leader", ""), 200,
		map[string]string{"Content-Type": "text/plain; charset=utf-8"}, "http://127.0.0.1:42014")

	wantResponse(t, do(t, h, "GET", "/v2/members/leader", ""), 200,
		map[string]string{"Content-Type": "application/json"},
		`{"id":"fb63fb28fa72f3b","name":"b","peerURLs":["http://127.0.0.1:42014"],"clientURLs":["http://127.0.0.1:42013"]}`+"\n")
	wantResponse(t, do(t, h, "GET", "/v2/members/fb63fb28fa72f3b", ""), 404,
		map[string]string{"Content-Type": "application/json"}, `{"message":"Not found"}`)

	fb.status.LeaderID = 0
	wantResponse(t, do(t, h, "GET", "/v2/members/leader", ""), 503,
		map[string]string{"Content-Type": "application/json"}, `{"message":"During election"}`)
	wantResponse(t, do(t, h, "GET", "/v2/leader", ""), 500,
		map[string]string{"X-Etcd-Index": "7"},
		`{"errorCode":301,"message":"During Leader Election","cause":"no leader","index":7}`+"\n")

	fb.members = nil
	wantResponse(t, do(t, h, "GET", "/v2/members", ""), 200, nil, `{"members":[]}`+"\n")
	wantResponse(t, do(t, h, "GET", "/v2/machines", ""), 200, nil, "")
}

func TestVersion(t *testing.T) {
	h := New(&fakeBackend{status: Status{ClusterID: 1}}, testOptions())
	wantResponse(t, do(t, h, "GET", "/version", ""), 200,
		map[string]string{"Content-Type": "application/json", "X-Etcd-Cluster-Id": ""},
		`{"etcdserver":"2.3.8","etcdcluster":"2.3.0","arbor":"0.0.0-test"}`)
	// etcd routes exactly: a trailing slash is another path.
	for _, target := range []string{"/version/", "/health/", "/v2/machines/", "/v2/stats/self/"} {
		if got := do(t, h, "GET", target, "").Code; got != 404 {
			t.Errorf("GET %s: status %d, want 404", target, got)
		}
	}
}

func TestReadParameters(t *testing.T) {
	fb := &fakeBackend{getFn: func(_ context.Context, c getCall) (*store.Event, error) {
		return nil, apierr.New(apierr.KeyNotFound, c.path, 3)
	}}
	h := New(fb, testOptions())
	for _, target := range []string{
		"/v2/keys/a?quorum=true",
		"/v2/keys/a/?consistent=true&recursive=true",
		"/v2/keys/a?sorted=true&recursive=true",
		"/v2/keys/a?quorum=false&consistent=false",
	} {
		do(t, h, "GET", target, "")
	}
	do(t, h, "HEAD", "/v2/keys/?recursive=true", "")
	want := []getCall{
		{"/a", false, false, true},
		{"/a", true, false, true},
		{"/a", true, true, false},
		{"/a", false, false, false},
		{"/", true, false, false},
	}
	got := fb.recordedGets()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("gets\n%v\nwant\n%v", got, want)
	}

	// wait wins over quorum: a watch, not a read (etcd 3.4 reads).
	var watched string
	fb.watchFn = func(path string, recursive, stream bool, since uint64) (*store.Watcher, error) {
		watched = fmt.Sprintf("%s %v %v %d", path, recursive, stream, since)
		return nil, apierr.New(apierr.EventIndexClear, "", 12)
	}
	rec := do(t, h, "GET", "/v2/keys/a?wait=true&quorum=true&recursive=true&waitIndex=3", "")
	if rec.Code != 400 || rec.Header().Get("X-Etcd-Index") != "12" || watched != "/a true false 3" {
		t.Fatalf("wait+quorum: %d %q %s", rec.Code, watched, rec.Body)
	}
	if len(fb.recordedGets()) != len(want) {
		t.Fatalf("wait+quorum read instead of watching")
	}
}

func TestBodyLimit(t *testing.T) {
	for _, limit := range []int64{0, 1024} { // 0: the default, 10 MiB
		effective := limit
		if limit == 0 {
			effective = DefaultMaxRequestBytes
		}
		t.Run(fmt.Sprint(effective), func(t *testing.T) {
			fb := &fakeBackend{writeFn: func(_ context.Context, r *store.Request) (*store.Event, error) {
				return nil, apierr.New(apierr.NodeExist, r.Path, 1)
			}}
			opts := testOptions()
			opts.MaxRequestBytes = limit
			h := New(fb, opts)
			atLimit := "value=" + strings.Repeat("a", int(effective)-len("value="))

			rec := do(t, h, "PUT", "/v2/keys/big", atLimit+"a")
			wantResponse(t, rec, 400, map[string]string{"X-Etcd-Index": "0"},
				fmt.Sprintf(`{"errorCode":210,"message":"Invalid POST form","cause":"request body too large: the limit is %d bytes","index":0}`+"\n", effective))
			if n := len(fb.recordedWrites()); n != 0 {
				t.Fatalf("an oversized body reached the backend (%d writes)", n)
			}

			rec = do(t, h, "PUT", "/v2/keys/big", atLimit)
			if rec.Code != 412 {
				t.Fatalf("body at the limit: status %d, want the backend's 412", rec.Code)
			}
			ws := fb.recordedWrites()
			if len(ws) != 1 || int64(len(ws[0].Val)) != effective-int64(len("value=")) {
				t.Fatalf("body at the limit: writes %d", len(ws))
			}
		})
	}
}

// A key over MaxKeyBytes is refused before it reaches the log: its
// missing parents would each hold their own full path.
func TestKeyLimit(t *testing.T) {
	fb := &fakeBackend{writeFn: func(_ context.Context, r *store.Request) (*store.Event, error) {
		return nil, apierr.New(apierr.NodeExist, r.Path, 1)
	}}
	h := New(fb, testOptions())
	deep := strings.Repeat("/a", MaxKeyBytes/2+1)
	rec := do(t, h, "PUT", "/v2/keys"+deep, "value=1")
	wantResponse(t, rec, 400, map[string]string{"X-Etcd-Index": "0"},
		fmt.Sprintf(`{"errorCode":210,"message":"Invalid POST form","cause":"key too long: %d bytes, the limit is %d","index":0}`+"\n", len(deep), MaxKeyBytes))
	if n := len(fb.recordedWrites()); n != 0 {
		t.Fatalf("a key over the limit reached the backend (%d writes)", n)
	}
	rec = do(t, h, "PUT", "/v2/keys"+deep[:MaxKeyBytes], "value=1")
	if rec.Code != 412 || len(fb.recordedWrites()) != 1 {
		t.Fatalf("a key at the limit: status %d, %d writes", rec.Code, len(fb.recordedWrites()))
	}
}

func TestPanicRecovered(t *testing.T) {
	logs := &logBuffer{}
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	fb := &fakeBackend{getFn: func(context.Context, getCall) (*store.Event, error) {
		var m map[string]int
		m["boom"]++ // a nil-map write: a bug in the backend
		return nil, nil
	}}
	h := New(fb, opts)
	rec := do(t, h, "GET", "/v2/keys/a", "")
	wantResponse(t, rec, 500, map[string]string{"Content-Type": "application/json", "X-Etcd-Index": "0"},
		`{"errorCode":300,"message":"Raft Internal Error","cause":"arbor: internal error","index":0}`+"\n")
	if !strings.Contains(logs.String(), "panic serving request") || !strings.Contains(logs.String(), "nil map") {
		t.Fatalf("panic not logged: %s", logs)
	}

	// A backend that returns neither event nor error gets a 300, not a
	// nil dereference.
	fb.getFn = func(context.Context, getCall) (*store.Event, error) { return nil, nil }
	rec = do(t, h, "GET", "/v2/keys/a", "")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "backend returned no event") {
		t.Fatalf("nil event: %d %s", rec.Code, rec.Body)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, c := range Collectors() {
		reg.MustRegister(c)
	}
	opts := testOptions()
	opts.Gatherer = reg
	h := New(&fakeBackend{}, opts)
	do(t, h, "GET", "/version", "")
	do(t, h, "BREW", "/version", "")
	rec := do(t, h, "GET", "/metrics", "")
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`arbor_http_requests_total{code="200",method="GET"}`,
		`arbor_http_requests_total{code="405",method="other"}`,
		`arbor_http_request_duration_seconds_bucket{method="GET",le=`,
		`arbor_http_watches_active 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The members API's changes, with etcd's answers: 201 and the member on an
// add, 204 on a remove or update, 409/404/415/400 with {"message"}.
func TestMembersChanges(t *testing.T) {
	fb := &fakeBackend{members: threeMembers()}
	h := New(fb, testOptions())
	js := "Content-Type: application/json"
	wantResponse(t, do(t, h, "POST", "/v2/members", `{"peerURLs":["http://127.0.0.1:42090"]}`, js), 201,
		map[string]string{"Content-Type": "application/json"},
		`{"id":"103","name":"","peerURLs":["http://127.0.0.1:42090"],"clientURLs":[]}`+"\n")
	wantResponse(t, do(t, h, "POST", "/v2/members", `{"peerURLs":["http://127.0.0.1:42090"]}`, js), 409, nil,
		`{"message":"etcdserver: peerURL exists"}`)
	wantResponse(t, do(t, h, "POST", "/v2/members", `{"peerURLs":["http://127.0.0.1:42091"]}`), 415, nil,
		`{"message":"Bad Content-Type application/x-www-form-urlencoded, accept application/json"}`)
	wantResponse(t, do(t, h, "POST", "/v2/members", `xx`, js), 400, nil,
		`{"message":"invalid character 'x' looking for beginning of value"}`)
	wantResponse(t, do(t, h, "POST", "/v2/members", `{"peerURLs":["bad"]}`, js), 400, nil,
		`{"message":"URL scheme must be http or https, with a host: bad"}`)
	wantResponse(t, do(t, h, "PUT", "/v2/members/103", `{"peerURLs":["http://127.0.0.1:42095"]}`, js), 204, nil, "")
	if got := fb.members[len(fb.members)-1].PeerURLs[0]; got != "http://127.0.0.1:42095" {
		t.Fatalf("update did not reach the backend: %s", got)
	}
	wantResponse(t, do(t, h, "DELETE", "/v2/members/103", ""), 204, nil, "")
	wantResponse(t, do(t, h, "DELETE", "/v2/members/103", ""), 404, nil, `{"message":"No such member: 103"}`)
	wantResponse(t, do(t, h, "DELETE", "/v2/members/zz", ""), 404, nil, `{"message":"No such member: zz"}`)
	if len(fb.members) != 3 {
		t.Fatalf("members after add and remove: %+v", fb.members)
	}
}

// The cached cluster ID header follows the ID when it changes (a joining
// member learns it late).
func TestClusterIDHeaderFollowsID(t *testing.T) {
	h := &handler{}
	for _, id := range []uint64{0, 0x89398061cc3f6cb, 0x89398061cc3f6cb, 1} {
		if got, want := h.clusterIDHeader(id), strconv.FormatUint(id, 16); len(got) != 1 || got[0] != want {
			t.Fatalf("id %x: header %q, want %q", id, got, want)
		}
	}
}
