package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Response is a v2 keys API answer as a test needs it.
type Response struct {
	// Err is set when no complete answer arrived (refused, timed out,
	// broken connection, undecodable body); the other fields are then zero.
	Err    error
	Status int
	// Code is the etcd error code of an error answer, 0 on success.
	Code    int
	Message string
	// Node is the answer's node (nil on errors): its value, whether the
	// key exists, and its modified index.
	Value         string
	ModifiedIndex uint64
	// EtcdIndex is the X-Etcd-Index header.
	EtcdIndex uint64
}

// OK says whether the request succeeded (2xx).
func (r Response) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

func (r Response) String() string {
	switch {
	case r.Err != nil:
		return "error: " + r.Err.Error()
	case r.Code != 0:
		return fmt.Sprintf("%d: %d %s", r.Status, r.Code, r.Message)
	}
	return fmt.Sprintf("%d: %q@%d", r.Status, r.Value, r.ModifiedIndex)
}

// Put sets key to value on member m; extra adds conditions such as
// prevValue or prevExist.
func (m *Member) Put(ctx context.Context, key, value string, extra url.Values) Response {
	form := url.Values{"value": {value}}
	for k, v := range extra {
		form[k] = v
	}
	return m.Do(ctx, http.MethodPut, key, form)
}

// Get reads key on member m, linearizably when quorum is set.
func (m *Member) Get(ctx context.Context, key string, quorum bool) Response {
	if quorum {
		key += "?quorum=true"
	}
	return m.Do(ctx, http.MethodGet, key, nil)
}

// Do sends a v2 keys request for key (a path, possibly with a query) to
// member m, with form as the body.
func (m *Member) Do(ctx context.Context, method, key string, form url.Values) Response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, m.URL+"/v2/keys"+key, body)
	if err != nil {
		return Response{Err: err}
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := m.c.Client.Do(req)
	if err != nil {
		return Response{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{Err: err}
	}
	var v struct {
		ErrorCode int    `json:"errorCode"`
		Message   string `json:"message"`
		Node      *struct {
			Value         string `json:"value"`
			ModifiedIndex uint64 `json:"modifiedIndex"`
		} `json:"node"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return Response{Err: fmt.Errorf("%s %s: %d, undecodable body %q: %w", method, key, resp.StatusCode, raw, err)}
	}
	r := Response{Status: resp.StatusCode, Code: v.ErrorCode, Message: v.Message}
	r.EtcdIndex, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	if v.Node != nil {
		r.Value, r.ModifiedIndex = v.Node.Value, v.Node.ModifiedIndex
	}
	return r
}
