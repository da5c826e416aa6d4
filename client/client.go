package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Client. Only Endpoints is required.
type Config struct {
	// Endpoints are the members' client URLs, e.g. "http://10.1.1.7:4001".
	// An endpoint without a scheme ("10.1.1.7:4001") means http://. A path
	// in an endpoint is kept as a prefix of every request path.
	Endpoints []string

	// Timeout bounds each non-watch request to one endpoint; when it passes,
	// the client tries the next endpoint. Zero means no per-request bound
	// (the caller's context still applies). Watches are never bounded by it.
	Timeout time.Duration

	// TLS is used for https endpoints. Ignored when HTTPClient is set.
	TLS *tls.Config

	// Username and Password, when Username is set, go with every request as
	// HTTP basic authentication (the v2 auth scheme).
	Username string
	Password string

	// HTTPClient sends the requests; nil builds one from TLS. Its Timeout
	// must be zero or watches will be cut off.
	HTTPClient *http.Client

	// Trace, if set, is called before each attempt to send a request to an
	// endpoint (so a failover shows as several calls). It runs on the
	// caller's goroutine and must not keep req.
	Trace func(req TraceRequest)
}

// TraceRequest describes one HTTP request the client is about to send.
type TraceRequest struct {
	Method string
	URL    string
	// Body is the request body (form-encoded, or JSON for the members
	// API); HasBody says whether the request has a body at all (a PUT with
	// no fields sends an empty one, a GET none).
	Body    string
	HasBody bool
}

// Client talks to a cluster over the v2 HTTP API. It is safe for concurrent
// use. Requests go to one endpoint (the last one that worked); on a
// connection error, a timeout or a 5xx answer the next endpoint is tried.
type Client struct {
	hc       *http.Client
	timeout  time.Duration
	username string
	password string
	trace    func(TraceRequest)

	mu sync.Mutex // guards endpoints and pinned
	// endpoints is never empty.
	endpoints []url.URL
	// pinned is the index of the endpoint to try first.
	// Invariant: 0 <= pinned < len(endpoints).
	pinned int
}

// New returns a client for cfg. It does not contact the cluster.
func New(cfg Config) (*Client, error) {
	eps, err := parseEndpoints(cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.TLS != nil {
			tr.TLSClientConfig = cfg.TLS.Clone()
		}
		hc = &http.Client{Transport: tr}
	}
	return &Client{
		hc:        hc,
		timeout:   cfg.Timeout,
		username:  cfg.Username,
		password:  cfg.Password,
		trace:     cfg.Trace,
		endpoints: eps,
	}, nil
}

// parseEndpoints turns endpoint strings into URLs, adding http:// where no
// scheme is given, as etcd 0.4's tools did for "--peers 10.1.1.7:4001".
func parseEndpoints(in []string) ([]url.URL, error) {
	var out []url.URL
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "://") {
			s = "http://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("client: endpoint %q: %w", s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("client: endpoint %q: scheme must be http or https", s)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("client: endpoint %q: no host", s)
		}
		u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
		out = append(out, *u)
	}
	if len(out) == 0 {
		return nil, ErrNoEndpoints
	}
	return out, nil
}

// Endpoints returns the endpoints in the order they are tried.
func (c *Client) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.endpoints))
	for i := range c.endpoints {
		out[i] = c.endpoints[(c.pinned+i)%len(c.endpoints)].String()
	}
	return out
}

// SetEndpoints replaces the endpoints. The one that last worked stays
// first if it is among them.
func (c *Client) SetEndpoints(eps []string) error {
	parsed, err := parseEndpoints(eps)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.endpoints[c.pinned]
	c.endpoints, c.pinned = parsed, 0
	for i, u := range parsed {
		if u.String() == cur.String() {
			c.pinned = i
		}
	}
	return nil
}

// Sync replaces the endpoints with the client URLs the cluster publishes in
// /v2/members, so that later requests can fail over to members the caller
// did not list.
func (c *Client) Sync(ctx context.Context) error {
	ms, err := c.Members(ctx)
	if err != nil {
		return err
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURLs...)
	}
	if len(eps) == 0 {
		return ErrNoEndpoints
	}
	return c.SetEndpoints(eps)
}

