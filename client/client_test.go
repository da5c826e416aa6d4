package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/client"
)

func mustNew(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// deadEndpoint returns a URL nothing listens on: a port that was free a
// moment ago, closed again.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// recorder answers every request with a fixed response and records what it
// was asked.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, uri, body, contentType, auth string
}

func newRecorder(t *testing.T, status int, header map[string]string, body string) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		user, pass, ok := r.BasicAuth()
		auth := ""
		if ok {
			auth = user + ":" + pass
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.RequestURI(), string(b), r.Header.Get("Content-Type"), auth})
		rec.mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) last(t *testing.T) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request recorded")
	}
	return r.reqs[len(r.reqs)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

const okBody = `{"action":"set","node":{"key":"/a","value":"v","modifiedIndex":7,"createdIndex":7}}`

// TestRequestEncoding pins the requests the client sends to what etcd's own
// client sends (etcdctl --debug shows them), so that arborctl's --debug
// output and servers' logs match etcdctl's.
func TestRequestEncoding(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		call       func(c *client.Client) error
		wantMethod string
		wantURI    string
		wantBody   string
	}{
		{"get", func(c *client.Client) error {
			_, err := c.Get(ctx, "/svclocation", client.GetOptions{})
			return err
		}, "GET", "/v2/keys/svclocation?quorum=false&recursive=false&sorted=false", ""},
		{"get root", func(c *client.Client) error {
			_, err := c.Get(ctx, "/", client.GetOptions{Recursive: true, Sorted: true, Quorum: true})
			return err
		}, "GET", "/v2/keys/?quorum=true&recursive=true&sorted=true", ""},
		{"get unclean relative", func(c *client.Client) error {
			_, err := c.Get(ctx, "a//b/../c/", client.GetOptions{})
			return err
		}, "GET", "/v2/keys/a/c/?quorum=false&recursive=false&sorted=false", ""},
		{"get escaped", func(c *client.Client) error {
			_, err := c.Get(ctx, "/a b/ü?x", client.GetOptions{})
			return err
		}, "GET", "/v2/keys/a%20b/%C3%BC%3Fx?quorum=false&recursive=false&sorted=false", ""},
		{"set ttl", func(c *client.Client) error {
			_, err := c.Set(ctx, "/dbg", "a b&c=d", client.SetOptions{TTL: 100 * time.Second})
			return err
		}, "PUT", "/v2/keys/dbg", "ttl=100&value=a+b%26c%3Dd"},
		{"set empty value", func(c *client.Client) error {
			_, err := c.Set(ctx, "/e", "", client.SetOptions{})
			return err
		}, "PUT", "/v2/keys/e", "value="},
		{"create", func(c *client.Client) error {
			_, err := c.Create(ctx, "/k", "v")
			return err
		}, "PUT", "/v2/keys/k?prevExist=false", "value=v"},
		{"update", func(c *client.Client) error {
			_, err := c.Update(ctx, "/k", "v")
			return err
		}, "PUT", "/v2/keys/k?prevExist=true", "value=v"},
		{"cas", func(c *client.Client) error {
			_, err := c.Set(ctx, "/k", "x", client.SetOptions{PrevValue: "v", PrevIndex: 3})
			return err
		}, "PUT", "/v2/keys/k?prevIndex=3&prevValue=v", "value=x"},
		{"mkdir", func(c *client.Client) error {
			_, err := c.Set(ctx, "/d", "", client.SetOptions{Dir: true, PrevExist: client.PrevNoExist})
			return err
		}, "PUT", "/v2/keys/d?dir=true&prevExist=false", ""},
		{"updatedir", func(c *client.Client) error {
			_, err := c.Set(ctx, "/d", "", client.SetOptions{Dir: true, PrevExist: client.PrevExist, TTL: 5 * time.Second})
			return err
		}, "PUT", "/v2/keys/d?dir=true&prevExist=true", "ttl=5"},
		{"refresh", func(c *client.Client) error {
			_, err := c.Set(ctx, "/k", "", client.SetOptions{Refresh: true, PrevExist: client.PrevExist, TTL: 30 * time.Second})
			return err
		}, "PUT", "/v2/keys/k?prevExist=true&refresh=true", "ttl=30"},
		{"no value on success", func(c *client.Client) error {
			_, err := c.Set(ctx, "/k", "v", client.SetOptions{NoValueOnSuccess: true})
			return err
		}, "PUT", "/v2/keys/k?noValueOnSuccess=true", "value=v"},
		{"in order", func(c *client.Client) error {
			_, err := c.CreateInOrder(ctx, "/q", "v", client.CreateInOrderOptions{TTL: 9 * time.Second})
			return err
		}, "POST", "/v2/keys/q", "ttl=9&value=v"},
		{"delete", func(c *client.Client) error {
			_, err := c.Delete(ctx, "/k", client.DeleteOptions{PrevValue: "x", PrevIndex: 5})
			return err
		}, "DELETE", "/v2/keys/k?prevIndex=5&prevValue=x", ""},
		{"delete recursive", func(c *client.Client) error {
			_, err := c.Delete(ctx, "/q", client.DeleteOptions{Recursive: true})
			return err
		}, "DELETE", "/v2/keys/q?recursive=true", ""},
		{"rmdir", func(c *client.Client) error {
			_, err := c.Delete(ctx, "/d", client.DeleteOptions{Dir: true})
			return err
		}, "DELETE", "/v2/keys/d?dir=true", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, 200, nil, okBody)
			var traced []client.TraceRequest
			c := mustNew(t, client.Config{Endpoints: []string{rec.URL},
				Username: "root", Password: "pw",
				Trace: func(r client.TraceRequest) { traced = append(traced, r) }})
			if err := tt.call(c); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := rec.last(t)
			if got.method != tt.wantMethod || got.uri != tt.wantURI || got.body != tt.wantBody {
				t.Errorf("sent %s %s body %q; want %s %s body %q", got.method, got.uri, got.body, tt.wantMethod, tt.wantURI, tt.wantBody)
			}
			if got.auth != "root:pw" {
				t.Errorf("basic auth = %q, want root:pw", got.auth)
			}
			hasBody := tt.wantMethod == "PUT" || tt.wantMethod == "POST"
			if hasBody && got.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", got.contentType)
			}
			if len(traced) != 1 || traced[0].Method != tt.wantMethod || traced[0].URL != rec.URL+tt.wantURI ||
				traced[0].Body != tt.wantBody || traced[0].HasBody != hasBody {
				t.Errorf("trace = %+v", traced)
			}
		})
	}
}

