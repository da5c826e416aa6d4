package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbor-kv/arbor/client"
)

// registry is a token directory reached over the v2 keys API at the token
// URL itself: etcd 2 sends its requests to the URL and below it, so a token
// served behind a proxy path works as well as a /v2/keys/... URL.
type registry struct {
	url     url.URL // the token URL; Path without a trailing slash
	hc      *http.Client
	timeout time.Duration // bounds each request but the long polls
}

// snapshot is the registry as one GET saw it.
type snapshot struct {
	// members are the registrations in registration (createdIndex) order.
	members []Member
	// index is the discovery service's X-Etcd-Index at the read: a watch
	// from index+1 misses nothing that happened after it.
	index uint64
}

// errPollEnded is a long poll the service ended without an event.
var errPollEnded = errors.New("discovery: long poll ended without an event")

// call sends one request for sub (a path below the token, "" for the
// token itself) and decodes the v2 answer. A v2 error wraps a
// *client.Error; connection failures, timeouts and 5xx answers are
// *unavailableError.
func (r *registry) call(ctx context.Context, method, sub string, query, form url.Values, longPoll bool) (*client.Response, error) {
	u := r.url
	if sub != "" {
		u.Path += "/" + sub
	}
	u.RawPath, u.RawQuery = "", query.Encode()
	if !longPoll && r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, &unavailableError{fmt.Errorf("discovery: %s %s: %w", method, u.Redacted(), err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &unavailableError{fmt.Errorf("discovery: %s %s: reading the answer: %w", method, u.Redacted(), err)}
	}
	return decode(method, u, resp, raw)
}

// decode turns one HTTP answer into a v2 response or an error.
func decode(method string, u url.URL, resp *http.Response, raw []byte) (*client.Response, error) {
	var e client.Error
	if resp.StatusCode >= 400 && json.Unmarshal(raw, &e) == nil && e.Code != 0 {
		err := fmt.Errorf("discovery: %s %s: %w", method, u.Redacted(), &e)
		if resp.StatusCode >= 500 {
			return nil, &unavailableError{err}
		}
		return nil, err
	}
	if resp.StatusCode >= 500 {
		return nil, &unavailableError{fmt.Errorf("discovery: %s %s: %s", method, u.Redacted(), resp.Status)}
	}
	if resp.StatusCode == http.StatusOK && len(bytes.TrimSpace(raw)) == 0 {
		return nil, errPollEnded
	}
	var out client.Response
	if (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated) ||
		json.Unmarshal(raw, &out) != nil || out.Node == nil {
		return nil, fmt.Errorf("%w: %s %s answered %s: %.200q", ErrBadEndpoint, method, u.Redacted(), resp.Status, raw)
	}
	out.Index, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	return &out, nil
}

// size reads _config/size: 0 when the token has none (etcd 0.4 style).
func (r *registry) size(ctx context.Context) (int, error) {
	resp, err := r.call(ctx, http.MethodGet, "_config/size", nil, nil, false)
	var e *client.Error
	if errors.As(err, &e) && e.Code == client.CodeKeyNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(resp.Node.Value))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: %q at %s/_config/size", ErrBadSize, resp.Node.Value, r.url.Redacted())
	}
	return n, nil
}

// read lists the registrations. Hidden entries (_config, _state) are not
// members; the service leaves them out of listings anyway.
func (r *registry) read(ctx context.Context) (snapshot, error) {
	resp, err := r.call(ctx, http.MethodGet, "", url.Values{"recursive": {"true"}, "sorted": {"true"}}, nil, false)
	var e *client.Error
	if errors.As(err, &e) && e.Code == client.CodeKeyNotFound {
		// No registration yet created the directory.
		return snapshot{index: e.Index}, nil
	}
	if err != nil {
		return snapshot{}, err
	}
	if !resp.Node.Dir {
		return snapshot{}, fmt.Errorf("%w: %s is a key, not a directory", ErrBadEndpoint, r.url.Redacted())
	}
	s := snapshot{index: resp.Index}
	for _, n := range resp.Node.Nodes {
		base := n.Key[strings.LastIndex(n.Key, "/")+1:]
		if n.Dir || strings.HasPrefix(base, "_") {
			continue
		}
		m, err := parseRegistration(base, n.Value, n.CreatedIndex)
		if err != nil {
			return snapshot{}, err
		}
		s.members = append(s.members, m)
	}
	slices.SortStableFunc(s.members, func(a, b Member) int {
		switch {
		case a.Index < b.Index:
			return -1
		case a.Index > b.Index:
			return 1
		}
		return 0
	})
	return s, nil
}

// create writes sub only if it does not exist yet (prevExist=false).
func (r *registry) create(ctx context.Context, sub, value string) (*client.Response, error) {
	return r.call(ctx, http.MethodPut, sub, url.Values{"prevExist": {"false"}}, url.Values{"value": {value}}, false)
}

// get reads one key below the token.
func (r *registry) get(ctx context.Context, sub string) (*client.Response, error) {
	return r.call(ctx, http.MethodGet, sub, nil, nil, false)
}

// deleteIfIndex removes sub if it is still the node created at index.
func (r *registry) deleteIfIndex(ctx context.Context, sub string, index uint64) error {
	_, err := r.call(ctx, http.MethodDelete, sub, url.Values{"prevIndex": {strconv.FormatUint(index, 10)}}, nil, false)
	return err
}

// waitChange long-polls the token directory for the first change after
// index. It returns nil when something may have changed (an event, or the
// service's history no longer reaching back to index: read again) and
// errPollEnded when the poll ended without one.
func (r *registry) waitChange(ctx context.Context, index uint64, limit time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	q := url.Values{"wait": {"true"}, "waitIndex": {strconv.FormatUint(index+1, 10)}, "recursive": {"true"}}
	resp, err := r.call(pctx, http.MethodGet, "", q, nil, true)
	if ctx.Err() == nil && pctx.Err() != nil {
		return errPollEnded
	}
	var e *client.Error
	if errors.As(err, &e) && e.Code == client.CodeEventIndexCleared {
		return nil
	}
	if err != nil {
		return err
	}
	if resp.Action == "get" {
		// A server that ignores wait=true would make this a busy loop.
		return fmt.Errorf("%w: %s does not support wait=true", ErrBadEndpoint, r.url.Redacted())
	}
	return nil
}
