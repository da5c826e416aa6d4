package discovery

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/client"
)

// Three members of a size-3 token wait for each other and then all
// bootstrap the same three, in the same order; a fourth is refused.
func TestJoinSizeFormsClusterOnce(t *testing.T) {
	base := startService(t)
	c := keysClient(t, base)
	key, tokenURL := makeToken(t, base, "size3", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first, second := joinAsync(ctx, member(t, tokenURL, 1)), joinAsync(ctx, member(t, tokenURL, 2))
	waitRegistrations(t, c, key, 2)
	// Two of three registered: neither may have decided yet.
	select {
	case o := <-first:
		t.Fatalf("m1 returned with 2 of 3 registered: %+v, %v", o.res, o.err)
	case o := <-second:
		t.Fatalf("m2 returned with 2 of 3 registered: %+v, %v", o.res, o.err)
	default:
	}
	third := joinAsync(ctx, member(t, tokenURL, 3))

	var results []Result
	for _, ch := range []<-chan outcome{first, second, third} {
		o := <-ch
		if o.err != nil {
			t.Fatal(o.err)
		}
		results = append(results, o.res)
	}
	checkFounders(t, results, []uint64{0xa1, 0xa2, 0xa3})
	for i, r := range results {
		if r.ID != uint64(0xa1+i) || r.Size != 3 {
			t.Errorf("result %d: ID %x size %d", i, r.ID, r.Size)
		}
		for _, m := range r.Members {
			want := member(t, tokenURL, int(m.ID-0xa0))
			if m.Name != want.Name || !slices.Equal(m.PeerURLs, want.PeerURLs) {
				t.Errorf("member %x is %s %v, registered as %s %v", m.ID, m.Name, m.PeerURLs, want.Name, want.PeerURLs)
			}
		}
	}
	state, err := c.Get(ctx, key+"/_state", client.GetOptions{})
	if err != nil || state.Node.Value != "started" {
		t.Errorf("_state after formation: %v, %v", state, err)
	}

	before, err := c.Get(ctx, key, client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Join(ctx, member(t, tokenURL, 4))
	var used *UsedTokenError
	if !errors.Is(err, ErrTokenUsed) || !errors.As(err, &used) {
		t.Fatalf("fourth member: %v, want a *UsedTokenError", err)
	}
	if !slices.Equal(ids(used.Members), ids(results[0].Members)) || used.Size != 3 {
		t.Errorf("refusal names %x (size %d), founders are %x", ids(used.Members), used.Size, ids(results[0].Members))
	}
	for _, want := range []string{tokenURL, names(results[0].Members), "m4", "fresh token", "-peers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}
	// Refused before registering: the service saw no write at all.
	after, err := c.Get(ctx, key, client.GetOptions{})
	if err != nil || after.Index != before.Index {
		t.Errorf("service index %d before the refused Join, %v after (%v)", before.Index, after, err)
	}
}

// A member that registers while the last place is taken concurrently
// finds itself after the founders: it is refused and removes its own
// registration.
func TestJoinLosesRaceForLastPlace(t *testing.T) {
	base := startService(t)
	c := keysClient(t, base)
	key, _ := makeToken(t, base, "race", 2)
	if _, err := c.Create(context.Background(), key+"/a1", "m1=http://127.0.0.1:17001"); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	// m3 saw one registration and a free place; m2 takes it just before
	// m3's registration arrives.
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/a3") {
			if _, err := c.Create(r.Context(), key+"/a2", "m2=http://127.0.0.1:17002"); err != nil {
				t.Error(err)
			}
		}
		proxy.ServeHTTP(w, r)
	}))

	_, err := Join(context.Background(), member(t, srv+"/v2/keys"+key, 3))
	if !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("Join: %v, want ErrTokenUsed", err)
	}
	if got := registrations(t, c, key); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("registry: %v, want a1 a2 (the loser removed itself)", got)
	}
}

// A formed token stays used after registrations are deleted: _state
// records it.
func TestJoinUsedTokenRefusedAfterRegistrationsDeleted(t *testing.T) {
	base := startService(t)
	c := keysClient(t, base)
	key, tokenURL := makeToken(t, base, "used", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := joinAsync(ctx, member(t, tokenURL, 1)), joinAsync(ctx, member(t, tokenURL, 2))
	for _, ch := range []<-chan outcome{a, b} {
		if o := <-ch; o.err != nil {
			t.Fatal(o.err)
		}
	}
	if _, err := c.Delete(ctx, key+"/a2", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Join(ctx, member(t, tokenURL, 3))
	if !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("Join on a used token: %v, want ErrTokenUsed", err)
	}
	if got := registrations(t, c, key); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("registry: %v, the refused member registered", got)
	}
}

