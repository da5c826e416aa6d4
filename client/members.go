package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Member is a cluster member as /v2/members describes it.
type Member struct {
	// ID is the member's ID in hex, e.g. "f56013d42fb0796b".
	ID string `json:"id"`
	// Name is empty for a member that was added but has not started.
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// Members lists the cluster's members (GET /v2/members).
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	if err := c.getJSON(ctx, "/v2/members", &out); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// Leader returns the member that is the Raft leader (GET
// /v2/members/leader). A server without that route (etcd 0.4 had only
// /v2/leader, which names the leader's peer URL) is asked the old way and
// the answer matched against the member list.
func (c *Client) Leader(ctx context.Context) (*Member, error) {
	var m Member
	err := c.getJSON(ctx, "/v2/members/leader", &m)
	if err == nil {
		return &m, nil
	}
	var ue *UnexpectedResponseError
	if !errors.As(err, &ue) || ue.StatusCode != http.StatusNotFound {
		return nil, err
	}
	res, err2 := c.do(ctx, &request{method: http.MethodGet, path: "/v2/leader"})
	if err2 != nil {
		return nil, err
	}
	body, err2 := res.readAll()
	if err2 != nil || res.status != http.StatusOK {
		return nil, err
	}
	peer := strings.TrimSpace(string(body))
	ms, err2 := c.Members(ctx)
	if err2 != nil {
		return nil, err2
	}
	for i := range ms {
		for _, u := range ms[i].PeerURLs {
			if u == peer {
				return &ms[i], nil
			}
		}
	}
	return nil, fmt.Errorf("client: leader %q is not a member", peer)
}

// MembersError is a failure the members API reports ({"message": ...}),
// e.g. adding a peer URL that a member already has (StatusCode 409).
type MembersError struct {
	StatusCode int
	Message    string
}

func (e *MembersError) Error() string { return e.Message }

// AddMember announces a new member by its peer URL (POST /v2/members). The
// answer has the new member's ID and no name: the member is "unstarted"
// until it starts and joins.
func (c *Client) AddMember(ctx context.Context, peerURL string) (*Member, error) {
	body, err := json.Marshal(struct {
		PeerURLs []string `json:"peerURLs"`
	}{[]string{peerURL}})
	if err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &request{method: http.MethodPost, path: "/v2/members", jsonBody: body})
	if err != nil {
		return nil, err
	}
	b, err := res.readAll()
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusCreated {
		return nil, membersFailure(res.status, b)
	}
	var m Member
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &UnexpectedResponseError{StatusCode: res.status, Body: string(b)}
	}
	return &m, nil
}

// RemoveMember removes the member with the given hex ID (DELETE
// /v2/members/ID).
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	res, err := c.do(ctx, &request{method: http.MethodDelete, path: "/v2/members/" + url.PathEscape(id)})
	if err != nil {
		return err
	}
	b, err := res.readAll()
	if err != nil {
		return err
	}
	if res.status != http.StatusNoContent {
		return membersFailure(res.status, b)
	}
	return nil
}

// membersFailure decodes a members API error body.
func membersFailure(status int, body []byte) error {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return &MembersError{StatusCode: status, Message: m.Message}
	}
	if e, ok := decodeError(body); ok {
		return e
	}
	return &UnexpectedResponseError{StatusCode: status, Body: string(body)}
}

// Health asks the endpoints in turn whether their member is healthy (GET
// /health) and returns the first answer.
func (c *Client) Health(ctx context.Context) (bool, error) {
	res, err := c.do(ctx, &request{method: http.MethodGet, path: "/health"})
	if err != nil {
		return false, err
	}
	body, err := res.readAll()
	if err != nil {
		return false, err
	}
	return parseHealth(res.status, body)
}

// HealthAt asks one member, at clientURL, whether it is healthy, without
// failing over. A transport error is returned as the HTTP client gives it
// (a *url.Error naming the URL).
func (c *Client) HealthAt(ctx context.Context, clientURL string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(clientURL, "/")+"/health", nil)
	if err != nil {
		return false, err
	}
	if c.username != "" {
		req.SetBasicAuth(c.username, c.password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	return parseHealth(resp.StatusCode, body)
}

// parseHealth accepts both {"health":"true"} (etcd 2.1+) and
// {"health":true} (etcd 2.0).
func parseHealth(status int, body []byte) (bool, error) {
	var s struct {
		Health string `json:"health"`
	}
	if err := json.Unmarshal(body, &s); err == nil {
		return s.Health == "true", nil
	}
	var b struct {
		Health bool `json:"health"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return false, &UnexpectedResponseError{StatusCode: status, Body: string(body)}
	}
	return b.Health, nil
}

// getJSON GETs p (relative to an endpoint) and decodes a 200 answer into v.
func (c *Client) getJSON(ctx context.Context, p string, v any) error {
	res, err := c.do(ctx, &request{method: http.MethodGet, path: p})
	if err != nil {
		return err
	}
	body, err := res.readAll()
	if err != nil {
		return err
	}
	if res.status != http.StatusOK {
		if e, ok := decodeError(body); ok {
			return e
		}
		return &UnexpectedResponseError{StatusCode: res.status, Body: string(body)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &UnexpectedResponseError{StatusCode: res.status, Body: string(body)}
	}
	return nil
}
