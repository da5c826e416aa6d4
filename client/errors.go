package client

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes of the v2 API, as etcd numbers them. A server error decodes
// into an *Error carrying one of these in Code.
const (
	CodeKeyNotFound       = 100
	CodeCompareFailed     = 101
	CodeNotFile           = 102
	CodeNotDir            = 104
	CodeNodeExist         = 105
	CodeRootReadOnly      = 107
	CodeDirNotEmpty       = 108
	CodeUnauthorized      = 110
	CodeValueRequired     = 200
	CodePrevValueRequired = 201
	CodeTTLNaN            = 202
	CodeIndexNaN          = 203
	CodeInvalidField      = 209
	CodeInvalidForm       = 210
	CodeRaftInternal      = 300
	CodeLeaderElect       = 301
	CodeWatcherCleared    = 400
	CodeEventIndexCleared = 401
)

// Error is an error the server reported in the v2 error body
// ({"errorCode":100,"message":"Key not found","cause":"/a","index":7}).
// Test for it with errors.As; compare Code, never the text.
type Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause"`
	// Index is the store's index when the server answered.
	Index uint64 `json:"index"`
}

// Error formats e as etcd's tools print it: "100: Key not found (/a) [7]".
func (e *Error) Error() string {
	return fmt.Sprintf("%d: %s (%s) [%d]", e.Code, e.Message, e.Cause, e.Index)
}

// ClusterError says that no endpoint could serve a request. Errors holds
// one error per endpoint tried, in the order they were tried; errors.Is and
// errors.As look through all of them (a *Error among them is the body of a
// 5xx answer).
type ClusterError struct {
	Errors []error
}

// Error keeps the wording etcd's client uses, which etcdctl users grep for.
func (ce *ClusterError) Error() string {
	var b strings.Builder
	b.WriteString("client: etcd cluster is unavailable or misconfigured")
	for i, err := range ce.Errors {
		fmt.Fprintf(&b, "; error #%d: %s\n", i, err)
	}
	return b.String()
}

// Detail lists the per-endpoint errors, one per line.
func (ce *ClusterError) Detail() string {
	var b strings.Builder
	for i, err := range ce.Errors {
		fmt.Fprintf(&b, "error #%d: %s\n", i, err)
	}
	return b.String()
}

// Unwrap exposes the per-endpoint errors to errors.Is and errors.As.
func (ce *ClusterError) Unwrap() []error { return ce.Errors }

// ErrNoEndpoints is returned by Sync when the cluster publishes no client
// URLs, and by New when given none.
var ErrNoEndpoints = errors.New("client: no endpoints available")

// ErrEmptyKey is returned for an empty watch key.
var ErrEmptyKey = errors.New("client: empty key")

// UnexpectedResponseError is an answer that is neither a v2 result nor a v2
// error body, e.g. a proxy's error page.
type UnexpectedResponseError struct {
	StatusCode int
	Body       string
}

func (e *UnexpectedResponseError) Error() string {
	body := e.Body
	if len(body) > 200 {
		body = body[:200] + "..."
	}
	return fmt.Sprintf("client: unexpected response (HTTP %d): %q", e.StatusCode, body)
}

// endpointError is one endpoint's failure inside a ClusterError. Its text
// is etcd's; err, when set, is the cause (a decoded *Error, a context error)
// so that errors.As still finds it.
type endpointError struct {
	msg string
	err error
}

func (e *endpointError) Error() string { return e.msg }
func (e *endpointError) Unwrap() error { return e.err }
