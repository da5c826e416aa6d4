package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

// guardedBackend is a storeBackend whose member a test can cut off from its
// leader and reconnect (a WatchGuard).
type guardedBackend struct {
	*storeBackend
	mu     sync.Mutex
	epoch  context.Context // guarded by mu
	cancel context.CancelCauseFunc
}

func newGuardedBackend() *guardedBackend {
	g := &guardedBackend{storeBackend: newStoreBackend(store.Config{})}
	g.reconnect()
	return g
}

func (g *guardedBackend) reconnect() {
	g.mu.Lock()
	g.epoch, g.cancel = context.WithCancelCause(context.Background())
	g.mu.Unlock()
}

func (g *guardedBackend) cut(err error) {
	g.mu.Lock()
	g.cancel(err)
	g.mu.Unlock()
}

func (g *guardedBackend) WatchContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	g.mu.Lock()
	epoch := g.epoch
	g.mu.Unlock()
	if err := context.Cause(epoch); err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(epoch, func() { cancel(context.Cause(epoch)) })
	return wctx, func() { stop(); cancel(context.Canceled) }, nil
}

// A member cut off from its leader ends its watches: a stream with the
// error as its last line, a long poll with an empty body; new watches get
// the error as a 500 at once, reads still work, and once the member is
// back in touch watches are served again.
func TestWatchEndsWhenCutOff(t *testing.T) {
	g := newGuardedBackend()
	h := New(g, testOptions())
	done := make(chan struct{}, 16)
	srv := httptest.NewServer(tracked(h, done))
	defer srv.Close()
	ctx := testCtx(t)

	stream := openWatch(t, ctx, srv, "/v2/keys/foo?wait=true&stream=true")
	defer stream.Body.Close()
	poll := openWatch(t, ctx, srv, "/v2/keys/bar?wait=true")
	defer poll.Body.Close()
	if stream.StatusCode != 200 || poll.StatusCode != 200 {
		t.Fatalf("watch status: stream %d, poll %d", stream.StatusCode, poll.StatusCode)
	}
	put := do(t, h, "PUT", "/v2/keys/foo", "value=1")
	lines := bufio.NewReader(stream.Body)
	if line, err := lines.ReadString('\n'); err != nil || line != put.Body.String() {
		t.Fatalf("stream's first line %q (%v), want %q", line, err, put.Body)
	}

	cause := apierr.New(apierr.RaftInternal, "etcdserver: no leader (lost contact with leader 2a 600ms ago)", 1)
	g.cut(cause)
	want, err := json.Marshal(cause)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(lines)
	if err != nil || string(rest) != string(want)+"\n" {
		t.Fatalf("stream ended with %q (%v), want the error line %s", rest, err, want)
	}
	if body, err := io.ReadAll(poll.Body); err != nil || len(body) != 0 {
		t.Fatalf("long poll ended with %q (%v), want an empty body", body, err)
	}
	receive(t, done, 2)
	if got := g.watchers(); got != 0 {
		t.Fatalf("%d watchers left", got)
	}

	refused := do(t, h, "GET", "/v2/keys/bar?wait=true", "")
	wantResponse(t, refused, 500, map[string]string{"X-Etcd-Index": "1"},
		`{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: no leader (lost contact with leader 2a 600ms ago)","index":1}`+"\n")
	if read := do(t, h, "GET", "/v2/keys/foo", ""); read.Code != 200 {
		t.Fatalf("a plain read on a cut-off member: %d %s", read.Code, read.Body)
	}

	g.reconnect()
	again := openWatch(t, ctx, srv, "/v2/keys/bar?wait=true")
	defer again.Body.Close()
	put = do(t, h, "PUT", "/v2/keys/bar", "value=2")
	if body, err := io.ReadAll(again.Body); err != nil || string(body) != put.Body.String() {
		t.Fatalf("watch after reconnecting got %q (%v), want %q", body, err, put.Body)
	}
}

// With a flush interval, a quiet stream gets its next event at once, and
// events that follow within the interval wait for it and arrive together;
// after such a batch and a quiet spell, the next event goes at once again.
func TestStreamFlushInterval(t *testing.T) {
	const interval = time.Second
	opts := testOptions()
	opts.StreamFlushInterval = interval
	h := New(newStoreBackend(store.Config{}), opts)
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := testCtx(t)

	start := time.Now()
	stream := openWatch(t, ctx, srv, "/v2/keys/foo?wait=true&stream=true")
	defer stream.Body.Close()
	first := do(t, h, "PUT", "/v2/keys/foo", "value=1")
	lines := bufio.NewReader(stream.Body)
	if line, err := lines.ReadString('\n'); err != nil || line != first.Body.String() {
		t.Fatalf("first line %q (%v), want %q", line, err, first.Body)
	}
	if d := time.Since(start); d >= interval*3/4 {
		t.Fatalf("a quiet stream's first event took %v (interval %v)", d, interval)
	}
	flushed := time.Now()
	second := do(t, h, "PUT", "/v2/keys/foo", "value=2")
	third := do(t, h, "PUT", "/v2/keys/foo", "value=3")
	for _, want := range []string{second.Body.String(), third.Body.String()} {
		if line, err := lines.ReadString('\n'); err != nil || line != want {
			t.Fatalf("line %q (%v), want %q", line, err, want)
		}
	}
	if d := time.Since(flushed); d < interval/2 {
		t.Fatalf("events right after a write arrived after %v, want them held for about %v", d, interval)
	}
	time.Sleep(interval + interval/5)
	quiet := time.Now()
	fourth := do(t, h, "PUT", "/v2/keys/foo", "value=4")
	if line, err := lines.ReadString('\n'); err != nil || line != fourth.Body.String() {
		t.Fatalf("line after a quiet spell %q (%v), want %q", line, err, fourth.Body)
	}
	if d := time.Since(quiet); d >= interval*3/4 {
		t.Fatalf("an event after a batch and a quiet spell took %v (interval %v)", d, interval)
	}
}
