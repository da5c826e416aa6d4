package discovery

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/client"
)

// fakeKeys records Create calls.
type fakeKeys struct {
	mu   sync.Mutex
	sets map[string]string // guarded by mu
	err  error
}

func (f *fakeKeys) Create(_ context.Context, key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if _, ok := f.sets[key]; ok {
		return errors.New("105: Key already exists")
	}
	if f.sets == nil {
		f.sets = map[string]string{}
	}
	f.sets[key] = value
	return nil
}

func get(t *testing.T, h http.Handler, method, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Code, rec.Body.String()
}

var tokenURLPattern = regexp.MustCompile(`^http://10\.0\.0\.5:2379/v2/keys/_etcd/registry/([0-9a-f]{32})$`)

func TestNewHandler(t *testing.T) {
	keys := &fakeKeys{}
	h := NewHandler(keys, func(*http.Request) string { return "http://10.0.0.5:2379/" })

	for _, tc := range []struct{ query, size string }{{"", "3"}, {"?size=5", "5"}, {"?size=1", "1"}} {
		code, body := get(t, h, http.MethodGet, "/new"+tc.query)
		m := tokenURLPattern.FindStringSubmatch(body)
		if code != http.StatusOK || m == nil {
			t.Fatalf("GET /new%s: %d %q", tc.query, code, body)
		}
		if got := keys.sets["/_etcd/registry/"+m[1]+"/_config/size"]; got != tc.size {
			t.Errorf("GET /new%s: _config/size %q, want %q", tc.query, got, tc.size)
		}
	}
	if len(keys.sets) != 3 {
		t.Errorf("three requests made %d tokens: %v", len(keys.sets), keys.sets)
	}

	for _, q := range []string{"?size=0", "?size=-1", "?size=abc", "?size=3.5"} {
		if code, body := get(t, h, http.MethodGet, "/new"+q); code != http.StatusBadRequest || !strings.Contains(body, "positive integer") {
			t.Errorf("GET /new%s: %d %q, want 400", q, code, body)
		}
	}
	if code, _ := get(t, h, http.MethodDelete, "/new"); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /new: %d", code)
	}
	if len(keys.sets) != 3 {
		t.Errorf("rejected requests wrote tokens: %v", keys.sets)
	}

	keys.err = errors.New("300: Raft Internal Error")
	if code, body := get(t, h, http.MethodGet, "/new"); code != http.StatusInternalServerError || !strings.Contains(body, "Raft Internal Error") {
		t.Errorf("failed write: %d %q, want 500 with the cause", code, body)
	}
}

// Without publicURL the answer uses the request's own host.
func TestNewHandlerRequestHost(t *testing.T) {
	code, body := get(t, NewHandler(&fakeKeys{}, nil), http.MethodGet, "http://127.0.0.1:4001/new?size=3")
	if code != http.StatusOK || !regexp.MustCompile(`^http://127\.0\.0\.1:4001/v2/keys/_etcd/registry/[0-9a-f]{32}$`).MatchString(body) {
		t.Errorf("%d %q", code, body)
	}
}

// clientKeys is KeysAPI over the v2 HTTP API, standing in for the server's
// own write path.
type clientKeys struct{ c *client.Client }

func (k clientKeys) Create(ctx context.Context, key, value string) error {
	_, err := k.c.Create(ctx, key, value)
	return err
}

// newTokenFrom serves NewHandler over keys at base and asks it for a token
// of the given size, as curl would.
func newTokenFrom(t *testing.T, base string, size string) string {
	t.Helper()
	h := NewHandler(clientKeys{keysClient(t, base)}, func(*http.Request) string { return base })
	srv := serve(t, h)
	resp, err := http.Get(srv + "/new?size=" + size)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), base+"/v2/keys/_etcd/registry/") {
		t.Fatalf("GET /new: %s %q", resp.Status, body)
	}
	return string(body)
}

// End to end: a token from /new, stored in a real arbor, forms a cluster
// of three, and its URL shows the registry as etcd's did.
func TestNewTokenFormsCluster(t *testing.T) {
	base := startService(t)
	tokenURL := newTokenFrom(t, base, "3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	foundThree(ctx, t, tokenURL)

	resp, err := http.Get(tokenURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`"dir":true`, `m1=http://127.0.0.1:17001`, `m2=http://127.0.0.1:17002`, `m3=http://127.0.0.1:17003`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET token URL: %s, missing %s", body, want)
		}
	}
}

// A URL that answers, but not as a v2 keys directory, fails at once with
// a clear error instead of being retried.
func TestJoinBadEndpoint(t *testing.T) {
	var hits atomicCounter
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.add()
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>welcome</html>")
	}))
	_, err := Join(context.Background(), member(t, srv+"/some/token", 1))
	if !errors.Is(err, ErrBadEndpoint) || !strings.Contains(err.Error(), "welcome") {
		t.Errorf("Join: %v, want ErrBadEndpoint quoting the answer", err)
	}
	if n := hits.n.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (no retries)", n)
	}
}

func TestJoinBadSize(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"action":"get","node":{"key":"/_etcd/registry/t/_config/size","value":"three","modifiedIndex":4,"createdIndex":4}}`)
	}))
	if _, err := Join(context.Background(), member(t, srv+"/v2/keys/_etcd/registry/t", 1)); !errors.Is(err, ErrBadSize) {
		t.Errorf("Join: %v, want ErrBadSize", err)
	}
}

func TestJoinConfigChecks(t *testing.T) {
	good := member(t, "http://127.0.0.1:1/v2/keys/_etcd/registry/t", 1)
	for name, mod := range map[string]func(*Config){
		"no URL":       func(c *Config) { c.URL = "" },
		"no scheme":    func(c *Config) { c.URL = "127.0.0.1:1/t" },
		"ID 0":         func(c *Config) { c.ID = 0 },
		"no name":      func(c *Config) { c.Name = "" },
		"name with =":  func(c *Config) { c.Name = "a=b" },
		"no peer URLs": func(c *Config) { c.PeerURLs = nil },
		"bad peer URL": func(c *Config) { c.PeerURLs = []string{"127.0.0.1:7001"} },
	} {
		cfg := good
		mod(&cfg)
		if _, err := Join(context.Background(), cfg); err == nil || isUnavailable(err) {
			t.Errorf("%s: %v, want a config error", name, err)
		}
	}
}

// foundThree has members 1, 2 and 3 join tokenURL at once and checks that
// all three found the cluster together, with the same members in order.
func foundThree(ctx context.Context, t *testing.T, tokenURL string) []Result {
	t.Helper()
	var chans []<-chan outcome
	for i := 1; i <= 3; i++ {
		chans = append(chans, joinAsync(ctx, member(t, tokenURL, i)))
	}
	var results []Result
	for _, ch := range chans {
		o := <-ch
		if o.err != nil {
			t.Fatal(o.err)
		}
		results = append(results, o.res)
	}
	checkFounders(t, results, []uint64{0xa1, 0xa2, 0xa3})
	return results
}
