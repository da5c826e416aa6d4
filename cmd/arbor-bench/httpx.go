package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// newTransport returns the one transport a group of clients shares. conns is
// the number of goroutines that may hold a request open at once against a
// single endpoint; both limits are at least that, so no goroutine ever waits
// for a connection and every connection stays alive between requests (a
// benchmark that re-dials measures the dialer, not the server). Proxies from
// the environment are ignored on purpose: traffic goes straight to the
// endpoints given. tc verifies https endpoints (nil: the system's roots).
func newTransport(conns int, tc *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:           nil,
		TLSClientConfig: tc,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          0, // no global cap; the per-host caps below rule
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0,
		ExpectContinueTimeout: 0,
	}
}

// errBodyLimit caps how much of an error response we keep to find its code.
const errBodyLimit = 64 << 10

// doHTTP sends one request and consumes the response body, which the
// transport needs before it can reuse the connection. A 2xx body is returned
// only when keep is set; a non-2xx body is always returned (truncated to
// errBodyLimit) so the caller can classify it. form, when not nil, is sent as
// an urlencoded form.
func doHTTP(ctx context.Context, c *http.Client, method, url string, form []byte, keep bool) (int, []byte, error) {
	var body io.Reader
	if form != nil {
		body = bytes.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 && !keep {
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil, err
	}
	r := io.Reader(resp.Body)
	if resp.StatusCode/100 != 2 {
		r = io.LimitReader(resp.Body, errBodyLimit)
	}
	data, err := io.ReadAll(r)
	if resp.StatusCode/100 != 2 {
		// Drain whatever is left past the limit so the connection survives.
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, data, err
}

// apiError is the part of an etcd v2 error body we use.
type apiError struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause"`
	Index     uint64 `json:"index"`
}

// parseAPIError decodes an etcd error body; ok is false when the body is not
// one (a proxy's HTML page, an empty body).
func parseAPIError(body []byte) (apiError, bool) {
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.ErrorCode == 0 {
		return apiError{}, false
	}
	return e, true
}

// statusKind names a non-2xx response for the error tally: "http_404:100"
// for an etcd error with code 100, "http_502" when the body carries no code.
func statusKind(status int, body []byte) string {
	if e, ok := parseAPIError(body); ok {
		return fmt.Sprintf("http_%d:%d", status, e.ErrorCode)
	}
	return fmt.Sprintf("http_%d", status)
}

// transportKind names a request that got no response at all.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "conn"
	}
}

// errCounts tallies failures by kind. The zero value is ready; it is not safe
// for concurrent use (see syncErrCounts).
type errCounts map[string]int64

func (e errCounts) add(kind string) { e[kind]++ }

func (e errCounts) merge(o errCounts) {
	for k, v := range o {
		e[k] += v
	}
}

func (e errCounts) total() int64 {
	var n int64
	for _, v := range e {
		n += v
	}
	return n
}

// String lists the kinds in a stable order, e.g. "conn=2 http_404:100=5".
func (e errCounts) String() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, e[k])
	}
	return b.String()
}

// syncErrCounts is an errCounts shared by goroutines that fail rarely
// (watchers, the watch writer).
type syncErrCounts struct {
	mu sync.Mutex // guards m
	m  errCounts
}

func (s *syncErrCounts) add(kind string) {
	s.mu.Lock()
	if s.m == nil {
		s.m = errCounts{}
	}
	s.m.add(kind)
	s.mu.Unlock()
}

func (s *syncErrCounts) snapshot() errCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := errCounts{}
	out.merge(s.m)
	return out
}

// sleepCtx waits d or until ctx ends, whichever is first. The tool backs off
// after a failed request this way so a dead endpoint does not turn the
// clients into a busy loop on a machine shared with the server under test.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// keysURL is the v2 keys URL of path (which starts with "/") on endpoint base.
func keysURL(base, path string) string {
	return base + "/v2/keys" + path
}
