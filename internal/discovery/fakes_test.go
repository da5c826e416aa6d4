package discovery

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-kv/arbor/internal/testutil"
)

// serve runs h on a loopback test server until the test ends and returns
// its URL.
func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveOn runs h on ln until the test ends.
func serveOn(t *testing.T, ln net.Listener, h http.Handler) {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}

// reserveAddr picks a loopback address nothing listens on yet; listen
// starts listening there.
func reserveAddr(t *testing.T) (listen func() net.Listener, addr string) {
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
	return func() net.Listener {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		return ln
	}, addr
}

// retryRecorder is a slog.Handler that passes records on and notes the
// pause of each retry; reached is closed at the enough-th retry.
type retryRecorder struct {
	next slog.Handler
	*retryState
}

type retryState struct {
	enough  int
	reached chan struct{}

	mu     sync.Mutex
	paused []time.Duration // guarded by mu
}

func newRetryRecorder(next slog.Handler, enough int) *retryRecorder {
	return &retryRecorder{next: next, retryState: &retryState{enough: enough, reached: make(chan struct{})}}
}

func (r *retryRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *retryRecorder) Handle(ctx context.Context, rec slog.Record) error {
	if strings.Contains(rec.Message, "retrying") {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "retry_in" {
				r.add(a.Value.Duration())
			}
			return true
		})
	}
	return r.next.Handle(ctx, rec)
}

func (s *retryState) add(d time.Duration) {
	s.mu.Lock()
	s.paused = append(s.paused, d)
	n := len(s.paused)
	s.mu.Unlock()
	if n == s.enough {
		close(s.reached)
	}
}

func (s *retryState) pauses() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.paused...)
}

func (r *retryRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &retryRecorder{next: r.next.WithAttrs(as), retryState: r.retryState}
}

func (r *retryRecorder) WithGroup(name string) slog.Handler {
	return &retryRecorder{next: r.next.WithGroup(name), retryState: r.retryState}
}

// atomicCounter counts calls from several handler goroutines.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add() int64 { return c.n.Add(1) }
