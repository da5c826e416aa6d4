package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

// Over a real connection, a body past the limit is refused at once: the
// server answers 210 and closes the connection rather than read (or wait
// for) the rest, and nothing reaches the backend.
func TestBodyLimitOverNetwork(t *testing.T) {
	fb := &fakeBackend{writeFn: func(_ context.Context, r *store.Request) (*store.Event, error) {
		return nil, apierr.New(apierr.NodeExist, r.Path, 1)
	}}
	opts := testOptions()
	opts.MaxRequestBytes = 1024
	srv := httptest.NewServer(New(fb, opts))
	defer srv.Close()

	for _, size := range []int{1025, 4 << 20} {
		// The deadline only bounds a failure; a passing run never waits.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		body := "value=" + strings.Repeat("a", size-len("value="))
		req, err := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/v2/keys/big", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := srv.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatalf("size %d: %v", size, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		if res.StatusCode != 400 || !strings.Contains(string(b), `"errorCode":210`) || !res.Close {
			t.Fatalf("size %d: status %d close=%v body %s", size, res.StatusCode, res.Close, b)
		}
	}
	if n := len(fb.recordedWrites()); n != 0 {
		t.Fatalf("%d oversized writes reached the backend", n)
	}
}

// A long poll outlives the server's write timeout: -http-write-timeout
// guards ordinary requests, not watches that rightly wait for hours.
func TestWatchOutlivesWriteTimeout(t *testing.T) {
	b := newStoreBackend(store.Config{})
	srv := httptest.NewUnstartedServer(New(b, testOptions()))
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		res, err := srv.Client().Get(srv.URL + "/v2/keys/slow?wait=true")
		if err != nil {
			done <- result{err: err}
			return
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{string(body), err}
	}()
	for b.watchers() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Wait past the write timeout before the event arrives.
	time.Sleep(300 * time.Millisecond)
	if _, err := b.Write(context.Background(), &store.Request{Method: store.MethodPut, Path: "/slow", Val: "late"}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !strings.Contains(r.body, `"value":"late"`) {
		t.Fatalf("watch cut by the write timeout: %q %v", r.body, r.err)
	}
}

// A directory listing too large to build under the store's lock is sent
// as it is encoded, chunked, with the same bytes a built one would have;
// HEAD gets the length GET sends.
func TestLargeListingStreamed(t *testing.T) {
	b := newStoreBackend(store.Config{})
	const n = 12_000 // over the store's budget for listing under its lock
	for i := range n {
		r := &store.Request{Method: store.MethodPut, Path: fmt.Sprintf("/big/d%d/k%05d", i%7, i), Val: "v"}
		if _, err := b.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	want, err := b.st.Get("/big", true, true, testNow)
	if err != nil {
		t.Fatal(err)
	}
	wantBody := want.AppendJSON(nil)
	srv := httptest.NewServer(New(b, testOptions()))
	defer srv.Close()

	res, err := srv.Client().Get(srv.URL + "/v2/keys/big?recursive=true")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.ContentLength != -1 || len(res.TransferEncoding) == 0 {
		t.Errorf("status %d, length %d, transfer encoding %v: want 200, chunked", res.StatusCode, res.ContentLength, res.TransferEncoding)
	}
	if !bytes.Equal(body, wantBody) {
		t.Errorf("streamed listing (%d bytes) differs from the built one (%d bytes)", len(body), len(wantBody))
	}
	if got := res.Header.Get("X-Etcd-Index"); got != fmt.Sprint(n) {
		t.Errorf("X-Etcd-Index %q, want %d", got, n)
	}

	res, err = srv.Client().Head(srv.URL + "/v2/keys/big?recursive=true")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.ContentLength != int64(len(wantBody)) {
		t.Errorf("HEAD: status %d, length %d, want 200 and %d", res.StatusCode, res.ContentLength, len(wantBody))
	}
}