// request is one v2 API call, independent of the endpoint it goes to.
type request struct {
	method string
	// path is relative to the endpoint, e.g. "/v2/keys/a/b".
	path  string
	query url.Values
	// form is the body; nil means no body (unless jsonBody is set).
	form url.Values
	// jsonBody, if not nil, is a JSON body (the members API).
	jsonBody []byte
	// wait marks a long poll: no per-request timeout applies.
	wait bool
}

// result is a response whose headers have arrived. body is open: the
// caller reads and closes it.
type result struct {
	status int
	header http.Header
	body   io.ReadCloser
	// cancel releases the per-request timeout, if any; call after reading.
	cancel context.CancelFunc
}

// readAll reads and closes the body.
func (r *result) readAll() ([]byte, error) {
	defer r.cancel()
	defer r.body.Close()
	return io.ReadAll(r.body)
}

// do sends r to the endpoints in turn, starting with the pinned one, and
// returns the first answer that is not a 5xx. The endpoint that answered
// becomes the pinned one. If every endpoint fails, the error is a
// *ClusterError; if ctx ends first, ctx's error.
func (c *Client) do(ctx context.Context, r *request) (*result, error) {
	c.mu.Lock()
	eps := slices.Clone(c.endpoints)
	first := c.pinned
	c.mu.Unlock()

	var errs []error
	for i := range eps {
		k := (first + i) % len(eps)
		res, err := c.send(ctx, eps[k], r)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		if res.status/100 == 5 {
			body, _ := res.readAll()
			errs = append(errs, serverFailure(eps[k], res.status, body))
			continue
		}
		c.pin(eps[k])
		return res, nil
	}
	return nil, &ClusterError{Errors: errs}
}

// pin makes ep the first endpoint to try, if it is still configured.
func (c *Client) pin(ep url.URL) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, u := range c.endpoints {
		if u == ep {
			c.pinned = i
			return
		}
	}
}

// serverFailure describes a 5xx answer in etcd's client's words, keeping a
// decodable v2 error body reachable through errors.As.
func serverFailure(ep url.URL, status int, body []byte) error {
	var cause error
	if e, ok := decodeError(body); ok {
		cause = e
	}
	msg := fmt.Sprintf("client: etcd member %s returns server error [%s]", ep.String(), http.StatusText(status))
	if status == http.StatusInternalServerError || status == http.StatusServiceUnavailable {
		msg = fmt.Sprintf("client: etcd member %s has no leader", ep.String())
	}
	return &endpointError{msg: msg, err: cause}
}

// send sends r to one endpoint and waits for the response headers.
func (c *Client) send(ctx context.Context, ep url.URL, r *request) (*result, error) {
	u := ep
	u.Path = canonicalPath(ep.Path + r.path)
	u.RawPath = ""
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	var body, contentType string
	hasBody := true
	switch {
	case r.form != nil:
		body, contentType = r.form.Encode(), "application/x-www-form-urlencoded"
	case r.jsonBody != nil:
		body, contentType = string(r.jsonBody), "application/json"
	default:
		hasBody = false
	}
	if c.trace != nil {
		c.trace(TraceRequest{Method: r.method, URL: u.String(), Body: body, HasBody: hasBody})
	}

	rctx, cancel := ctx, context.CancelFunc(func() {})
	if c.timeout > 0 && !r.wait {
		rctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequestWithContext(rctx, r.method, u.String(), rd)
	if err != nil {
		cancel()
		return nil, err
	}
	if hasBody {
		req.Header.Set("Content-Type", contentType)
	}
	if c.username != "" {
		req.SetBasicAuth(c.username, c.password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		timedOut := ctx.Err() == nil && rctx.Err() != nil
		cancel()
		if timedOut {
			return nil, &endpointError{
				msg: fmt.Sprintf("client: endpoint %s exceeded header timeout", ep.String()),
				err: context.DeadlineExceeded,
			}
		}
		// The URL is in the endpoint's position in a ClusterError already;
		// etcd's client shows the bare network error, and so do we.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	return &result{status: resp.StatusCode, header: resp.Header, body: resp.Body, cancel: cancel}, nil
}

// canonicalPath cleans p ("//a/../b" → "/b") but keeps a trailing slash,
// which the v2 API gives meaning to for the root ("/v2/keys/").
func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// headerUint reads a numeric header; a missing or malformed one is 0.
func headerUint(h http.Header, name string) uint64 {
	n, err := strconv.ParseUint(h.Get(name), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