// Without _config/size the first member starts the cluster alone and each
// later one joins those registered before it (etcd 0.4).
func TestJoinWithoutSize(t *testing.T) {
	base := startService(t)
	key, tokenURL := makeToken(t, base, "nosize", 0)

	r1 := mustJoin(t, member(t, tokenURL, 1))
	if !r1.Bootstrap || !slices.Equal(ids(r1.Members), []uint64{0xa1}) || r1.Size != 0 {
		t.Errorf("first member: %+v, want Bootstrap alone", r1)
	}
	r2 := mustJoin(t, member(t, tokenURL, 2))
	if r2.Bootstrap || !slices.Equal(ids(r2.Members), []uint64{0xa1}) {
		t.Errorf("second member: %+v, want to join m1", r2)
	}
	r3 := mustJoin(t, member(t, tokenURL, 3))
	if r3.Bootstrap || !slices.Equal(ids(r3.Members), []uint64{0xa1, 0xa2}) {
		t.Errorf("third member: %+v, want to join m1, m2", r3)
	}
	state, err := keysClient(t, base).Get(context.Background(), key+"/_state", client.GetOptions{})
	if err != nil || state.Node.Value != "started" {
		t.Errorf("_state: %v, %v", state, err)
	}
}

// A member registering again (a restart before its data dir was written)
// gets the answer it got the first time, under its first ID, and the
// registrations (for the caller to find whether its cluster runs).
func TestJoinAgainIsTheSameMember(t *testing.T) {
	base := startService(t)
	c := keysClient(t, base)
	key, tokenURL := makeToken(t, base, "again", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := joinAsync(ctx, member(t, tokenURL, 1)), joinAsync(ctx, member(t, tokenURL, 2))
	var first []Result
	for _, ch := range []<-chan outcome{a, b} {
		o := <-ch
		if o.err != nil {
			t.Fatal(o.err)
		}
		first = append(first, o.res)
	}

	again := mustJoin(t, member(t, tokenURL, 1))
	checkFounders(t, []Result{first[0], again}, []uint64{0xa1, 0xa2})

	// A fresh random ID, same name and peer URLs: still m1.
	cfg := member(t, tokenURL, 1)
	cfg.ID = 0xbeef
	renamed := mustJoin(t, cfg)
	if renamed.ID != 0xa1 {
		t.Errorf("re-registration with a new ID: Result.ID %x, want the registered a1", renamed.ID)
	}
	var ids []uint64
	for _, m := range renamed.Registered {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids) // registration order: a1 and a2 raced
	if !slices.Equal(ids, []uint64{0xa1, 0xa2}) || first[0].Registered != nil || again.Registered != nil {
		t.Errorf("Registered: %x after registering again, %v and %v when not", ids, first[0].Registered, again.Registered)
	}
	checkFounders(t, []Result{first[0], renamed}, []uint64{0xa1, 0xa2})
	if got := registrations(t, c, key); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("registry: %v", got)
	}
}

// Another member's ID or name is not this member.
func TestJoinDuplicates(t *testing.T) {
	base := startService(t)
	_, tokenURL := makeToken(t, base, "dups", 0)
	mustJoin(t, member(t, tokenURL, 1))

	sameID := member(t, tokenURL, 2)
	sameID.ID = 0xa1
	if _, err := Join(context.Background(), sameID); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("same ID, other member: %v, want ErrDuplicateID", err)
	}
	sameName := member(t, tokenURL, 2)
	sameName.Name = "m1"
	if _, err := Join(context.Background(), sameName); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("same name, other peer URLs: %v, want ErrDuplicateName", err)
	}
}

