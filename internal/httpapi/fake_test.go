package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/store"
)

// fakeBackend answers with whatever its function fields return and records
// what it was asked. Unset functions fail the request with a plain error
// (a 300 for the client) so a test notices an unexpected call.
type fakeBackend struct {
	mu       sync.Mutex
	writes   []*store.Request
	gets     []getCall
	noRecord bool // the fuzz test makes too many calls to keep

	writeFn  func(ctx context.Context, r *store.Request) (*store.Event, error)
	getFn    func(ctx context.Context, c getCall) (*store.Event, error)
	watchFn  func(path string, recursive, stream bool, since uint64) (*store.Watcher, error)
	healthFn func(ctx context.Context) error

	status      Status
	members     []Member
	selfStats   any
	leaderStats any
	storeStats  store.Stats
}

type getCall struct {
	path                      string
	recursive, sorted, quorum bool
}

var errUnexpected = errors.New("fake: unexpected call")

func (f *fakeBackend) Write(ctx context.Context, r *store.Request) (*store.Event, error) {
	f.mu.Lock()
	if !f.noRecord {
		f.writes = append(f.writes, r)
	}
	fn := f.writeFn
	f.mu.Unlock()
	if fn == nil {
		return nil, errUnexpected
	}
	return fn(ctx, r)
}

func (f *fakeBackend) Get(ctx context.Context, path string, recursive, sorted, quorum bool) (*store.Event, error) {
	c := getCall{path, recursive, sorted, quorum}
	f.mu.Lock()
	if !f.noRecord {
		f.gets = append(f.gets, c)
	}
	fn := f.getFn
	f.mu.Unlock()
	if fn == nil {
		return nil, errUnexpected
	}
	return fn(ctx, c)
}

func (f *fakeBackend) Watch(path string, recursive, stream bool, since uint64) (*store.Watcher, error) {
	if f.watchFn == nil {
		return nil, errUnexpected
	}
	return f.watchFn(path, recursive, stream, since)
}

func (f *fakeBackend) Status() Status          { return f.status }
func (f *fakeBackend) StoreStats() store.Stats { return f.storeStats }
func (f *fakeBackend) SelfStats() any          { return f.selfStats }
func (f *fakeBackend) LeaderStats() (any, bool) {
	return f.leaderStats, f.leaderStats != nil
}
func (f *fakeBackend) Members() []Member { return f.members }

func (f *fakeBackend) MemberAdd(_ context.Context, peerURLs []string) (Member, error) {
	for _, m := range f.members {
		for _, u := range peerURLs {
			if slices.Contains(m.PeerURLs, u) {
				return Member{}, fmt.Errorf("adding: %w", ErrPeerURLExists)
			}
		}
	}
	m := Member{ID: uint64(0x100 + len(f.members)), PeerURLs: peerURLs}
	f.members = append(f.members, m)
	return m, nil
}

func (f *fakeBackend) MemberRemove(_ context.Context, id uint64) error {
	i := slices.IndexFunc(f.members, func(m Member) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("removing: %w", ErrMemberNotFound)
	}
	f.members = slices.Delete(f.members, i, i+1)
	return nil
}

func (f *fakeBackend) MemberUpdate(_ context.Context, id uint64, peerURLs []string) error {
	i := slices.IndexFunc(f.members, func(m Member) bool { return m.ID == id })
	if i < 0 {
		return fmt.Errorf("updating: %w", ErrMemberNotFound)
	}
	f.members[i].PeerURLs = peerURLs
	return nil
}
func (f *fakeBackend) Health(ctx context.Context) error {
	if f.healthFn == nil {
		return nil
	}
	return f.healthFn(ctx)
}

func (f *fakeBackend) recordedWrites() []*store.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*store.Request(nil), f.writes...)
}

func (f *fakeBackend) recordedGets() []getCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]getCall(nil), f.gets...)
}

// testNow is the fixed clock of every test.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func testOptions() Options {
	return Options{
		Clock:   func() time.Time { return testNow },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version: "0.0.0-test",
	}
}

// do runs one request through h in-process. A non-empty body is sent as a
// form unless a Content-Type is given in hdr ("Name: value" strings).
func do(t testing.TB, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, kv := range hdr {
		k, v, _ := strings.Cut(kv, ": ")
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