func TestResponseDecoding(t *testing.T) {
	rec := newRecorder(t, 200, map[string]string{
		"X-Etcd-Index": "52", "X-Raft-Index": "234", "X-Raft-Term": "2", "X-Etcd-Cluster-Id": "989a1f6569c80ca2",
	}, `{"action":"update","node":{"key":"/d","dir":true,"expiration":"2026-11-21T23:59:58.313856714Z","ttl":100,"modifiedIndex":33,"createdIndex":32},"prevNode":{"key":"/d","dir":true,"modifiedIndex":32,"createdIndex":32}}`)
	c := mustNew(t, client.Config{Endpoints: []string{rec.URL}})
	resp, err := c.Get(context.Background(), "/d", client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Action != "update" || resp.Index != 52 || resp.RaftIndex != 234 || resp.RaftTerm != 2 || resp.ClusterID != "989a1f6569c80ca2" {
		t.Errorf("resp = %+v", resp)
	}
	n := resp.Node
	if n.Key != "/d" || !n.Dir || n.TTL != 100 || n.TTLDuration() != 100*time.Second || n.CreatedIndex != 32 || n.ModifiedIndex != 33 {
		t.Errorf("node = %+v", n)
	}
	if n.Expiration == nil || n.Expiration.Format(time.RFC3339Nano) != "2026-11-21T23:59:58.313856714Z" {
		t.Errorf("expiration = %v", n.Expiration)
	}
	if resp.PrevNode == nil || resp.PrevNode.ModifiedIndex != 32 {
		t.Errorf("prevNode = %+v", resp.PrevNode)
	}
}

func TestTypedError(t *testing.T) {
	rec := newRecorder(t, 404, map[string]string{"X-Etcd-Index": "15832"},
		`{"errorCode":100,"message":"Key not found","cause":"/_etcd","index":15832}`)
	c := mustNew(t, client.Config{Endpoints: []string{rec.URL}})
	_, err := c.Get(context.Background(), "/_etcd", client.GetOptions{})
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v, want *client.Error", err, err)
	}
	if e.Code != client.CodeKeyNotFound || e.Cause != "/_etcd" || e.Index != 15832 || e.Message != "Key not found" {
		t.Errorf("error = %+v", e)
	}
	if got, want := e.Error(), "100: Key not found (/_etcd) [15832]"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// The same server said it: no failover for a 4xx.
	if rec.count() != 1 {
		t.Errorf("%d requests, want 1", rec.count())
	}
}

