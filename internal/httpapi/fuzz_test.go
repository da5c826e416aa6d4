package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/arbor-kv/arbor/internal/apierr"
	"github.com/arbor-kv/arbor/internal/store"
)

// FuzzParseKeyRequest feeds arbitrary methods, URLs and bodies to the
// parser and to the whole handler (over a backend that fails every call
// with a client error). Its seeds are the parse table, so plain `go test`
// runs them.
func FuzzParseKeyRequest(f *testing.F) {
	for _, c := range parseCases() {
		f.Add(c.method, c.target, c.body, c.ctype)
	}
	f.Add("PUT", "/v2/keys/a?ttl=5&refresh=true", strings.Repeat("x", 100), "")
	f.Add("OPTIONS", "/v2/keys/a", "", "")
	f.Add("PATCH", "/version", "", "")
	f.Add("GET", "/v2/members/", "", "")

	const limit = 64
	fb := &fakeBackend{
		noRecord: true,
		writeFn: func(_ context.Context, r *store.Request) (*store.Event, error) {
			return nil, apierr.New(apierr.KeyNotFound, r.Path, 1)
		},
		getFn: func(_ context.Context, c getCall) (*store.Event, error) {
			return nil, apierr.New(apierr.KeyNotFound, c.path, 1)
		},
		watchFn: func(string, bool, bool, uint64) (*store.Watcher, error) {
			return nil, apierr.New(apierr.EventIndexClear, "", 1)
		},
		leaderStats: map[string]string{"leader": "1"},
		selfStats:   map[string]string{"name": "a"},
	}
	opts := testOptions()
	opts.MaxRequestBytes = limit
	h := New(fb, opts)

	f.Fuzz(func(t *testing.T, method, target, body, ctype string) {
		newReq := func() *http.Request {
			req, err := http.NewRequest(method, "http://arbor.test"+target, strings.NewReader(body))
			if err != nil {
				return nil
			}
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ctype)
			return req
		}
		req := newReq()
		if req == nil {
			t.Skip("not a valid request")
		}
		req.Body = http.MaxBytesReader(httptest.NewRecorder(), req.Body, limit)
		kr, err := parseKeyRequest(req, testNow)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *apierr.Error", err, err)
			}
			if e.Code < 200 || e.Code > 299 || e.StatusCode() != http.StatusBadRequest || e.Index != 0 {
				t.Fatalf("error %v: want a 2xx code, status 400, index 0", e)
			}
		} else {
			checkParsed(t, req.Method, kr)
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newReq())
		checkFuzzResponse(t, method, target, rec)

		// Over a real store, seeded with a key, a directory, a hidden key
		// and an in-order key. The request's context is already over, so a
		// watch answers at once with what the history holds.
		sb := newStoreBackend(store.Config{HistorySize: 8})
		hs := New(sb, opts)
		for _, w := range [][3]string{{"PUT", "/v2/keys/a", "value=1"}, {"PUT", "/v2/keys/d/b", "value=2"},
			{"PUT", "/v2/keys/_h", "value=3"}, {"POST", "/v2/keys/q", "value=4"}} {
			if rec := do(t, hs, w[0], w[1], w[2]); rec.Code != 201 {
				t.Fatalf("seeding %v: %d %s", w, rec.Code, rec.Body)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rec = httptest.NewRecorder()
		hs.ServeHTTP(rec, newReq().WithContext(ctx))
		checkFuzzResponse(t, method, target, rec)
	})
}

// checkFuzzResponse: no request is the server's fault, and a JSON answer
// is JSON (one value per line for watches).
func checkFuzzResponse(t *testing.T, method, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s %s: status %d: %s", method, target, rec.Code, rec.Body)
	}
	if rec.Header().Get("Content-Type") != "application/json" || method == http.MethodHead {
		return
	}
	for line := range strings.Lines(rec.Body.String()) {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, target, rec.Body, err)
		}
	}
}

func checkParsed(t *testing.T, method string, kr *keyRequest) {
	t.Helper()
	if kr.method != method {
		t.Fatalf("method %q, want %q", kr.method, method)
	}
	if !strings.HasPrefix(kr.key, "/") || path.Clean(kr.key) != kr.key {
		t.Fatalf("key %q is not clean and absolute", kr.key)
	}
	if kr.wait && method != http.MethodGet {
		t.Fatalf("wait accepted on %s", method)
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		if kr.write != nil {
			t.Fatalf("%s built a write", method)
		}
		return
	}
	w := kr.write
	if w == nil {
		t.Fatalf("%s built no write", method)
	}
	if w.Path != kr.key || w.Time != testNow.UnixNano() || w.Recursive != kr.recursive {
		t.Fatalf("write %+v does not match request %+v", w, kr)
	}
	if w.Expiration != 0 && w.Expiration < w.Time {
		t.Fatalf("expiration %d before now %d", w.Expiration, w.Time)
	}
	if w.Refresh && (w.Expiration == 0 || w.Val != "") {
		t.Fatalf("refresh without ttl or with a value: %+v", w)
	}
}
