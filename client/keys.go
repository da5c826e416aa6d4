package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// keysPrefix is where the v2 key space lives on every member.
const keysPrefix = "/v2/keys"

// Node is a key or a directory as the v2 API describes it.
type Node struct {
	// Key is the full path, e.g. "/a/b"; empty for the root.
	Key string `json:"key,omitempty"`
	Dir bool   `json:"dir,omitempty"`
	// Value is empty for directories.
	Value string `json:"value,omitempty"`
	// Nodes are a directory's children (and theirs, for a recursive get).
	Nodes         []*Node `json:"nodes,omitempty"`
	CreatedIndex  uint64  `json:"createdIndex,omitempty"`
	ModifiedIndex uint64  `json:"modifiedIndex,omitempty"`
	// Expiration and TTL (seconds left, rounded up) are set only for nodes
	// with a time to live.
	Expiration *time.Time `json:"expiration,omitempty"`
	TTL        int64      `json:"ttl,omitempty"`
}

// TTLDuration is TTL as a time.Duration.
func (n *Node) TTLDuration() time.Duration { return time.Duration(n.TTL) * time.Second }

// Response is the result of a key operation or a watch event.
type Response struct {
	// Action is what happened: get, set, create, update, delete,
	// compareAndSwap, compareAndDelete or expire.
	Action   string `json:"action"`
	Node     *Node  `json:"node"`
	PrevNode *Node  `json:"prevNode,omitempty"`

	// From the response headers. Index (X-Etcd-Index) is the store's index
	// when the server answered; for a watch it can be below Node's
	// ModifiedIndex (the header is written when the watch starts).
	Index     uint64 `json:"-"`
	RaftIndex uint64 `json:"-"`
	RaftTerm  uint64 `json:"-"`
	ClusterID string `json:"-"`
}

// PrevExistType is the tri-state prevExist condition of a Set.
type PrevExistType string

const (
	// PrevIgnore does not care whether the key exists.
	PrevIgnore PrevExistType = ""
	// PrevExist requires the key to exist (an update).
	PrevExist PrevExistType = "true"
	// PrevNoExist requires the key not to exist (a create).
	PrevNoExist PrevExistType = "false"
)

// GetOptions modify Get.
type GetOptions struct {
	// Recursive returns a directory's whole subtree, not only its children.
	Recursive bool
	// Sorted orders every directory's children by key.
	Sorted bool
	// Quorum makes the read linearizable: it reflects every write
	// acknowledged before it started.
	Quorum bool
}

// SetOptions modify Set. The zero value is an unconditional set.
type SetOptions struct {
	// TTL, if at least a second, makes the node expire after it.
	TTL time.Duration
	// Dir creates a directory instead of a key; value must be empty.
	Dir bool
	// PrevValue, PrevIndex and PrevExist are conditions the current node
	// must meet (compare-and-swap); PrevIndex 0 and PrevValue "" mean none.
	PrevValue string
	PrevIndex uint64
	PrevExist PrevExistType
	// Refresh resets the TTL of an existing key without changing its value
	// or notifying watchers; value must be empty and TTL set.
	Refresh bool
	// NoValueOnSuccess asks the server to leave the node out of a
	// successful answer (saves bandwidth for large values).
	NoValueOnSuccess bool
}

// CreateInOrderOptions modify CreateInOrder.
type CreateInOrderOptions struct {
	TTL time.Duration
}

// DeleteOptions modify Delete.
type DeleteOptions struct {
	// Recursive deletes a directory and everything in it.
	Recursive bool
	// Dir allows deleting an empty directory.
	Dir bool
	// PrevValue and PrevIndex are conditions (compare-and-delete).
	PrevValue string
	PrevIndex uint64
}

// KeysAPI is the key-space part of the client, for callers that want to
// substitute a fake. *Client implements it.
type KeysAPI interface {
	Get(ctx context.Context, key string, opts GetOptions) (*Response, error)
	Set(ctx context.Context, key, value string, opts SetOptions) (*Response, error)
	Create(ctx context.Context, key, value string) (*Response, error)
	CreateInOrder(ctx context.Context, dir, value string, opts CreateInOrderOptions) (*Response, error)
	Update(ctx context.Context, key, value string) (*Response, error)
	Delete(ctx context.Context, key string, opts DeleteOptions) (*Response, error)
	Watcher(key string, opts WatcherOptions) *Watcher
}

var _ KeysAPI = (*Client)(nil)

// keyPath is the request path for key, relative to an endpoint. The v2 API
// treats "a", "/a" and "//a" alike; a trailing slash is kept (see
// canonicalPath).
func keyPath(key string) string {
	if key != "" && key[0] != '/' {
		key = "/" + key
	}
	return keysPrefix + key
}

// Get reads key. For a directory, Node.Nodes holds its children.
func (c *Client) Get(ctx context.Context, key string, opts GetOptions) (*Response, error) {
	q := url.Values{}
	q.Set("recursive", strconv.FormatBool(opts.Recursive))
	q.Set("sorted", strconv.FormatBool(opts.Sorted))
	q.Set("quorum", strconv.FormatBool(opts.Quorum))
	return c.keysCall(ctx, &request{method: http.MethodGet, path: keyPath(key), query: q})
}