// The discovery service is down when the member starts: Join retries with
// growing pauses and succeeds once the service is up.
func TestJoinRetriesUntilServiceUp(t *testing.T) {
	base := startService(t)
	_, tokenURL := makeToken(t, base, "later", 1)
	ln, addr := reserveAddr(t)
	down := strings.Replace(tokenURL, base, "http://"+addr, 1)

	cfg := member(t, down, 1)
	rec := newRetryRecorder(cfg.Logger.Handler(), 3)
	cfg.Logger = slog.New(rec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := joinAsync(ctx, cfg)
	select {
	case <-rec.reached:
	case o := <-done:
		t.Fatalf("Join returned while the service was down: %+v, %v", o.res, o.err)
	}

	// Up: a proxy to the service on the address Join keeps trying.
	target, _ := url.Parse(base)
	serveOn(t, ln(), httputil.NewSingleHostReverseProxy(target))
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !o.res.Bootstrap || !slices.Equal(ids(o.res.Members), []uint64{0xa1}) {
		t.Errorf("result %+v", o.res)
	}
	pauses := rec.pauses()
	if len(pauses) < 3 {
		t.Fatalf("%d retries logged", len(pauses))
	}
	for i := 1; i < len(pauses); i++ {
		if pauses[i] < pauses[i-1] {
			t.Errorf("pauses %v: not growing", pauses)
		}
	}
}

// A service that answers 5xx is retried too.
func TestJoinRetriesServerErrors(t *testing.T) {
	base := startService(t)
	_, tokenURL := makeToken(t, base, "flaky", 1)
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var failures atomicCounter
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failures.add() <= 3 {
			http.Error(w, `{"errorCode":300,"message":"Raft Internal Error","cause":"","index":0}`, http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	res := mustJoin(t, member(t, strings.Replace(tokenURL, base, srv, 1), 1))
	if !res.Bootstrap {
		t.Errorf("result %+v", res)
	}
}

// Retries end with the caller's context, with the last failure in the
// error.
func TestJoinRetriesBoundedByContext(t *testing.T) {
	_, addr := reserveAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Join(ctx, member(t, "http://"+addr+"/v2/keys/_etcd/registry/x", 1))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Join against nothing: %v, want the deadline and the last error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Join took %v after a 300ms deadline", time.Since(start))
	}
}

// While waiting for members, Join ends with the context and says how far
// it got.
func TestJoinWaitBoundedByContext(t *testing.T) {
	base := startService(t)
	_, tokenURL := makeToken(t, base, "wait", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := Join(ctx, member(t, tokenURL, 1))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 registered: m1") {
		t.Errorf("Join with nobody else: %v", err)
	}
}

// A member waiting for others long-polls the registry (wait=true from the
// index of its last read) instead of reading it over and over.
func TestJoinWatchesWhileWaiting(t *testing.T) {
	base := startService(t)
	c := keysClient(t, base)
	key, _ := makeToken(t, base, "watch", 2)
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	watching := make(chan url.Values, 1)
	var reads atomicCounter
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Get("wait") == "true":
			select {
			case watching <- q:
			default:
			}
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/watch"):
			reads.add()
		}
		proxy.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := joinAsync(ctx, member(t, srv+"/v2/keys"+key, 1))

	select {
	case q := <-watching:
		if q.Get("recursive") != "true" || q.Get("waitIndex") == "" {
			t.Errorf("watch %v: want recursive=true and a waitIndex", q)
		}
	case o := <-done:
		t.Fatalf("Join returned alone on a size-2 token: %+v, %v", o.res, o.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no watch within 10s of starting to wait")
	}
	if _, err := c.Create(ctx, key+"/a2", "m2=http://127.0.0.1:17002"); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o.err != nil || !o.res.Bootstrap || len(o.res.Members) != 2 {
		t.Fatalf("Join: %+v, %v", o.res, o.err)
	}
	if n := reads.n.Load(); n > 3 {
		t.Errorf("%d reads of the registry, want 3 (before and after registering, after the one change)", n)
	}
}

// A registration whose answer was lost is retried, finds itself already
// there and goes on; one made meanwhile by another member under the same
// ID is refused.
func TestJoinRegistrationRaces(t *testing.T) {
	base := startService(t)
	c := keysClient(t, base)
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)

	t.Run("answer lost", func(t *testing.T) {
		key, _ := makeToken(t, base, "lost", 1)
		var puts atomicCounter
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/a1") && puts.add() == 1 {
				// Written, but the member hears a gateway error.
				proxy.ServeHTTP(httptest.NewRecorder(), r)
				http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		res := mustJoin(t, member(t, srv+"/v2/keys"+key, 1))
		if !res.Bootstrap || res.ID != 0xa1 || puts.n.Load() != 2 {
			t.Errorf("result %+v after %d PUTs, want Bootstrap as a1 after 2", res, puts.n.Load())
		}
	})
	t.Run("same ID, other member", func(t *testing.T) {
		key, _ := makeToken(t, base, "taken", 2)
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/a1") {
				if _, err := c.Create(r.Context(), key+"/a1", "other=http://127.0.0.1:9"); err != nil {
					t.Error(err)
				}
			}
			proxy.ServeHTTP(w, r)
		}))
		if _, err := Join(context.Background(), member(t, srv+"/v2/keys"+key, 1)); !errors.Is(err, ErrDuplicateID) {
			t.Errorf("Join: %v, want ErrDuplicateID", err)
		}
	})
}