// A v2 error object in a 200 body (a long poll the server failed after
// answering 200) is the typed error, not an unexpected response.
func TestErrorObjectInOKBody(t *testing.T) {
	rec := newRecorder(t, 200, nil, `{"errorCode":300,"message":"Raft Internal Error","cause":"no leader","index":9}`+"\n")
	c := mustNew(t, client.Config{Endpoints: []string{rec.URL}})
	_, err := c.Get(context.Background(), "/a", client.GetOptions{})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != 300 || e.Cause != "no leader" || e.Index != 9 {
		t.Fatalf("err = %T %v, want *client.Error 300", err, err)
	}
}

func TestUnexpectedResponse(t *testing.T) {
	rec := newRecorder(t, 404, nil, "404 page not found\n")
	c := mustNew(t, client.Config{Endpoints: []string{rec.URL}})
	_, err := c.Get(context.Background(), "/a", client.GetOptions{})
	var ue *client.UnexpectedResponseError
	if !errors.As(err, &ue) || ue.StatusCode != 404 {
		t.Fatalf("err = %T %v, want *UnexpectedResponseError 404", err, err)
	}
}

func TestFailoverOnConnectionError(t *testing.T) {
	dead := deadEndpoint(t)
	rec := newRecorder(t, 200, nil, okBody)
	c := mustNew(t, client.Config{Endpoints: []string{dead, rec.URL}})
	var traced []string
	c2 := mustNew(t, client.Config{Endpoints: []string{dead, rec.URL},
		Trace: func(r client.TraceRequest) { traced = append(traced, r.URL) }})

	for _, cl := range []*client.Client{c, c2} {
		if _, err := cl.Get(context.Background(), "/a", client.GetOptions{}); err != nil {
			t.Fatalf("Get: %v", err)
		}
	}
	if len(traced) != 2 || !strings.HasPrefix(traced[0], dead) || !strings.HasPrefix(traced[1], rec.URL) {
		t.Errorf("attempts = %v, want dead then live", traced)
	}
	// The endpoint that worked is remembered: the next request goes
	// straight to it.
	if got := c2.Endpoints(); got[0] != rec.URL {
		t.Errorf("Endpoints() = %v, want %s first", got, rec.URL)
	}
	traced = nil
	if _, err := c2.Get(context.Background(), "/a", client.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(traced) != 1 || !strings.HasPrefix(traced[0], rec.URL) {
		t.Errorf("second request attempts = %v, want only the live endpoint", traced)
	}
}

func TestFailoverOn5xx(t *testing.T) {
	sick := newRecorder(t, 500, nil, `{"errorCode":300,"message":"Raft Internal Error","cause":"","index":0}`)
	rec := newRecorder(t, 200, nil, okBody)
	c := mustNew(t, client.Config{Endpoints: []string{sick.URL, rec.URL}})
	if _, err := c.Set(context.Background(), "/a", "v", client.SetOptions{}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if sick.count() != 1 || rec.count() != 1 {
		t.Errorf("requests: sick %d, healthy %d; want 1 and 1", sick.count(), rec.count())
	}
}

func TestAllEndpointsFail(t *testing.T) {
	dead := deadEndpoint(t)
	sick := newRecorder(t, 503, nil, `{"errorCode":300,"message":"Raft Internal Error","cause":"","index":9}`)
	// With a per-request timeout too: a refused connection must still
	// read as one, not as a timeout.
	c := mustNew(t, client.Config{Endpoints: []string{sick.URL, dead}, Timeout: time.Minute})
	_, err := c.Get(context.Background(), "/a", client.GetOptions{})
	var ce *client.ClusterError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %T %v, want *ClusterError", err, err)
	}
	if len(ce.Errors) != 2 {
		t.Fatalf("errors = %v, want one per endpoint", ce.Errors)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) = false for %v", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.CodeRaftInternal {
		t.Errorf("errors.As *Error = %v, want code 300 from the 503 body", e)
	}
	want := "client: etcd cluster is unavailable or misconfigured; error #0: client: etcd member " + sick.URL + " has no leader\n" +
		"; error #1: dial tcp " + strings.TrimPrefix(dead, "http://") + ": connect: connection refused\n"
	if err.Error() != want {
		t.Errorf("Error() =\n%q\nwant\n%q", err.Error(), want)
	}
	wantDetail := "error #0: client: etcd member " + sick.URL + " has no leader\n" +
		"error #1: dial tcp " + strings.TrimPrefix(dead, "http://") + ": connect: connection refused\n"
	if ce.Detail() != wantDetail {
		t.Errorf("Detail() = %q, want %q", ce.Detail(), wantDetail)
	}
}