// Set writes value at key, creating parent directories as needed, subject
// to the conditions in opts.
func (c *Client) Set(ctx context.Context, key, value string, opts SetOptions) (*Response, error) {
	q := url.Values{}
	if opts.PrevExist != PrevIgnore {
		q.Set("prevExist", string(opts.PrevExist))
	}
	if opts.PrevValue != "" {
		q.Set("prevValue", opts.PrevValue)
	}
	if opts.PrevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(opts.PrevIndex, 10))
	}
	if opts.Dir {
		q.Set("dir", "true")
	}
	if opts.Refresh {
		q.Set("refresh", "true")
	}
	if opts.NoValueOnSuccess {
		q.Set("noValueOnSuccess", "true")
	}
	form := url.Values{}
	// A directory or a refresh carries no value; the server rejects one.
	if value != "" || !(opts.Dir || opts.Refresh) {
		form.Set("value", value)
	}
	if secs := ttlSeconds(opts.TTL); secs > 0 {
		form.Set("ttl", strconv.FormatInt(secs, 10))
	}
	return c.keysCall(ctx, &request{method: http.MethodPut, path: keyPath(key), query: q, form: form})
}

// ttlSeconds rounds a TTL down to whole seconds, the API's unit.
func ttlSeconds(d time.Duration) int64 { return int64(d / time.Second) }

// Create writes value at key only if key does not exist yet (error
// CodeNodeExist otherwise).
func (c *Client) Create(ctx context.Context, key, value string) (*Response, error) {
	return c.Set(ctx, key, value, SetOptions{PrevExist: PrevNoExist})
}

// Update writes value at key only if key exists (error CodeKeyNotFound
// otherwise).
func (c *Client) Update(ctx context.Context, key, value string) (*Response, error) {
	return c.Set(ctx, key, value, SetOptions{PrevExist: PrevExist})
}

// CreateInOrder creates a key with a unique, increasing name under dir
// (POST), for queues. Node.Key in the answer is the new key.
func (c *Client) CreateInOrder(ctx context.Context, dir, value string, opts CreateInOrderOptions) (*Response, error) {
	form := url.Values{}
	form.Set("value", value)
	if secs := ttlSeconds(opts.TTL); secs > 0 {
		form.Set("ttl", strconv.FormatInt(secs, 10))
	}
	return c.keysCall(ctx, &request{method: http.MethodPost, path: keyPath(dir), form: form})
}

// Delete removes key subject to the conditions in opts. PrevNode in the
// answer is what was deleted.
func (c *Client) Delete(ctx context.Context, key string, opts DeleteOptions) (*Response, error) {
	q := url.Values{}
	if opts.PrevValue != "" {
		q.Set("prevValue", opts.PrevValue)
	}
	if opts.PrevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(opts.PrevIndex, 10))
	}
	if opts.Dir {
		q.Set("dir", "true")
	}
	if opts.Recursive {
		q.Set("recursive", "true")
	}
	return c.keysCall(ctx, &request{method: http.MethodDelete, path: keyPath(key), query: q})
}

// keysCall sends r and decodes the answer.
func (c *Client) keysCall(ctx context.Context, r *request) (*Response, error) {
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	body, err := res.readAll()
	if err != nil {
		return nil, err
	}
	resp, err := decodeResponse(res.status, res.header, body)
	if errors.Is(err, errEmptyBody) {
		return nil, &UnexpectedResponseError{StatusCode: res.status}
	}
	return resp, err
}

// errEmptyBody is a 200 with nothing in it: a long poll the server ended
// without an event.
var errEmptyBody = errors.New("client: empty response body")

// decodeResponse turns an answer into a Response or an error.
func decodeResponse(status int, h http.Header, body []byte) (*Response, error) {
	switch status {
	case http.StatusOK, http.StatusCreated:
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, errEmptyBody
		}
		var resp Response
		if err := json.Unmarshal(body, &resp); err != nil || resp.Node == nil {
			// A long poll answers 200 before it knows the outcome; a
			// server that then fails it may send a v2 error object.
			if e, ok := decodeError(body); ok {
				return nil, e
			}
			return nil, &UnexpectedResponseError{StatusCode: status, Body: string(body)}
		}
		setMeta(&resp, h)
		return &resp, nil
	default:
		if e, ok := decodeError(body); ok {
			return nil, e
		}
		return nil, &UnexpectedResponseError{StatusCode: status, Body: string(body)}
	}
}

// setMeta copies the index and cluster headers into resp.
func setMeta(resp *Response, h http.Header) {
	resp.Index = headerUint(h, "X-Etcd-Index")
	resp.RaftIndex = headerUint(h, "X-Raft-Index")
	resp.RaftTerm = headerUint(h, "X-Raft-Term")
	resp.ClusterID = h.Get("X-Etcd-Cluster-Id")
}

// decodeError decodes a v2 error body.
func decodeError(body []byte) (*Error, bool) {
	var e Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == 0 {
		return nil, false
	}
	return &e, true
}