// hanging is a server whose handler blocks until the request is cancelled,
// and tells the test when a request has arrived.
func hanging(t *testing.T) (*httptest.Server, <-chan struct{}) {
	arrived := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, arrived
}

func TestTimeoutFailsOver(t *testing.T) {
	slow, _ := hanging(t)
	rec := newRecorder(t, 200, nil, okBody)
	c := mustNew(t, client.Config{Endpoints: []string{slow.URL, rec.URL}, Timeout: 20 * time.Millisecond})
	if _, err := c.Get(context.Background(), "/a", client.GetOptions{}); err != nil {
		t.Fatalf("Get: %v", err)
	}

	only := mustNew(t, client.Config{Endpoints: []string{slow.URL}, Timeout: 20 * time.Millisecond})
	_, err := only.Get(context.Background(), "/a", client.GetOptions{})
	want := "client: etcd cluster is unavailable or misconfigured; error #0: client: endpoint " + slow.URL + " exceeded header timeout\n"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, DeadlineExceeded) = false")
	}
}

func TestContextCancel(t *testing.T) {
	slow, arrived := hanging(t)
	rec := newRecorder(t, 200, nil, okBody)
	// The live endpoint is second: a cancelled request must not fail over.
	c := mustNew(t, client.Config{Endpoints: []string{slow.URL, rec.URL}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "/a", client.GetOptions{})
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if rec.count() != 0 {
		t.Errorf("cancelled request went on to the next endpoint")
	}

	// Same for a watch, which has no per-request timeout.
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		_, err := c.Watcher("/a", client.WatcherOptions{}).Next(ctx)
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("watch err = %v, want context.Canceled", err)
	}
}

func TestEndpointsWithoutScheme(t *testing.T) {
	rec := newRecorder(t, 200, nil, okBody)
	c := mustNew(t, client.Config{Endpoints: []string{strings.TrimPrefix(rec.URL, "http://")}})
	if got := c.Endpoints(); len(got) != 1 || got[0] != rec.URL {
		t.Errorf("Endpoints() = %v, want [%s]", got, rec.URL)
	}
	if _, err := c.Get(context.Background(), "/a", client.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{nil, {""}, {"ftp://x"}, {"http://"}} {
		if _, err := client.New(client.Config{Endpoints: bad}); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
}

func TestSyncMembersLeaderHealth(t *testing.T) {
	f := newFakeServer()
	defer f.Close()
	dead := deadEndpoint(t)
	c := mustNew(t, client.Config{Endpoints: []string{dead, f.URL}})
	ctx := context.Background()
	if err := c.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := c.Endpoints(); len(got) != 1 || got[0] != f.URL {
		t.Errorf("Endpoints() after Sync = %v, want [%s]", got, f.URL)
	}
	ms, err := c.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0].ID != "8e9e05c52164694d" || ms[0].Name != "fake" || ms[0].ClientURLs[0] != f.URL {
		t.Errorf("Members = %+v, %v", ms, err)
	}
	l, err := c.Leader(ctx)
	if err != nil || l.ID != "8e9e05c52164694d" {
		t.Errorf("Leader = %+v, %v", l, err)
	}
	if ok, err := c.Health(ctx); !ok || err != nil {
		t.Errorf("Health = %v, %v", ok, err)
	}
	if ok, err := c.HealthAt(ctx, f.URL); !ok || err != nil {
		t.Errorf("HealthAt = %v, %v", ok, err)
	}
	if _, err := c.HealthAt(ctx, dead); err == nil || !strings.Contains(err.Error(), `Get "`+dead+`/health"`) {
		t.Errorf("HealthAt(dead) err = %v", err)
	}
}

func TestLeaderFallsBackToV2Leader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/leader":
			io.WriteString(w, "http://10.0.0.2:7001")
		case "/v2/members":
			io.WriteString(w, `{"members":[{"id":"a","name":"one","peerURLs":["http://10.0.0.1:7001"]},{"id":"b","name":"two","peerURLs":["http://10.0.0.2:7001"]}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := mustNew(t, client.Config{Endpoints: []string{srv.URL}})
	l, err := c.Leader(context.Background())
	if err != nil || l.ID != "b" {
		t.Errorf("Leader = %+v, %v; want member b", l, err)
	}
}

func TestHealthFormats(t *testing.T) {
	for body, want := range map[string]bool{`{"health":"true"}`: true, `{"health":"false"}`: false, `{"health":true}`: true, `{"health":false}`: false} {
		rec := newRecorder(t, 200, nil, body)
		c := mustNew(t, client.Config{Endpoints: []string{rec.URL}})
		if got, err := c.Health(context.Background()); got != want || err != nil {
			t.Errorf("%s: Health = %v, %v; want %v", body, got, err, want)
		}
	}
}

func TestAddRemoveMember(t *testing.T) {
	added := newRecorder(t, 201, nil, `{"id":"86d3b0c45cec3b16","name":"","peerURLs":["http://10.0.0.3:2380"],"clientURLs":[]}`)
	var traced []client.TraceRequest
	c := mustNew(t, client.Config{Endpoints: []string{added.URL}, Trace: func(r client.TraceRequest) { traced = append(traced, r) }})
	m, err := c.AddMember(context.Background(), "http://10.0.0.3:2380")
	if err != nil || m.ID != "86d3b0c45cec3b16" || m.Name != "" {
		t.Fatalf("AddMember = %+v, %v", m, err)
	}
	got := added.last(t)
	if got.method != "POST" || got.uri != "/v2/members" || got.body != `{"peerURLs":["http://10.0.0.3:2380"]}` || got.contentType != "application/json" {
		t.Errorf("sent %+v", got)
	}
	if len(traced) != 1 || !traced[0].HasBody || traced[0].Body != got.body {
		t.Errorf("trace = %+v", traced)
	}

	conflict := newRecorder(t, 409, nil, `{"message":"membership: peerURL exists"}`)
	c = mustNew(t, client.Config{Endpoints: []string{conflict.URL}})
	_, err = c.AddMember(context.Background(), "http://10.0.0.3:2380")
	var me *client.MembersError
	if !errors.As(err, &me) || me.StatusCode != 409 || err.Error() != "membership: peerURL exists" {
		t.Errorf("err = %v, want MembersError 409", err)
	}

	removed := newRecorder(t, 204, nil, "")
	c = mustNew(t, client.Config{Endpoints: []string{removed.URL}})
	if err := c.RemoveMember(context.Background(), "86d3b0c45cec3b16"); err != nil {
		t.Fatal(err)
	}
	if got := removed.last(t); got.method != "DELETE" || got.uri != "/v2/members/86d3b0c45cec3b16" || got.body != "" {
		t.Errorf("sent %+v", got)
	}
	missing := newRecorder(t, 404, nil, `{"message":"membership: member not found"}`)
	c = mustNew(t, client.Config{Endpoints: []string{missing.URL}})
	if err := c.RemoveMember(context.Background(), "1"); !errors.As(err, &me) || me.StatusCode != 404 {
		t.Errorf("err = %v, want MembersError 404", err)
	}
}
